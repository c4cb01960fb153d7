// Reading a libvirt domain XML needs libvirt, libxml2 and the ~50 libraries behind them. They are
// kept out of the corvid process (they cost milliseconds and megabytes at every launch: see
// docs/benchmarks-launch.md) and loaded only for --domain, from the corvid-domain.so module that
// sits beside the executable.
#pragma once

#include <string>

#include "base/result.h"
#include "config/domain_xml.h"

namespace corvid::tools {

// The module's one entry point (extern "C" so dlsym finds it by this name).
inline constexpr const char* kDomainModuleSymbol = "corvid_load_domain_xml_file";
using LoadDomainFn = void (*)(const std::string& path, Result<config::DomainConfig>* out);

// dlopen()s the module and calls it.
Result<config::DomainConfig> load_domain(const std::string& path);

}  // namespace corvid::tools
