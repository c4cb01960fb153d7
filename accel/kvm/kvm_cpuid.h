// The CPUID a KVM vCPU sees: what KVM_GET_SUPPORTED_CPUID offers, filtered to a stable model
// (no host-only features such as VMX, MONITOR or the PMU), with this vCPU's APIC ID and the VM's
// topology filled in.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace corvid::accel::kvm {

// Rewrites `entries` (as returned by KVM_GET_SUPPORTED_CPUID) for vCPU `index` of `vcpus`.
void filter_cpuid(std::vector<kvm_cpuid_entry2>& entries, int index, int vcpus);

}  // namespace corvid::accel::kvm
