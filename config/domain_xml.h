// Reading a libvirt domain XML into a VmConfig. libvirt's own parser (its in-process test
// driver, no daemon) validates the XML against the schema and normalises it; corvid then maps the
// normalised XML and names, one warning line each, every element or attribute it does not honour.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/vm_config.h"

namespace corvid::config {

struct DomainConfig {
  VmConfig config;
  std::vector<std::string> warnings;  // "ignoring <interface type='network'>: networking is ..."
  bool uuid_generated = false;        // the XML had no <uuid>; libvirt made one up
};

// Reads path and maps it. A missing or unreadable file is one clear line; XML that libvirt
// refuses comes back with libvirt's own message.
Result<DomainConfig> load_domain_xml_file(const std::string& path);
Result<DomainConfig> load_domain_xml(std::string_view xml);

// The libvirt step alone: schema validation and normalisation through test:///default.
Result<std::string> normalize_domain_xml(std::string_view xml);
// The mapping step alone, over XML libvirt has already normalised.
Result<DomainConfig> map_domain_xml(std::string_view normalized_xml);

}  // namespace corvid::config
