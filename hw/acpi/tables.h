// The ACPI tables of the machine description (ACPI 6.5, chapter 5.2): RSDP, RSDT/XSDT, a
// hardware-reduced FADT, MADT, MCFG (when the PCI host has ECAM) and the DSDT (AML from
// hw/acpi/aml.h). They are the third encoder of fdt::MachineDescription beside the FDT and the
// MP table, so CPUs, interrupt routing and devices agree across the three.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "fdt/machine_description.h"

namespace corvid::hw::acpi {

// SLP_TYP value of \_S5 and of the sleep control register's power-off request (ACPI 4.8.3.7).
inline constexpr uint8_t kSlpTypS5 = 5;

struct AcpiTables {
  struct Table {
    std::string signature;  // "RSDP", "XSDT", "FACP", "APIC", "DSDT", ...
    uint64_t address = 0;
    uint32_t length = 0;
  };
  uint64_t base = 0;          // guest-physical address of blob[0]
  uint64_t rsdp = 0;          // address of the RSDP
  std::vector<uint8_t> blob;  // every table, laid out from base
  std::vector<Table> tables;

  // The bytes of one table, empty when absent.
  std::vector<uint8_t> bytes(const std::string& signature) const;
};

// Lays the tables out in [base, limit), the RSDP first (it must be 16-byte aligned and, for
// guests that scan for it, inside 0xe0000-0xfffff; 5.2.5.1). E2BIG when they do not fit; EINVAL
// for a description the MADT cannot express (no CPU, more than 254).
Result<AcpiTables> build_acpi_tables(const fdt::MachineDescription& desc, uint64_t base,
                                     uint64_t limit);

// The DSDT alone (header + AML), for tests.
std::vector<uint8_t> build_dsdt(const fdt::MachineDescription& desc);

// Sum of the bytes modulo 256: 0 for a correctly checksummed table.
uint8_t byte_sum(const uint8_t* data, size_t length);

// The 36-byte system description table header (5.2.6) in front of `body`, checksummed.
std::vector<uint8_t> make_sdt(const char (&signature)[5], uint8_t revision,
                              const std::vector<uint8_t>& body);

}  // namespace corvid::hw::acpi
