// One description of the machine (memory, CPUs, devices, interrupts). The FDT, the MP table and
// the ACPI tables are encoders of it, so they cannot disagree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace corvid::fdt {

struct MemoryRange {
  uint64_t base = 0, size = 0;
  enum class Type { kRam = 1, kReserved = 2, kAcpi = 3 } type = Type::kRam;
};

struct UartDesc {
  uint16_t port = 0x3f8;
  uint32_t irq = 4;
  uint32_t clock_hz = 1843200;
};

struct VirtioMmioDesc {
  uint64_t base = 0, size = 0x200;
  uint32_t irq = 0;        // GSI (IOAPIC pin)
  uint32_t device_id = 0;  // virtio device type (2 = block, 3 = console, 4 = rng)
};

struct PciHostDesc {
  bool present = false;
  uint16_t conf1_port = 0xcf8;
  uint64_t ecam_base = 0, ecam_size = 0;      // 0 when only conf1
  uint64_t mmio32_base = 0, mmio32_size = 0;  // BAR window below 4 GiB
  uint64_t mmio64_base = 0, mmio64_size = 0;  // BAR window above 4 GiB
  uint16_t io_base = 0, io_size = 0;          // I/O BAR window
  std::vector<uint32_t> intx_gsis;            // GSI of INTA..INTD (swizzled per slot)
  struct Device {
    uint8_t slot = 0;
    uint16_t vendor = 0, device = 0;
    std::string name;
  };
  std::vector<Device> devices;
};

// An ISA IRQ signalled differently from the ISA default (IRQ n -> GSI n, edge, active high).
// The MP table encodes it as an I/O interrupt entry, the MADT as an interrupt source override.
struct IsaIrqOverride {
  uint8_t irq = 0;
  uint32_t gsi = 0;
  bool level = false, active_low = false;
};

// The hardware-reduced ACPI registers (ACPI 6.5, 4.1 "Hardware-Reduced ACPI"): sleep control and
// status (FADT SLEEP_CONTROL_REG / SLEEP_STATUS_REG, 8 bits), the reset register, and the
// Generic Event Device's 32-bit event register with its interrupt. Described by the ACPI tables
// only; 0 addresses = absent.
struct AcpiHwDesc {
  uint64_t ged_event = 0;  // bit 0: power button
  uint32_t ged_gsi = 0;
  uint64_t sleep_control = 0, sleep_status = 0;
  uint64_t reset = 0;
  uint8_t reset_value = 0;
  uint64_t block_base = 0, block_size = 0;  // the MMIO page holding them (motherboard resource)
};

// Legacy PC devices the board has (FADT IAPC_BOOT_ARCH, DSDT devices).
struct LegacyDesc {
  bool cmos_rtc = false;    // MC146818 at 0x70-0x71, IRQ 8
  uint8_t rtc_century = 0;  // CMOS index of the century byte (FADT CENTURY), 0 = none
  bool i8042 = false;       // a PS/2 controller a guest may probe (0x60/0x64, IRQ 1 and 12)
  bool vga = false;
};

struct MachineDescription {
  std::vector<MemoryRange> memory;  // the e820 map
  int cpus = 1;
  uint64_t lapic_base = 0xfee00000;
  uint64_t ioapic_base = 0xfec00000;
  uint32_t ioapic_pins = 24;
  std::vector<UartDesc> uarts;
  PciHostDesc pci;
  std::vector<VirtioMmioDesc> virtio_mmio;
  std::vector<IsaIrqOverride> isa_irq_overrides;
  AcpiHwDesc acpi;
  LegacyDesc legacy;
  uint16_t debug_exit_port = 0xf4;
  std::string cmdline;
};

// The IOAPIC's APIC ID: after the LAPIC IDs 0..cpus-1 (the MP table and the MADT both use it).
inline uint8_t ioapic_id(const MachineDescription& m) {
  return static_cast<uint8_t>(m.cpus);
}

}  // namespace corvid::fdt
