// The Intel MultiProcessor Specification 1.4 table: how an x86 OS without ACPI finds its CPUs,
// the IOAPIC and the routing of ISA and PCI interrupts. Encoded from the machine description.
#pragma once

#include <cstdint>
#include <vector>

#include "fdt/machine_description.h"
#include "hw/core/guest_memory.h"

namespace corvid::hw::x86 {

constexpr uint64_t kMpFloatingPointer = 0x9fc00;  // first KiB of the EBDA, where Linux looks
constexpr uint64_t kMpConfigTable = 0xf0000;      // BIOS area, reserved in e820

// The encoded tables: `floating` goes at kMpFloatingPointer, `config` at kMpConfigTable.
struct MpTable {
  std::vector<uint8_t> floating, config;
};
// EINVAL when the description cannot be expressed (more than 255 CPUs).
Result<MpTable> encode_mptable(const fdt::MachineDescription& machine, uint32_t cpu_signature,
                               uint32_t cpu_features);
// Writes both and points the BDA's EBDA segment (0x40e) at the EBDA.
Result<> write_mptable(const GuestMemory& memory, const MpTable& table);

// PCI INTx routing shared by the host bridge, the MP table and the FDT: the GSI that slot `slot`
// pin `pin` (1 = INTA) raises, with the usual swizzle across four lines.
uint32_t pci_intx_gsi(const fdt::PciHostDesc& pci, uint8_t slot, uint8_t pin);

}  // namespace corvid::hw::x86
