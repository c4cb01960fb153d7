// The ACPI encoders (hw/acpi): AML encodings, the tables parsed back (lengths, checksums,
// pointers, MADT = description = MP table), and the hardware-reduced register block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "base/endian.h"
#include "hw/acpi/acpi_registers.h"
#include "hw/acpi/aml.h"
#include "hw/acpi/tables.h"
#include "hw/x86/mptable.h"

namespace corvid::hw::acpi {
namespace {

using aml::Bytes;

bool contains(const Bytes& hay, const Bytes& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}
bool contains(const Bytes& hay, std::string_view s) {
  return contains(hay, Bytes(s.begin(), s.end()));
}

TEST(Aml, PkgLengthGrowsToTwoBytesAt64) {
  // Scope(\_SB) with 57 bytes of body: PkgLength 1 + name 5 + 57 = 63 fits six bits.
  Bytes body(57, 0xa3);  // Noop
  Bytes s = aml::scope("\\_SB", body);
  ASSERT_EQ(s.size(), 1u + 1 + 5 + 57);
  EXPECT_EQ(s[1], 63);
  // One more byte: 64 does not fit, two bytes of PkgLength, value 2 + 5 + 58 = 65.
  body.resize(58);
  s = aml::scope("\\_SB", body);
  ASSERT_EQ(s.size(), 1u + 2 + 5 + 58);
  EXPECT_EQ(s[1] >> 6, 1) << "one following byte";
  EXPECT_EQ((s[1] & 0xf) | (s[2] << 4), 65);
  // 5000 bytes: three bytes of PkgLength.
  body.resize(5000);
  s = aml::scope("\\_SB", body);
  EXPECT_EQ(s[1] >> 6, 2);
  EXPECT_EQ(static_cast<size_t>((s[1] & 0xf) | (s[2] << 4) | (s[3] << 12)), 3u + 5 + 5000);
  EXPECT_EQ(aml::name_string("\\"), (Bytes{'\\', 0x00})) << "the root alone: NullName";
}

TEST(Aml, IntegersUseTheSmallestEncoding) {
  EXPECT_EQ(aml::integer(0), Bytes{0x00});
  EXPECT_EQ(aml::integer(1), Bytes{0x01});
  EXPECT_EQ(aml::integer(0x80), (Bytes{0x0a, 0x80}));
  EXPECT_EQ(aml::integer(0x1234), (Bytes{0x0b, 0x34, 0x12}));
  EXPECT_EQ(aml::integer(0xfea00000), (Bytes{0x0c, 0x00, 0x00, 0xa0, 0xfe}));
  EXPECT_EQ(aml::integer(1ull << 32).size(), 9u);
  EXPECT_EQ(aml::integer(1ull << 32)[0], 0x0e);
}

TEST(Aml, EisaIdAndNamesMatchTheSpecEncoding) {
  // PNP0A03 is 0x030AD041 in every DSDT (ACPI 6.5, 6.1.5).
  EXPECT_EQ(aml::eisa_id("PNP0A03"), (Bytes{0x0c, 0x41, 0xd0, 0x0a, 0x03}));
  EXPECT_EQ(aml::name_string("_HID"), (Bytes{'_', 'H', 'I', 'D'}));
  EXPECT_EQ(aml::name_string("\\_S5"), (Bytes{'\\', '_', 'S', '5', '_'}));
  EXPECT_EQ(aml::name_string("\\_SB.PWRB"),
            (Bytes{'\\', 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B'}));
  EXPECT_EQ(aml::name_string("A.B.C")[0], 0x2f);
  EXPECT_EQ(aml::name_string("A.B.C")[1], 3);
  EXPECT_EQ(aml::name_string("a-b"), (Bytes{'_', '_', '_', '_'})) << "bad characters become _";
}

fdt::MachineDescription sample() {
  fdt::MachineDescription d;
  d.cpus = 3;
  d.uarts.push_back({0x3f8, 4, 1843200});
  d.pci.present = true;
  d.pci.mmio32_base = 0xc0000000;
  d.pci.mmio32_size = 0x10000000;
  d.pci.io_base = 0xc000;
  d.pci.io_size = 0x1000;
  d.pci.intx_gsis = {20, 21, 22, 23};
  d.pci.devices.push_back({1, 0x1af4, 0x1042, "virtio-blk"});
  d.virtio_mmio.push_back({0xd0000000, 0x200, 16, 2});
  d.acpi.block_base = 0xfea00000;
  d.acpi.block_size = 0x1000;
  d.acpi.ged_event = 0xfea00000;
  d.acpi.ged_gsi = 9;
  d.acpi.sleep_control = 0xfea00010;
  d.acpi.sleep_status = 0xfea00011;
  d.acpi.reset = 0xfea00012;
  d.acpi.reset_value = 0x42;
  d.isa_irq_overrides.push_back({9, 9, true, false});
  return d;
}

// A table of `tables` at guest address `addr`, checked: signature, length, checksum.
Bytes table_at(const AcpiTables& t, uint64_t addr, const char* sig) {
  EXPECT_GE(addr, t.base);
  EXPECT_LT(addr + 36, t.base + t.blob.size());
  const uint8_t* p = t.blob.data() + (addr - t.base);
  EXPECT_EQ(std::memcmp(p, sig, 4), 0) << sig;
  uint32_t len = load_le32(p + 4);
  EXPECT_LE(addr + len, t.base + t.blob.size());
  EXPECT_EQ(byte_sum(p, len), 0) << sig << " checksum";
  return Bytes(p, p + len);
}

TEST(AcpiTables, RsdpXsdtAndRsdtLeadToEveryTableWithGoodChecksums) {
  auto t = build_acpi_tables(sample(), 0xe0000, 0xf0000);
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_EQ(t->rsdp, 0xe0000u);
  const uint8_t* r = t->blob.data();
  EXPECT_EQ(std::memcmp(r, "RSD PTR ", 8), 0);
  EXPECT_EQ(byte_sum(r, 20), 0) << "ACPI 1.0 checksum";
  EXPECT_EQ(byte_sum(r, 36), 0) << "extended checksum";
  EXPECT_EQ(r[15], 2) << "revision 2: XSDT";
  EXPECT_EQ(load_le32(r + 20), 36u);

  Bytes xsdt = table_at(*t, load_le64(r + 24), "XSDT");
  Bytes rsdt = table_at(*t, load_le32(r + 16), "RSDT");
  ASSERT_EQ(xsdt.size(), 36u + 2 * 8) << "FACP and APIC (no MCFG without ECAM)";
  ASSERT_EQ(rsdt.size(), 36u + 2 * 4);
  Bytes fadt = table_at(*t, load_le64(&xsdt[36]), "FACP");
  Bytes madt = table_at(*t, load_le64(&xsdt[44]), "APIC");
  EXPECT_EQ(load_le32(&rsdt[36]), load_le64(&xsdt[36]));
  EXPECT_EQ(load_le32(&rsdt[40]), load_le64(&xsdt[44]));

  ASSERT_EQ(fadt.size(), 276u);
  EXPECT_EQ(fadt[8], 6) << "FADT revision";
  Bytes dsdt = table_at(*t, load_le64(&fadt[140]), "DSDT");
  EXPECT_EQ(load_le32(&fadt[40]), load_le64(&fadt[140]));
  EXPECT_EQ(t->bytes("DSDT"), dsdt);
  EXPECT_EQ(t->bytes("FACP"), fadt);
}

TEST(AcpiTables, FadtIsHardwareReducedWithSleepAndResetRegisters) {
  fdt::MachineDescription d = sample();
  auto t = build_acpi_tables(d, 0xe0000, 0xf0000);
  ASSERT_TRUE(t);
  Bytes f = t->bytes("FACP");
  ASSERT_EQ(f.size(), 276u);
  const uint32_t flags = load_le32(&f[112]);
  EXPECT_TRUE(flags & (1u << 20)) << "HW_REDUCED_ACPI";
  EXPECT_TRUE(flags & (1u << 10)) << "RESET_REG_SUP";
  EXPECT_TRUE(flags & (1u << 4)) << "no fixed power button";
  // Generic address structures: system memory, 8 bits, byte access.
  auto gas = [&](size_t at) {
    EXPECT_EQ(f[at], 0) << "system memory";
    EXPECT_EQ(f[at + 1], 8) << "8 bits";
    EXPECT_EQ(f[at + 3], 1) << "byte access";
    return load_le64(&f[at + 4]);
  };
  EXPECT_EQ(gas(116), d.acpi.reset);
  EXPECT_EQ(f[128], d.acpi.reset_value);
  EXPECT_EQ(gas(244), d.acpi.sleep_control);
  EXPECT_EQ(gas(256), d.acpi.sleep_status);
  // IAPC_BOOT_ARCH follows the board: no 8042, no VGA, no CMOS RTC here ...
  uint16_t arch = load_le16(&f[109]);
  EXPECT_FALSE(arch & 2);
  EXPECT_TRUE(arch & 4);
  EXPECT_TRUE(arch & 0x20);
  EXPECT_EQ(f[108], 0) << "no century byte";
  // ... and with the RTC and an i8042 the flags and CENTURY say so.
  d.legacy.cmos_rtc = true;
  d.legacy.rtc_century = 0x32;
  d.legacy.i8042 = true;
  f = build_acpi_tables(d, 0xe0000, 0xf0000)->bytes("FACP");
  arch = load_le16(&f[109]);
  EXPECT_TRUE(arch & 2);
  EXPECT_FALSE(arch & 0x20);
  EXPECT_EQ(f[108], 0x32);
}

TEST(AcpiTables, MadtListsTheDescriptionLikeTheMpTable) {
  fdt::MachineDescription d = sample();
  auto t = build_acpi_tables(d, 0xe0000, 0xf0000);
  ASSERT_TRUE(t);
  Bytes m = t->bytes("APIC");
  EXPECT_EQ(load_le32(&m[36]), d.lapic_base);
  std::vector<int> lapic_ids;
  int ioapic_id = -1;
  uint32_t ioapic_addr = 0;
  struct Iso {
    uint8_t irq;
    uint32_t gsi;
    uint16_t flags;
  };
  std::vector<Iso> isos;
  for (size_t i = 44; i < m.size();) {
    ASSERT_GE(m[i + 1], 2) << "entry length";
    ASSERT_LE(i + m[i + 1], m.size());
    if (m[i] == 0) {
      EXPECT_EQ(load_le32(&m[i + 4]) & 1, 1u) << "enabled";
      EXPECT_EQ(m[i + 2], m[i + 3]) << "UID = APIC ID";
      lapic_ids.push_back(m[i + 3]);
    } else if (m[i] == 1) {
      ioapic_id = m[i + 2];
      ioapic_addr = load_le32(&m[i + 4]);
      EXPECT_EQ(load_le32(&m[i + 8]), 0u) << "GSI base";
    } else if (m[i] == 2) {
      isos.push_back({m[i + 3], load_le32(&m[i + 4]), load_le16(&m[i + 8])});
    }
    i += m[i + 1];
  }
  EXPECT_EQ(lapic_ids, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(ioapic_addr, d.ioapic_base);

  // The MP table of the same description: same IOAPIC ID, and its ISA IRQ 9 entry carries the
  // override's GSI and flags.
  auto mp = x86::encode_mptable(d, 0, 0);
  ASSERT_TRUE(mp);
  const Bytes& c = mp->config;
  int mp_ioapic = -1;
  uint16_t mp_irq9_flags = 0xffff;
  uint8_t mp_irq9_pin = 0xff;
  for (size_t i = 44; i < c.size();) {
    const uint8_t type = c[i];
    if (type == 0) {
      i += 20;
      continue;
    }
    if (type == 2) mp_ioapic = c[i + 1];
    if (type == 3 && c[i + 4] == 1 && c[i + 5] == 9) {  // ISA bus (id 1), IRQ 9
      mp_irq9_flags = load_le16(&c[i + 2]);
      mp_irq9_pin = c[i + 7];
    }
    i += 8;
  }
  EXPECT_EQ(ioapic_id, mp_ioapic);
  ASSERT_EQ(isos.size(), 1u);
  EXPECT_EQ(isos[0].irq, 9);
  EXPECT_EQ(isos[0].gsi, 9u);
  EXPECT_EQ(isos[0].flags, 0x0d) << "active high, level";
  EXPECT_EQ(isos[0].flags, mp_irq9_flags);
  EXPECT_EQ(isos[0].gsi, mp_irq9_pin);
}

TEST(AcpiTables, DsdtNamesTheDevicesAndRoutesIntxLikeTheMpTable) {
  fdt::MachineDescription d = sample();
  Bytes dsdt = build_dsdt(d);
  EXPECT_EQ(byte_sum(dsdt.data(), dsdt.size()), 0);
  EXPECT_EQ(load_le32(&dsdt[4]), dsdt.size());
  for (const char* n : {"PCI0", "_PRT", "_CRS", "COM1", "GED_", "_EVT", "PWRB", "VR00", "MRES",
                        "LNRO0005", "ACPI0013", "_S5_"})
    EXPECT_TRUE(contains(dsdt, n)) << n;
  EXPECT_FALSE(contains(dsdt, "RTC_")) << "no RTC on this board";
  EXPECT_TRUE(contains(dsdt, aml::eisa_id("PNP0C0C"))) << "power button";
  EXPECT_TRUE(contains(dsdt, aml::eisa_id("PNP0501"))) << "UART";
  // Every _PRT entry names the link whose GSI is x86::pci_intx_gsi() of that slot and pin, and
  // the link's _CRS holds that GSI.
  for (uint8_t slot : {0, 1, 5, 31}) {
    for (uint8_t pin = 1; pin <= 4; ++pin) {
      const uint32_t gsi = x86::pci_intx_gsi(d.pci, slot, pin);
      size_t line =
          std::find(d.pci.intx_gsis.begin(), d.pci.intx_gsis.end(), gsi) - d.pci.intx_gsis.begin();
      std::string link = std::string("GSI") + static_cast<char>('A' + line);
      Bytes entry = aml::package({aml::dword(static_cast<uint32_t>(slot) << 16 | 0xffff),
                                  aml::integer(pin - 1u), aml::name_string("\\_SB." + link),
                                  aml::integer(0)});
      EXPECT_TRUE(contains(dsdt, entry)) << "slot " << int(slot) << " pin " << int(pin);
      Bytes crs = aml::ResourceTemplate().interrupt(gsi, true, false, true).build();
      EXPECT_TRUE(contains(dsdt, aml::concat({aml::name_string("_CRS"), crs}))) << link;
    }
  }
  // With a CMOS RTC and an i8042 the DSDT gains PNP0B00, PNP0303 and PNP0F13 (the aux port).
  EXPECT_FALSE(contains(dsdt, aml::eisa_id("PNP0303")));
  d.legacy.cmos_rtc = true;
  d.legacy.i8042 = true;
  Bytes legacy = build_dsdt(d);
  EXPECT_TRUE(contains(legacy, aml::eisa_id("PNP0B00")));
  EXPECT_TRUE(contains(legacy, aml::eisa_id("PNP0303")));
  EXPECT_TRUE(contains(legacy, aml::eisa_id("PNP0F13")));
}

TEST(AcpiTables, EcamAddsMcfgAndMakesThePciRootPcie) {
  fdt::MachineDescription d = sample();
  d.pci.ecam_base = 0xe0000000;
  d.pci.ecam_size = 16u << 20;
  auto t = build_acpi_tables(d, 0xe0000, 0xf0000);
  ASSERT_TRUE(t);
  Bytes mcfg = t->bytes("MCFG");
  ASSERT_EQ(mcfg.size(), 36u + 8 + 16);
  EXPECT_EQ(byte_sum(mcfg.data(), mcfg.size()), 0);
  EXPECT_EQ(load_le64(&mcfg[44]), 0xe0000000u);
  EXPECT_EQ(mcfg[55], 15) << "last bus";
  EXPECT_TRUE(contains(t->bytes("DSDT"), aml::eisa_id("PNP0A08")));
}

TEST(AcpiTables, RefusesWhatCannotBeEncoded) {
  fdt::MachineDescription d = sample();
  auto small = build_acpi_tables(d, 0xe0000, 0xe0100);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code, E2BIG);
  d.cpus = 0;
  EXPECT_FALSE(build_acpi_tables(d, 0xe0000, 0xf0000));
  d.cpus = 1;
  EXPECT_FALSE(build_acpi_tables(d, 0xe0008, 0xf0000)) << "RSDP must be 16-byte aligned";
}

struct Recorder : MachineEvents, InterruptSink {
  int power_off = -1, resets = 0;
  std::vector<std::pair<uint32_t, bool>> irqs;
  void request_power_off(int status) override { power_off = status; }
  void request_reset() override { ++resets; }
  void set_irq(uint32_t gsi, bool level) override { irqs.push_back({gsi, level}); }
  void signal_msi(uint64_t, uint32_t) override {}
};

TEST(AcpiRegisters, PowerButtonRaisesTheGedInterruptUntilTheEventIsRead) {
  Recorder r;
  AcpiRegisters regs(&r, &r, 9);
  EXPECT_EQ(regs.io_read(AcpiRegisters::kGedEvent, 4), 0u);
  EXPECT_TRUE(r.irqs.empty());
  regs.press_power_button();
  ASSERT_EQ(r.irqs.size(), 1u);
  EXPECT_EQ(r.irqs[0], (std::pair<uint32_t, bool>{9, true}));
  EXPECT_EQ(regs.io_read(AcpiRegisters::kGedEvent, 4), AcpiRegisters::kEventPowerButton);
  ASSERT_EQ(r.irqs.size(), 2u);
  EXPECT_EQ(r.irqs[1], (std::pair<uint32_t, bool>{9, false})) << "the read lowers the line";
  EXPECT_EQ(regs.io_read(AcpiRegisters::kGedEvent, 4), 0u) << "and clears the event";
}

TEST(AcpiRegisters, S5PowersOffAndTheResetValueResets) {
  Recorder r;
  AcpiRegisters regs(&r, &r, 9);
  regs.io_write(AcpiRegisters::kSleepControl, 1, kSlpTypS5 << 2);  // SLP_EN clear
  EXPECT_EQ(r.power_off, -1);
  regs.io_write(AcpiRegisters::kSleepControl, 1, (3 << 2) | AcpiRegisters::kSlpEn);  // S3
  EXPECT_EQ(r.power_off, -1);
  regs.io_write(AcpiRegisters::kReset, 1, 0x41);
  EXPECT_EQ(r.resets, 0);
  EXPECT_EQ(regs.io_read(AcpiRegisters::kSleepStatus, 1), 0u);
  regs.io_write(AcpiRegisters::kSleepControl, 1, (kSlpTypS5 << 2) | AcpiRegisters::kSlpEn);
  EXPECT_EQ(r.power_off, 0);
  regs.io_write(AcpiRegisters::kReset, 1, AcpiRegisters::kResetValue);
  EXPECT_EQ(r.resets, 1);
}

}  // namespace
}  // namespace corvid::hw::acpi
