#include "hw/acpi/tables.h"

#include <cstring>

#include "base/endian.h"

namespace corvid::hw::acpi {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr char kOemId[6] = {'C', 'O', 'R', 'V', 'I', 'D'};
constexpr char kOemTableId[8] = {'C', 'O', 'R', 'V', 'I', 'D', 'V', 'M'};
constexpr char kCreatorId[4] = {'C', 'R', 'V', 'D'};

struct Writer {
  Bytes& out;
  void u8(uint64_t v) { out.push_back(static_cast<uint8_t>(v)); }
  void u16(uint64_t v) { u8(v), u8(v >> 8); }
  void u32(uint64_t v) { u16(v), u16(v >> 16); }
  void u64(uint64_t v) { u32(v), u32(v >> 32); }
  void bytes(const char* s, size_t n) { out.insert(out.end(), s, s + n); }
  void zeros(size_t n) { out.insert(out.end(), n, 0); }
  // Generic Address Structure (5.2.3.2): system memory, byte access.
  void gas_memory8(uint64_t address) {
    if (address == 0) return zeros(12);
    u8(0), u8(8), u8(0), u8(1), u64(address);
  }
};

void fix_checksum(Bytes& t, size_t at, size_t length) {
  t[at] = 0;
  t[at] = static_cast<uint8_t>(-byte_sum(t.data(), length));
}

// FADT (5.2.9), 276 bytes (revision 6). Hardware-reduced (flag bit 20): no PM1/GPE blocks, no
// SCI, no FACS; sleep through SLEEP_CONTROL_REG/SLEEP_STATUS_REG, reset through RESET_REG.
Bytes fadt(const fdt::MachineDescription& d, uint64_t dsdt) {
  Bytes b;
  Writer w{b};
  w.u32(0);           // 36 FIRMWARE_CTRL: no FACS (allowed when HW_REDUCED_ACPI)
  w.u32(dsdt);        // 40 DSDT
  w.u8(0);            // 44 reserved
  w.u8(0);            // 45 Preferred_PM_Profile: unspecified
  w.u16(0);           // 46 SCI_INT: none (hardware-reduced)
  w.zeros(109 - 48);  // 48 SMI_CMD .. 108 CENTURY: legacy fixed hardware, all absent
  b[108 - 36] = d.legacy.cmos_rtc ? d.legacy.rtc_century : 0;  // 108 CENTURY
  // 109 IAPC_BOOT_ARCH (5.2.9.3): bit 1 8042, bit 2 VGA not present, bit 4 PCIe ASPM controls
  // (OSPM must not touch ASPM), bit 5 CMOS RTC not present. LEGACY_DEVICES (bit 0) stays clear:
  // no ISA bridge with SuperIO devices beyond those the DSDT lists.
  uint16_t boot_arch = 1u << 4;
  if (d.legacy.i8042) boot_arch |= 1u << 1;
  if (!d.legacy.vga) boot_arch |= 1u << 2;
  if (!d.legacy.cmos_rtc) boot_arch |= 1u << 5;
  w.u16(boot_arch);
  w.u8(0);  // 111 reserved
  // 112 Flags (table 5.10): WBINVD (0), PWR_BUTTON (4) and SLP_BUTTON (5) = control-method or
  // absent buttons, RESET_REG_SUP (10), HW_REDUCED_ACPI (20).
  uint32_t flags = 1u << 0 | 1u << 4 | 1u << 5 | 1u << 20;
  if (d.acpi.reset) flags |= 1u << 10;
  w.u32(flags);
  w.gas_memory8(d.acpi.reset);          // 116 RESET_REG
  w.u8(d.acpi.reset_value);             // 128 RESET_VALUE
  w.u16(0);                             // 129 ARM_BOOT_ARCH
  w.u8(5);                              // 131 FADT minor version (ACPI 6.5)
  w.u64(0);                             // 132 X_FIRMWARE_CTRL
  w.u64(dsdt);                          // 140 X_DSDT
  w.zeros(244 - 148);                   // X_PM1a_EVT_BLK .. X_GPE1_BLK: absent
  w.gas_memory8(d.acpi.sleep_control);  // 244 SLEEP_CONTROL_REG
  w.gas_memory8(d.acpi.sleep_status);   // 256 SLEEP_STATUS_REG
  w.bytes("CORVIDVM", 8);               // 268 hypervisor vendor identity
  return make_sdt("FACP", 6, b);
}

// MADT (5.2.12), revision 5: the local APICs, the IOAPIC, the interrupt source overrides of the
// description and LINT1 = NMI on every LAPIC (as the MP table says).
Bytes madt(const fdt::MachineDescription& d) {
  Bytes b;
  Writer w{b};
  w.u32(d.lapic_base);
  w.u32(1);  // PCAT_COMPAT: the board has dual 8259s
  for (int i = 0; i < d.cpus; ++i) {
    w.u8(0), w.u8(8), w.u8(i), w.u8(i), w.u32(1);  // Processor Local APIC, enabled
  }
  w.u8(1), w.u8(12), w.u8(fdt::ioapic_id(d)), w.u8(0), w.u32(d.ioapic_base), w.u32(0);
  for (const auto& o : d.isa_irq_overrides) {
    // MPS INTI flags (table 5.26): polarity bits 1:0 (01 high, 11 low), trigger 3:2 (01 edge,
    // 11 level) -- the MP table's I/O interrupt entry carries the same bits.
    uint16_t flags = static_cast<uint16_t>((o.active_low ? 3 : 1) | ((o.level ? 3 : 1) << 2));
    w.u8(2), w.u8(10), w.u8(0), w.u8(o.irq), w.u32(o.gsi), w.u16(flags);
  }
  w.u8(4), w.u8(6), w.u8(0xff), w.u16(0), w.u8(1);  // Local APIC NMI: all processors, LINT1
  return make_sdt("APIC", 5, b);
}

// MCFG (PCI Firmware Specification 3.2, 4.1.2): one ECAM segment.
Bytes mcfg(const fdt::PciHostDesc& pci) {
  Bytes b;
  Writer w{b};
  w.u64(0);
  w.u64(pci.ecam_base), w.u16(0), w.u8(0);
  w.u8((pci.ecam_size >> 20) - 1);  // 1 MiB of configuration space per bus
  w.u32(0);
  return make_sdt("MCFG", 1, b);
}

}  // namespace

uint8_t byte_sum(const uint8_t* data, size_t length) {
  uint8_t sum = 0;
  for (size_t i = 0; i < length; ++i) sum = static_cast<uint8_t>(sum + data[i]);
  return sum;
}

Bytes make_sdt(const char (&signature)[5], uint8_t revision, const Bytes& body) {
  Bytes t;
  Writer w{t};
  w.bytes(signature, 4);
  w.u32(36 + body.size());
  w.u8(revision);
  w.u8(0);  // checksum
  w.bytes(kOemId, 6);
  w.bytes(kOemTableId, 8);
  w.u32(1);  // OEM revision
  w.bytes(kCreatorId, 4);
  w.u32(1);  // creator revision
  t.insert(t.end(), body.begin(), body.end());
  fix_checksum(t, 9, t.size());
  return t;
}

std::vector<uint8_t> AcpiTables::bytes(const std::string& signature) const {
  for (const auto& t : tables) {
    if (t.signature != signature) continue;
    auto first = blob.begin() + static_cast<ptrdiff_t>(t.address - base);
    return {first, first + t.length};
  }
  return {};
}

Result<AcpiTables> build_acpi_tables(const fdt::MachineDescription& d, uint64_t base,
                                     uint64_t limit) {
  if (d.cpus < 1 || d.cpus > 254)
    return errorf(EINVAL, "ACPI MADT: {} CPUs cannot be described (1..254)", d.cpus);
  if (base & 0xf) return errorf(EINVAL, "ACPI tables at {:#x}: not 16-byte aligned", base);

  AcpiTables out;
  out.base = base;
  out.rsdp = base;
  auto place = [&](const char* sig, const Bytes& table) -> uint64_t {
    out.blob.resize((out.blob.size() + 15) & ~size_t{15});
    uint64_t addr = base + out.blob.size();
    out.blob.insert(out.blob.end(), table.begin(), table.end());
    out.tables.push_back({sig, addr, static_cast<uint32_t>(table.size())});
    return addr;
  };

  // The RSDP's addresses are needed before it is written: reserve its 36 bytes first.
  out.blob.resize(36);
  out.tables.push_back({"RSDP", base, 36});
  uint64_t dsdt = place("DSDT", build_dsdt(d));
  std::vector<uint64_t> entries;
  entries.push_back(place("FACP", fadt(d, dsdt)));
  entries.push_back(place("APIC", madt(d)));
  if (d.pci.present && d.pci.ecam_size >= (1u << 20)) entries.push_back(place("MCFG", mcfg(d.pci)));

  Bytes rsdt_body, xsdt_body;
  Writer rw{rsdt_body}, xw{xsdt_body};
  for (uint64_t e : entries) rw.u32(e), xw.u64(e);
  uint64_t rsdt = place("RSDT", make_sdt("RSDT", 1, rsdt_body));
  uint64_t xsdt = place("XSDT", make_sdt("XSDT", 1, xsdt_body));

  // RSDP (5.2.5.3), revision 2: checksum over the first 20 bytes, extended checksum over 36.
  Bytes r;
  Writer w{r};
  w.bytes("RSD PTR ", 8);
  w.u8(0);
  w.bytes(kOemId, 6);
  w.u8(2);
  w.u32(rsdt);
  w.u32(36);
  w.u64(xsdt);
  w.u8(0);
  w.zeros(3);
  fix_checksum(r, 8, 20);
  fix_checksum(r, 32, 36);
  std::memcpy(out.blob.data(), r.data(), r.size());

  if (base + out.blob.size() > limit)
    return errorf(E2BIG, "ACPI tables need {} bytes at {:#x}, only {} fit", out.blob.size(), base,
                  limit - base);
  return out;
}

}  // namespace corvid::hw::acpi
