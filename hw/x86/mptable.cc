#include "hw/x86/mptable.h"

#include <cstring>

#include "base/endian.h"

namespace corvid::hw::x86 {
namespace {

constexpr uint8_t kPciBusId = 0, kIsaBusId = 1;
constexpr uint8_t kLapicVersion = 0x14, kIoapicVersion = 0x11;
// I/O interrupt entry flags (MP spec table 4-10): polarity bits 1:0, trigger mode bits 3:2.
constexpr uint16_t kConformsToBus = 0x0;
constexpr uint16_t kActiveHighLevel = 0x1 | (0x3 << 2);

uint8_t checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);
}

struct Writer {
  std::vector<uint8_t>& out;
  void u8(uint8_t v) { out.push_back(v); }
  void u16(uint16_t v) { u8(v & 0xff), u8(v >> 8); }
  void u32(uint32_t v) { u16(v & 0xffff), u16(v >> 16); }
  void bytes(const char* s, size_t n) { out.insert(out.end(), s, s + n); }
};

}  // namespace

uint32_t pci_intx_gsi(const fdt::PciHostDesc& pci, uint8_t slot, uint8_t pin) {
  if (pci.intx_gsis.empty() || pin == 0) return 0;
  return pci.intx_gsis[(slot + pin - 1) % pci.intx_gsis.size()];
}

Result<MpTable> encode_mptable(const fdt::MachineDescription& m, uint32_t cpu_signature,
                               uint32_t cpu_features) {
  if (m.cpus < 1 || m.cpus > 254)
    return errorf(EINVAL, "MP table: {} CPUs cannot be described (1..254)", m.cpus);
  const uint8_t ioapic_id = fdt::ioapic_id(m);
  MpTable t;
  std::vector<uint8_t>& c = t.config;
  Writer w{c};
  // Header (MP spec 4.2); length, entry count and checksum are patched at the end.
  w.bytes("PCMP", 4);
  w.u16(0);
  w.u8(4);  // spec revision 1.4
  w.u8(0);
  w.bytes("CORVID  ", 8);
  w.bytes("X86 MACHINE ", 12);
  w.u32(0), w.u16(0), w.u16(0);
  w.u32(static_cast<uint32_t>(m.lapic_base));
  w.u16(0), w.u8(0), w.u8(0);
  uint16_t entries = 0;
  for (int i = 0; i < m.cpus; ++i, ++entries) {  // processor entries (4.3.1)
    w.u8(0), w.u8(static_cast<uint8_t>(i)), w.u8(kLapicVersion);
    w.u8(i == 0 ? 0x3 : 0x1);  // enabled; bootstrap processor
    w.u32(cpu_signature), w.u32(cpu_features), w.u32(0), w.u32(0);
  }
  if (m.pci.present) {  // bus entries (4.3.2)
    w.u8(1), w.u8(kPciBusId), w.bytes("PCI   ", 6);
    ++entries;
  }
  w.u8(1), w.u8(kIsaBusId), w.bytes("ISA   ", 6);
  ++entries;
  w.u8(2), w.u8(ioapic_id), w.u8(kIoapicVersion), w.u8(1);  // I/O APIC (4.3.3)
  w.u32(static_cast<uint32_t>(m.ioapic_base));
  ++entries;
  // ISA IRQ n -> IOAPIC pin n: KVM's default GSI routing and corvid's own IOAPIC both wire them
  // one to one (no IRQ0->pin 2 override as on a real chipset). An override in the description
  // (the ACPI GED's level-triggered IRQ) changes the signalling, as the MADT's override does.
  for (uint8_t irq = 0; irq < 16; ++irq, ++entries) {
    uint16_t flags = kConformsToBus;
    uint8_t pin = irq;
    for (const auto& o : m.isa_irq_overrides) {
      if (o.irq != irq) continue;
      flags = static_cast<uint16_t>((o.active_low ? 0x3 : 0x1) | ((o.level ? 0x3 : 0x1) << 2));
      pin = static_cast<uint8_t>(o.gsi);
    }
    w.u8(3), w.u8(0), w.u16(flags), w.u8(kIsaBusId), w.u8(irq), w.u8(ioapic_id), w.u8(pin);
  }
  if (m.pci.present) {
    for (const auto& d : m.pci.devices) {
      for (uint8_t pin = 1; pin <= 4; ++pin, ++entries) {
        uint32_t gsi = pci_intx_gsi(m.pci, d.slot, pin);
        // Source IRQ for PCI (4.3.4): bits 6:2 device number, bits 1:0 pin (0 = INTA).
        w.u8(3), w.u8(0), w.u16(kActiveHighLevel), w.u8(kPciBusId);
        w.u8(static_cast<uint8_t>((d.slot << 2) | (pin - 1))), w.u8(ioapic_id),
            w.u8(static_cast<uint8_t>(gsi));
      }
    }
  }
  // Local interrupts (4.3.5): LINT0 = ExtINT from the PIC, LINT1 = NMI, on every LAPIC.
  w.u8(4), w.u8(3), w.u16(0), w.u8(kIsaBusId), w.u8(0), w.u8(0xff), w.u8(0);
  w.u8(4), w.u8(1), w.u16(0), w.u8(kIsaBusId), w.u8(0), w.u8(0xff), w.u8(1);
  entries += 2;
  store_le16(&c[4], static_cast<uint16_t>(c.size()));
  store_le16(&c[34], entries);
  c[7] = checksum(c.data(), c.size());

  // Floating pointer structure (4.1).
  std::vector<uint8_t>& f = t.floating;
  Writer fw{f};
  fw.bytes("_MP_", 4);
  fw.u32(static_cast<uint32_t>(kMpConfigTable));
  fw.u8(1);  // length in 16-byte units
  fw.u8(4);  // spec revision 1.4
  fw.u8(0);  // checksum
  fw.u8(0);  // feature 1: 0 = a configuration table is present
  fw.u32(0);
  f[10] = checksum(f.data(), f.size());
  return t;
}

Result<> write_mptable(const GuestMemory& memory, const MpTable& table) {
  if (table.config.size() > 0x10000) return make_error(E2BIG, "MP table larger than the BIOS area");
  CORVID_TRY_VOID(memory.write(kMpFloatingPointer, table.floating.data(), table.floating.size()));
  CORVID_TRY_VOID(memory.write(kMpConfigTable, table.config.data(), table.config.size()));
  return memory.write_le16(0x40e, static_cast<uint16_t>(kMpFloatingPointer >> 4));
}

}  // namespace corvid::hw::x86
