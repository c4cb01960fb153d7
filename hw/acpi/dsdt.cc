// The DSDT: corvid's devices in the ACPI namespace, generated from the machine description.
//
//   \_S5                 soft-off: SLP_TYP 5 for the sleep control register
//   \_SB.PCI0            PCI root bridge: _CRS (bus range, config ports, I/O and MMIO windows),
//                        _PRT (INTx -> link devices GSIA.., the MP table's swizzle)
//   \_SB.GSIA..GSID      PCI interrupt links (PNP0C0F), one GSI each, level, active high
//   \_SB.COM1            16550 UART (PNP0501)
//   \_SB.RTC_, KBD_, MOU_ CMOS RTC (PNP0B00), i8042 (PNP0303, PNP0F13) when the board has them
//   \_SB.VRnn            virtio-mmio devices (LNRO0005)
//   \_SB.GED_            Generic Event Device (ACPI0013): its _EVT reads the event register and
//                        notifies PWRB
//   \_SB.PWRB            power button (PNP0C0C)
//   \_SB.MRES            motherboard resources (PNP0C02): the ACPI register page
#include <fmt/format.h>

#include "hw/acpi/aml.h"
#include "hw/acpi/tables.h"

namespace corvid::hw::acpi {
namespace {

using namespace aml;

constexpr uint32_t kPciSlots = 32;

std::string link_name(size_t i) {
  return fmt::format("GSI{}", static_cast<char>('A' + i));
}

Bytes pci_root(const fdt::PciHostDesc& pci) {
  bool ecam = pci.ecam_size >= (1u << 20);
  Bytes body;
  if (ecam) {
    body = concat({name("_HID", eisa_id("PNP0A08")), name("_CID", eisa_id("PNP0A03"))});
  } else {
    body = name("_HID", eisa_id("PNP0A03"));  // conventional PCI: configuration mechanism #1 only
  }
  uint16_t last_bus = ecam ? static_cast<uint16_t>((pci.ecam_size >> 20) - 1) : 0;
  ResourceTemplate crs;
  crs.bus_numbers(0, last_bus).io(pci.conf1_port, 8);
  if (pci.io_size) crs.io_window(pci.io_base, static_cast<uint16_t>(pci.io_base + pci.io_size - 1));
  if (pci.mmio32_size)
    crs.memory32_window(static_cast<uint32_t>(pci.mmio32_base),
                        static_cast<uint32_t>(pci.mmio32_base + pci.mmio32_size - 1));
  if (pci.mmio64_size) crs.memory64_window(pci.mmio64_base, pci.mmio64_base + pci.mmio64_size - 1);
  body = concat({body, name("_UID", integer(0)), name("_SEG", integer(0)), name("_BBN", integer(0)),
                 name("_CRS", crs.build())});

  // _PRT (6.2.13): device address 0xSSSSFFFF (any function), pin 0..3 = INTA..INTD, source =
  // the link device. Slot s pin p uses line (s + p - 1) % lines, the swizzle of
  // x86::pci_intx_gsi that the MP table and the FDT's interrupt-map use.
  if (!pci.intx_gsis.empty()) {
    std::vector<Bytes> prt;
    for (uint32_t slot = 0; slot < kPciSlots; ++slot) {
      for (uint32_t pin = 0; pin < 4; ++pin) {
        size_t line = (slot + pin) % pci.intx_gsis.size();
        prt.push_back(package({dword(slot << 16 | 0xffff), integer(pin),
                               name_string("\\_SB." + link_name(line)), integer(0)}));
      }
    }
    body = concat({body, name("_PRT", package(prt))});
  }
  return device("PCI0", body);
}

// A PCI interrupt link with one possible GSI (6.2.12 _PRS, _CRS, _SRS): level, active high,
// shared, as the MP table's PCI entries say.
Bytes pci_link(size_t index, uint32_t gsi) {
  Bytes res = ResourceTemplate().interrupt(gsi, true, false, true).build();
  return device(
      link_name(index),
      concat({name("_HID", eisa_id("PNP0C0F")), name("_UID", integer(index)), name("_PRS", res),
              name("_CRS", res), method("_SRS", 1, false, {}), method("_DIS", 0, false, {})}));
}

Bytes ged(const fdt::AcpiHwDesc& hw) {
  // Linux's GED driver (drivers/acpi/evged.c) calls _EVT with the GSI; the event register says
  // which events are pending and reading it clears them (and the interrupt).
  Bytes evt = concat({
      store(name_string("ESEL"), local(0)),
      if_(lequal(and_(local(0), integer(1)), integer(1)),
          notify("\\_SB.PWRB", integer(0x80))),  // 0x80: power button pressed (5.6.6)
  });
  return device("GED_",
                concat({name("_HID", string("ACPI0013")), name("_UID", integer(0)),
                        name("_CRS", ResourceTemplate().interrupt(hw.ged_gsi, true, false).build()),
                        operation_region("EREG", RegionSpace::kSystemMemory, hw.ged_event, 4),
                        field_dword("EREG", {{"ESEL", 32}}), method("_EVT", 1, true, evt)}));
}

}  // namespace

std::vector<uint8_t> build_dsdt(const fdt::MachineDescription& d) {
  Bytes sb;
  if (d.pci.present) {
    sb = concat({sb, pci_root(d.pci)});
    for (size_t i = 0; i < d.pci.intx_gsis.size() && i < 26; ++i)
      sb = concat({sb, pci_link(i, d.pci.intx_gsis[i])});
  }
  for (size_t i = 0; i < d.uarts.size(); ++i) {
    const auto& u = d.uarts[i];
    ResourceTemplate crs;
    crs.io(u.port, 8).irq_no_flags(static_cast<uint8_t>(u.irq));
    sb = concat({sb, device(fmt::format("COM{}", i + 1),
                            concat({name("_HID", eisa_id("PNP0501")), name("_UID", integer(i + 1)),
                                    name("_CRS", crs.build())}))});
  }
  if (d.legacy.cmos_rtc) {
    ResourceTemplate crs;
    crs.io(0x70, 2).irq_no_flags(8);
    sb =
        concat({sb, device("RTC_",
                           concat({name("_HID", eisa_id("PNP0B00")), name("_CRS", crs.build())}))});
  }
  if (d.legacy.i8042) {
    ResourceTemplate crs;
    crs.io(0x60, 1).io(0x64, 1).irq_no_flags(1);
    sb =
        concat({sb, device("KBD_",
                           concat({name("_HID", eisa_id("PNP0303")), name("_CRS", crs.build())}))});
    // The auxiliary (mouse) port of the same controller: IRQ 12 (Linux's i8042 PNP probe wants
    // it as its own device).
    sb = concat(
        {sb, device("MOU_", concat({name("_HID", eisa_id("PNP0F13")),
                                    name("_CRS", ResourceTemplate().irq_no_flags(12).build())}))});
  }
  for (size_t i = 0; i < d.virtio_mmio.size(); ++i) {
    const auto& v = d.virtio_mmio[i];
    ResourceTemplate crs;
    crs.memory32_fixed(static_cast<uint32_t>(v.base), static_cast<uint32_t>(v.size))
        .interrupt(v.irq, true, false);
    sb = concat({sb, device(fmt::format("VR{:02}", i),
                            concat({name("_HID", string("LNRO0005")), name("_UID", integer(i)),
                                    name("_CCA", integer(1)), name("_CRS", crs.build())}))});
  }
  if (d.acpi.ged_event) {
    sb = concat(
        {sb, ged(d.acpi),
         device("PWRB", concat({name("_HID", eisa_id("PNP0C0C")), name("_UID", integer(0))}))});
  }
  if (d.acpi.block_size) {
    ResourceTemplate crs;
    crs.memory32_fixed(static_cast<uint32_t>(d.acpi.block_base),
                       static_cast<uint32_t>(d.acpi.block_size));
    sb =
        concat({sb, device("MRES", concat({name("_HID", eisa_id("PNP0C02")),
                                           name("_UID", integer(0)), name("_CRS", crs.build())}))});
  }
  // \_S5 (7.4.2): SLP_TYPa, SLP_TYPb, reserved, reserved.
  Bytes aml =
      concat({name("\\_S5_", package({integer(kSlpTypS5), integer(0), integer(0), integer(0)})),
              scope("\\_SB_", sb)});
  return make_sdt("DSDT", 2, aml);  // revision 2: 64-bit integers
}

}  // namespace corvid::hw::acpi
