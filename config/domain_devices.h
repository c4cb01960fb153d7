// The <devices> part of the domain XML mapping. Internal to config/ (see domain_xml.h).
#pragma once

#include "base/result.h"
#include "config/domain_xml.h"
#include "config/xml_node.h"

namespace corvid::config {

Result<> map_devices(XmlNode devices, DomainConfig& out);

}  // namespace corvid::config
