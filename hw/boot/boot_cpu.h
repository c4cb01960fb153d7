// The CPU state loaders hand to the boot vCPU: a flat GDT and, for 64-bit entry, identity page
// tables for the low 4 GiB.
#pragma once

#include "accel/accelerator.h"
#include "hw/core/guest_memory.h"

namespace corvid::hw::boot {

// GDT selectors written at x86::kBootGdt. 0x10/0x18 are what the Linux 64-bit boot protocol
// names __BOOT_CS/__BOOT_DS (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol").
constexpr uint16_t kCode32Selector = 0x08;
constexpr uint16_t kCode64Selector = 0x10;
constexpr uint16_t kDataSelector = 0x18;

// 32-bit flat protected mode, paging off (PVH entry: xen/include/public/arch-x86/hvm/start_info.h).
Result<accel::BootState> protected_mode_entry(const GuestMemory& memory, uint64_t entry);

// 64-bit long mode with identity-mapped low 4 GiB (2 MiB pages) and interrupts off.
Result<accel::BootState> long_mode_entry(const GuestMemory& memory, uint64_t entry);

}  // namespace corvid::hw::boot
