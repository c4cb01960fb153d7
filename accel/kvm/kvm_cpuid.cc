#include "accel/kvm/kvm_cpuid.h"

#include <algorithm>

namespace corvid::accel::kvm {
namespace {

constexpr uint32_t bit(int n) {
  return 1u << n;
}

// CPUID.1:ECX features that describe the host rather than a portable CPU model (Intel SDM vol. 2A,
// table 3-10): debug store, MONITOR/MWAIT (KVM does not let the guest sleep with it), VMX/SMX
// (no nested virtualization for guests), SpeedStep, TM2, xTPR, PDCM, DCA.
constexpr uint32_t kLeaf1EcxDrop =
    bit(2) | bit(3) | bit(4) | bit(5) | bit(6) | bit(7) | bit(8) | bit(14) | bit(15) | bit(18);
constexpr uint32_t kLeaf1EcxHypervisor = bit(31);
// CPUID.1:EDX: debug store, ACPI thermal control, TM, PBE.
constexpr uint32_t kLeaf1EdxDrop = bit(21) | bit(22) | bit(29) | bit(31);
constexpr uint32_t kLeaf1EdxHtt = bit(28);
// CPUID.7.0:EBX: HLE and RTM (TSX, disabled on most current hosts by microcode; advertising it
// makes a guest depend on the host), and CPUID.7.0:EDX hybrid/arch-capability bits left alone.
constexpr uint32_t kLeaf7EbxDrop = bit(4) | bit(11);

int bits_for(int n) {
  int b = 0;
  while ((1 << b) < n) ++b;
  return b;
}

}  // namespace

void filter_cpuid(std::vector<kvm_cpuid_entry2>& entries, int index, int vcpus) {
  const uint32_t apic_id = static_cast<uint32_t>(index);
  const int core_bits = bits_for(vcpus);
  // Thermal/power (6), the PMU (0xa) and the cache-allocation leaves (0xf, 0x10) describe host
  // hardware a VM cannot honour.
  std::erase_if(entries, [](const kvm_cpuid_entry2& e) {
    return e.function == 0x6 || e.function == 0xa || e.function == 0xf || e.function == 0x10 ||
           e.function == 0x1f;
  });
  for (auto& e : entries) {
    switch (e.function) {
      case 0x1:
        e.ecx = (e.ecx & ~kLeaf1EcxDrop) | kLeaf1EcxHypervisor;
        e.edx &= ~(kLeaf1EdxDrop | kLeaf1EdxHtt);
        if (vcpus > 1) e.edx |= kLeaf1EdxHtt;
        // EBX[31:24] initial APIC ID, [23:16] logical processors per package, [15:8] CLFLUSH size.
        e.ebx = (apic_id << 24) | (static_cast<uint32_t>(vcpus) << 16) | (e.ebx & 0xffff);
        break;
      case 0x4:
        // EAX[31:26]: cores per package - 1; [25:14]: threads sharing this cache - 1.
        if (e.eax & 0x1f) {
          e.eax = (e.eax & 0x3fff) | (static_cast<uint32_t>(vcpus - 1) << 26);
        }
        break;
      case 0x7:
        if (e.index == 0) e.ebx &= ~kLeaf7EbxDrop;
        break;
      case 0xb:
        // Extended topology (SDM vol. 2A, CPUID leaf 0Bh): level 0 = SMT (one thread per core),
        // level 1 = cores; EDX is the x2APIC ID at every level.
        e.edx = apic_id;
        if (e.index == 0) {
          e.eax = 0;
          e.ebx = 1;
          e.ecx = 0 | (1u << 8);
        } else if (e.index == 1) {
          e.eax = static_cast<uint32_t>(core_bits);
          e.ebx = static_cast<uint32_t>(vcpus);
          e.ecx = 1 | (2u << 8);
        } else {
          e.eax = e.ebx = 0;
          e.ecx = e.index;
        }
        break;
      case 0x80000008:
        // ECX[7:0]: cores per package - 1; [15:12]: APIC ID bits for cores.
        e.ecx = static_cast<uint32_t>(vcpus - 1) | (static_cast<uint32_t>(core_bits) << 12);
        break;
      default:
        break;
    }
  }
}

}  // namespace corvid::accel::kvm
