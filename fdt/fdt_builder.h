// The machine description as a flattened device tree (devicetree specification v0.4), built with
// libfdt: memory, CPUs, the local APIC and IOAPIC, the serial ports, the PCI host bridge with its
// interrupt-map, and the virtio-mmio devices. Handed to PVH guests as a module and to Linux as
// setup_data (SETUP_DTB).
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "fdt/machine_description.h"

namespace corvid::fdt {

// Interrupt specifier cells of the IOAPIC node (#interrupt-cells = 2: GSI, type). The type is an
// index into Linux's x86 table (arch/x86/kernel/devicetree.c, of_ioapic_type).
inline constexpr uint32_t kIrqTypeLevelHigh = 1;   // virtio-mmio, PCI INTx (level, active high)
inline constexpr uint32_t kIrqTypeEdgeRising = 3;  // ISA devices (edge, active high)

// Phandle of the IOAPIC node, the interrupt parent of everything.
inline constexpr uint32_t kIoapicPhandle = 1;

// Builds the blob. Fails (EINVAL) on a description that cannot be encoded: no RAM, no CPU,
// a virtio-mmio device without a size.
Result<std::vector<uint8_t>> build_fdt(const MachineDescription& machine);

}  // namespace corvid::fdt
