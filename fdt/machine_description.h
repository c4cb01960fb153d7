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

struct MachineDescription {
  std::vector<MemoryRange> memory;  // the e820 map
  int cpus = 1;
  uint64_t lapic_base = 0xfee00000;
  uint64_t ioapic_base = 0xfec00000;
  uint32_t ioapic_pins = 24;
  std::vector<UartDesc> uarts;
  PciHostDesc pci;
  std::vector<VirtioMmioDesc> virtio_mmio;
  uint16_t debug_exit_port = 0xf4;
  std::string cmdline;
};

}  // namespace corvid::fdt
