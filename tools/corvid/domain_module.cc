// Built into corvid-domain.so: the libvirt-backed domain XML reader behind a C symbol.
#include "tools/corvid/domain_module.h"
#include "config/domain_xml.h"

extern "C" __attribute__((visibility("default"))) void corvid_load_domain_xml_file(
    const std::string& path, corvid::Result<corvid::config::DomainConfig>* out) {
  *out = corvid::config::load_domain_xml_file(path);
}
