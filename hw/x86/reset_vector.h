// The reset vector (0xffff0, CS:IP = f000:fff0): corvid has no BIOS, but kernels jump there to
// reboot — Linux's machine_real_restart() does when its ACPI/EFI attempts return, which on a
// hardware-reduced ACPI machine without EFI is the path it takes (reboot.c: such machines default
// to EFI reboot, then fall back to the BIOS). A real BIOS would reset the board; this 13-byte stub
// does the same through the PCI reset control register 0xcf9 and the i8042's reset line.
#pragma once

#include "hw/core/guest_memory.h"

namespace corvid::hw::x86 {

constexpr uint64_t kResetVector = 0xffff0;

Result<> write_reset_vector(const GuestMemory& memory);

}  // namespace corvid::hw::x86
