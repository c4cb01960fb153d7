// A libxml2 element seen through what corvid consumed of it, so whatever is left over is named
// in a warning instead of being dropped silently. Internal to config/.
#pragma once

#include <libxml/tree.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace corvid::config {

class XmlNode {
 public:
  explicit XmlNode(xmlNode* node) : node_(node) {}

  std::string name() const;
  // "<interface type='network'>": the start tag with every attribute, as users wrote it.
  std::string tag() const;
  std::string text() const;  // trimmed text content

  // Attribute value, marking it honoured.
  std::optional<std::string> attr(const char* name);
  void accept_attr(const char* name) { used_attrs_.insert(name); }
  // Child elements with this name, marking them honoured (the caller reports their own rest).
  std::vector<XmlNode> children(const char* name);
  std::optional<XmlNode> child(const char* name);
  std::vector<XmlNode> all_children() const;

  // One warning per attribute and child element not consumed: "ignoring <x> in <where>: why".
  void report_rest(const std::string& where, std::vector<std::string>& warnings,
                   const std::string& why = "not supported by corvid",
                   bool include_children = true) const;

  xmlNode* raw() const { return node_; }

 private:
  xmlNode* node_;
  std::set<std::string> used_attrs_;
  std::set<const xmlNode*> used_children_;
};

}  // namespace corvid::config
