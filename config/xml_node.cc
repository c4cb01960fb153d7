#include "config/xml_node.h"

#include <fmt/format.h>

namespace corvid::config {
namespace {

std::string to_string(const xmlChar* s) {
  return s ? reinterpret_cast<const char*>(s) : "";
}

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

std::string XmlNode::name() const {
  return to_string(node_->name);
}

std::string XmlNode::tag() const {
  std::string out = "<" + name();
  for (xmlAttr* a = node_->properties; a; a = a->next) {
    xmlChar* v = xmlNodeListGetString(node_->doc, a->children, 1);
    out += fmt::format(" {}='{}'", to_string(a->name), to_string(v));
    xmlFree(v);
  }
  return out + ">";
}

std::string XmlNode::text() const {
  xmlChar* c = xmlNodeGetContent(node_);
  std::string s = to_string(c);
  xmlFree(c);
  return trim(s);
}

std::optional<std::string> XmlNode::attr(const char* attr_name) {
  xmlChar* v = xmlGetProp(node_, reinterpret_cast<const xmlChar*>(attr_name));
  if (!v) return std::nullopt;
  used_attrs_.insert(attr_name);
  std::string s = to_string(v);
  xmlFree(v);
  return s;
}

std::vector<XmlNode> XmlNode::all_children() const {
  std::vector<XmlNode> out;
  for (xmlNode* c = node_->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE) out.emplace_back(c);
  return out;
}

std::vector<XmlNode> XmlNode::children(const char* child_name) {
  std::vector<XmlNode> out;
  for (xmlNode* c = node_->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE || to_string(c->name) != child_name) continue;
    used_children_.insert(c);
    out.emplace_back(c);
  }
  return out;
}

std::optional<XmlNode> XmlNode::child(const char* child_name) {
  auto all = children(child_name);
  if (all.empty()) return std::nullopt;
  return all.front();
}

void XmlNode::report_rest(const std::string& where, std::vector<std::string>& warnings,
                          const std::string& why, bool include_children) const {
  for (xmlAttr* a = node_->properties; a; a = a->next) {
    std::string n = to_string(a->name);
    if (used_attrs_.count(n)) continue;
    xmlChar* v = xmlNodeListGetString(node_->doc, a->children, 1);
    warnings.push_back(fmt::format("ignoring {}='{}' on {}: {}", n, to_string(v), where, why));
    xmlFree(v);
  }
  for (xmlNode* c = node_->children; include_children && c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE || used_children_.count(c)) continue;
    warnings.push_back(fmt::format("ignoring {} in {}: {}", XmlNode(c).tag(), where, why));
  }
}

}  // namespace corvid::config
