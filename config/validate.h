// One validation of a VmConfig, whichever way it was filled (command line or domain XML).
#pragma once

#include <string>

#include "base/result.h"
#include "config/vm_config.h"

namespace corvid::config {

inline constexpr uint64_t kMinMemoryBytes = 2ull << 20;
inline constexpr uint64_t kMaxMemoryBytes = 1ull << 40;
inline constexpr int kMaxVcpus = 255;  // xAPIC IDs 0..254 (0xff is the broadcast ID)

// Checks sizes, the vCPU count, enumerated strings, the uuid form and that every file the VM
// needs exists with the access it needs. The first problem found is returned.
Result<> validate_vm_config(const VmConfig& config);

// A readable multi-line dump (one "key: value" per line) for golden tests and --dry-run output.
std::string dump_vm_config(const VmConfig& config);

std::string_view lifecycle_action_name(LifecycleAction action);

}  // namespace corvid::config
