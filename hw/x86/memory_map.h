// corvid's x86 guest-physical memory map. One place for every fixed address, so the loaders, the
// e820/PVH memory map, the MP table and the FDT agree.
//
//   0x0000_0500  boot GDT              0x0000_7000  zero page (boot_params) / hvm_start_info
//   0x0000_9000  identity page tables  0x0002_0000  kernel command line (64 KiB max)
//   0x0003_0000  setup_data (DTB)      0x0009_fc00  EBDA: MP floating pointer
//   0x000e_0000  ACPI tables (RSDP first) 0x000f_0000  MP configuration table
//   0x0010_0000  kernel image          ...          RAM up to min(size, 3 GiB)
//   0xc000_0000  PCI 32-bit BAR window 0xd000_0000  virtio-mmio devices (4 KiB stride)
//   0xfea0_0000  ACPI registers (GED, sleep, reset)
//   0xfec0_0000  IOAPIC                0xfee0_0000  LAPIC
//   0xfffb_c000  KVM identity map + TSS (reserved)  4 GiB...  RAM above the hole
#pragma once

#include <cstdint>
#include <vector>

#include "fdt/machine_description.h"

namespace corvid::hw::x86 {

constexpr uint64_t kBootGdt = 0x500;
constexpr uint64_t kZeroPage = 0x7000;
constexpr uint64_t kStartInfo = 0x7000;   // PVH: hvm_start_info, then modlist and memmap
constexpr uint64_t kPageTables = 0x9000;  // PML4, PDPT, 4 PDs: 6 pages up to 0xf000
constexpr uint64_t kBootStack = 0x8ff0;
constexpr uint64_t kCmdline = 0x20000;
constexpr uint64_t kCmdlineMax = 0x10000;
constexpr uint64_t kSetupData = 0x30000;
constexpr uint64_t kSetupDataMax = 0x60000;
constexpr uint64_t kEbdaStart = 0x9fc00;
constexpr uint64_t kLowMemEnd = 0xa0000;
// The BIOS area 0xe0000-0xfffff, reserved in e820: where guests without EFI scan for the RSDP
// (ACPI 6.5, 5.2.5.1) and the MP table.
constexpr uint64_t kBiosAreaStart = 0xe0000;
constexpr uint64_t kAcpiTables = 0xe0000;
constexpr uint64_t kAcpiTablesEnd = 0xf0000;  // the MP configuration table follows
// The hardware-reduced ACPI register page (hw/acpi/acpi_registers.h) and the GED's interrupt:
// ISA IRQ 9 (the SCI's traditional line), made level/active-high by an interrupt source override.
constexpr uint64_t kAcpiRegisters = 0xfea00000;
constexpr uint32_t kAcpiGedGsi = 9;
constexpr uint64_t kHighMemStart = 0x100000;
constexpr uint64_t kPciHoleStart = 0xc0000000;  // RAM stops here; MMIO up to 4 GiB
constexpr uint64_t kFourGiB = 0x100000000;
constexpr uint64_t kPciMmio32Base = 0xc0000000;
constexpr uint64_t kPciMmio32Size = 0x10000000;
constexpr uint64_t kVirtioMmioBase = 0xd0000000;
constexpr uint64_t kVirtioMmioStride = 0x1000;
constexpr uint32_t kVirtioMmioFirstGsi = 16;
constexpr uint32_t kPciIntxFirstGsi = 20;  // INTA..INTD -> GSI 20..23
constexpr uint16_t kPciIoBase = 0xc000;
constexpr uint16_t kPciIoSize = 0x1000;
constexpr uint64_t kKvmReservedBase = 0xfffbc000;  // see accel/kvm: identity map + TSS
constexpr uint64_t kKvmReservedSize = 0x4000;

// The guest RAM regions for `ram_bytes` of memory: below the PCI hole, then above 4 GiB.
struct RamLayout {
  uint64_t low_size = 0;   // [0, low_size)
  uint64_t high_size = 0;  // [4 GiB, 4 GiB + high_size)
};
RamLayout ram_layout(uint64_t ram_bytes);

// The e820 map for that RAM: sorted, non-overlapping; legacy holes and the EBDA reserved.
std::vector<fdt::MemoryRange> e820_map(const RamLayout& layout);

// Top of usable RAM below 4 GiB (where initrd and modules go, growing down).
inline uint64_t low_ram_top(const RamLayout& layout) {
  return layout.low_size;
}

}  // namespace corvid::hw::x86
