// The x86 board's encoders and loaders: e820 layout, MP table, PVH and bzImage loading.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>

#include "base/endian.h"
#include "hw/boot/boot_image.h"
#include "hw/x86/memory_map.h"
#include "hw/x86/mptable.h"

namespace corvid::hw {
namespace {

using fdt::MemoryRange;

GuestMemory make_memory(uint64_t size) {
  GuestMemory m;
  EXPECT_TRUE(m.add_ram(0, size, false));
  return m;
}

TEST(E820, LowRamIsSplitAroundTheLegacyHoleAndHighRamStartsAt4GiB) {
  auto map = x86::e820_map(x86::ram_layout(4ull << 30));  // 4 GiB: 3 GiB low, 1 GiB high
  ASSERT_GE(map.size(), 5u);
  EXPECT_EQ(map[0].base, 0u);
  EXPECT_EQ(map[0].size, x86::kEbdaStart);
  EXPECT_EQ(map[0].type, MemoryRange::Type::kRam);
  uint64_t ram = 0;
  for (size_t i = 0; i < map.size(); ++i) {
    if (i) {
      EXPECT_GE(map[i].base, map[i - 1].base + map[i - 1].size) << "sorted, no overlap";
    }
    if (map[i].type == MemoryRange::Type::kRam) ram += map[i].size;
  }
  EXPECT_EQ(map.back().base, x86::kFourGiB);
  EXPECT_EQ(map.back().size, 1ull << 30);
  // Everything but the EBDA and the 0xa0000-0x100000 legacy area is usable RAM.
  EXPECT_EQ(ram, (4ull << 30) - (x86::kHighMemStart - x86::kEbdaStart));
}

uint8_t sum(const std::vector<uint8_t>& v) {
  uint8_t s = 0;
  for (uint8_t b : v) s = static_cast<uint8_t>(s + b);
  return s;
}

TEST(MpTable, ChecksumsAreZeroAndEveryCpuIsListed) {
  fdt::MachineDescription m;
  m.cpus = 3;
  m.pci.present = true;
  m.pci.intx_gsis = {20, 21, 22, 23};
  m.pci.devices.push_back({1, 0x1af4, 0x1042, "virtio-blk"});
  auto t = x86::encode_mptable(m, 0x806f8, 0x178bfbff);
  ASSERT_TRUE(t);
  EXPECT_EQ(std::memcmp(t->floating.data(), "_MP_", 4), 0);
  EXPECT_EQ(sum(t->floating), 0);
  EXPECT_EQ(load_le32(&t->floating[4]), x86::kMpConfigTable);
  EXPECT_EQ(std::memcmp(t->config.data(), "PCMP", 4), 0);
  EXPECT_EQ(sum(t->config), 0);
  EXPECT_EQ(load_le16(&t->config[4]), t->config.size());
  // Entries: 3 CPUs + 2 buses + IOAPIC + 16 ISA IRQs + 4 PCI pins + 2 local interrupts.
  EXPECT_EQ(load_le16(&t->config[34]), 3 + 2 + 1 + 16 + 4 + 2);
  // First processor entry: type 0, APIC ID 0, enabled + BSP.
  EXPECT_EQ(t->config[44], 0);
  EXPECT_EQ(t->config[45], 0);
  EXPECT_EQ(t->config[47], 0x3);
  EXPECT_EQ(t->config[44 + 20 + 3], 0x1) << "an AP is enabled, not BSP";
}

TEST(MpTable, RefusesMoreCpusThanApicIds) {
  fdt::MachineDescription m;
  m.cpus = 300;
  EXPECT_FALSE(x86::encode_mptable(m, 0, 0));
}

TEST(PciIntx, SwizzlesPinsAcrossTheFourLines) {
  fdt::PciHostDesc pci;
  pci.intx_gsis = {20, 21, 22, 23};
  EXPECT_EQ(x86::pci_intx_gsi(pci, 0, 1), 20u);
  EXPECT_EQ(x86::pci_intx_gsi(pci, 1, 1), 21u);
  EXPECT_EQ(x86::pci_intx_gsi(pci, 3, 2), 20u);
  EXPECT_EQ(x86::pci_intx_gsi(pci, 1, 0), 0u) << "no pin, no GSI";
}

// A minimal PVH ELF: one PT_LOAD of `code` at `paddr` with memsz > filesz, and a PT_NOTE with
// the Xen PHYS32_ENTRY note.
std::vector<uint8_t> make_pvh_elf(uint64_t paddr, uint32_t entry, std::vector<uint8_t> code,
                                  uint64_t memsz) {
  std::vector<uint8_t> f(0x200, 0);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 2;
  std::memcpy(f.data(), &eh, sizeof eh);
  Elf64_Phdr load{}, note{};
  load.p_type = PT_LOAD;
  load.p_offset = 0x100;
  load.p_paddr = paddr;
  load.p_filesz = code.size();
  load.p_memsz = memsz;
  note.p_type = PT_NOTE;
  note.p_offset = 0x180;
  note.p_filesz = 20;
  std::memcpy(&f[sizeof eh], &load, sizeof load);
  std::memcpy(&f[sizeof eh + sizeof load], &note, sizeof note);
  std::memcpy(&f[0x100], code.data(), code.size());
  store_le32(&f[0x180], 4);   // namesz
  store_le32(&f[0x184], 4);   // descsz
  store_le32(&f[0x188], 18);  // XEN_ELFNOTE_PHYS32_ENTRY
  std::memcpy(&f[0x18c], "Xen", 4);
  store_le32(&f[0x190], entry);
  return f;
}

TEST(PvhLoader, LoadsSegmentsZeroesBssAndFillsStartInfo) {
  GuestMemory mem = make_memory(16 << 20);
  ASSERT_TRUE(mem.fill(0x100000, 0xee, 0x3000));
  auto elf = make_pvh_elf(0x100000, 0x100010, {1, 2, 3, 4}, 0x2000);
  std::vector<uint8_t> dtb(100, 0xd0);
  boot::BootInputs in;
  in.kernel = elf;
  in.cmdline = "hello=1";
  in.dtb = dtb;
  in.e820 = x86::e820_map(x86::ram_layout(16 << 20));
  in.low_ram_top = 16 << 20;
  auto k = boot::load_kernel(mem, in);
  ASSERT_TRUE(k) << k.error().to_string();
  EXPECT_EQ(k->format, "pvh");
  EXPECT_EQ(k->state.rip, 0x100010u);
  EXPECT_EQ(k->state.mode, accel::BootState::Mode::kProtected32Flat);
  EXPECT_EQ(*mem.read_u8(0x100003), 4);
  EXPECT_EQ(*mem.read_u8(0x100004), 0) << "bss zeroed";
  EXPECT_EQ(*mem.read_u8(0x101fff), 0);
  EXPECT_EQ(*mem.read_u8(0x102000), 0xee) << "nothing past memsz";
  const uint64_t si = k->state.rbx;
  EXPECT_EQ(*mem.read_le32(si), 0x336ec578u);
  EXPECT_EQ(*mem.read_le32(si + 12), 1u) << "one module: the device tree";
  uint64_t modlist = *mem.read_le64(si + 16);
  EXPECT_EQ(*mem.read_le64(modlist), k->dtb_addr);
  EXPECT_EQ(*mem.read_le64(modlist + 8), dtb.size());
  EXPECT_EQ(*mem.read_u8(k->dtb_addr), 0xd0);
  char cmd[8] = {};
  ASSERT_TRUE(mem.read(*mem.read_le64(si + 24), cmd, 8));
  EXPECT_STREQ(cmd, "hello=1");
  EXPECT_EQ(*mem.read_le32(si + 48), in.e820.size());
}

TEST(PvhLoader, RejectsMalformedImages) {
  GuestMemory mem = make_memory(16 << 20);
  boot::BootInputs in;
  in.low_ram_top = 16 << 20;
  auto good = make_pvh_elf(0x100000, 0x100000, {1}, 1);

  auto truncated = good;
  truncated.resize(40);
  in.kernel = truncated;
  EXPECT_FALSE(boot::load_kernel(mem, in));

  auto past_end = good;  // segment data beyond the file
  store_le64(&past_end[sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_filesz)], 0x10000);
  in.kernel = past_end;
  auto r = boot::load_kernel(mem, in);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("outside the file"), std::string::npos) << r.error().message;

  auto low = make_pvh_elf(0x7000, 0x7000, {1}, 1);  // over corvid's boot data
  in.kernel = low;
  EXPECT_FALSE(boot::load_kernel(mem, in));

  auto huge = make_pvh_elf(0x100000, 0x100000, {1}, 64ull << 20);  // larger than RAM
  in.kernel = huge;
  EXPECT_FALSE(boot::load_kernel(mem, in));

  auto no_note = good;
  store_le32(&no_note[0x188], 17);
  in.kernel = no_note;
  r = boot::load_kernel(mem, in);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("PVH entry note"), std::string::npos);
}

// A synthetic bzImage: setup header fields as the boot protocol defines them.
std::vector<uint8_t> make_bzimage(uint16_t version, uint16_t xloadflags) {
  std::vector<uint8_t> f(0x1000 + 0x800, 0);
  f[0x1f1] = 3;  // setup_sects: setup is 4 sectors (0x800 bytes)
  store_le16(&f[0x1fe], 0xaa55);
  f[0x201] = 0x66;  // header ends at 0x202 + 0x66
  std::memcpy(&f[0x202], "HdrS", 4);
  store_le16(&f[0x206], version);
  f[0x211] = 0x01;  // LOADED_HIGH
  store_le32(&f[0x22c], 0x7fffffff);
  store_le16(&f[0x236], xloadflags);
  store_le32(&f[0x238], 2048);
  store_le32(&f[0x260], 0x10000);  // init_size
  f[0x800] = 0x90;                 // first byte of the protected-mode kernel
  return f;
}

TEST(LinuxLoader, FillsTheZeroPageAndEntersLongMode) {
  GuestMemory mem = make_memory(64 << 20);
  auto bz = make_bzimage(0x20f, 0x1);
  std::vector<uint8_t> initrd(5000, 0xab), dtb(64, 0xdd);
  boot::BootInputs in;
  in.kernel = bz;
  in.cmdline = "console=ttyS0";
  in.initrd = initrd;
  in.dtb = dtb;
  in.e820 = x86::e820_map(x86::ram_layout(64 << 20));
  in.low_ram_top = 64 << 20;
  auto k = boot::load_kernel(mem, in);
  ASSERT_TRUE(k) << k.error().to_string();
  EXPECT_EQ(k->format, "bzImage");
  EXPECT_EQ(k->state.mode, accel::BootState::Mode::kLong64);
  EXPECT_EQ(k->state.rip, 0x100200u);
  EXPECT_EQ(k->state.code_selector, 0x10);
  EXPECT_EQ(k->state.data_selector, 0x18);
  const uint64_t zp = k->state.rsi;
  EXPECT_EQ(*mem.read_u8(0x100000), 0x90);
  EXPECT_EQ(*mem.read_le16(zp + 0x1fe), 0xaa55) << "setup header copied";
  EXPECT_EQ(*mem.read_u8(zp + 0x210), 0xff) << "type_of_loader";
  EXPECT_EQ(*mem.read_u8(zp + 0x211) & 0x80, 0x80) << "CAN_USE_HEAP";
  EXPECT_EQ(*mem.read_u8(zp + 0x1e8), in.e820.size());
  EXPECT_EQ(*mem.read_le64(zp + 0x2d0 + 20 * 3 + 8), (64u << 20) - 0x100000)
      << "e820[3] = RAM from 1 MiB";
  uint32_t ramdisk = *mem.read_le32(zp + 0x218);
  EXPECT_EQ(ramdisk, k->initrd_addr);
  EXPECT_EQ(ramdisk % 4096, 0u);
  EXPECT_GE(ramdisk + initrd.size(), (64u << 20) - 8192) << "initrd at the top of low memory";
  EXPECT_EQ(*mem.read_le32(zp + 0x21c), initrd.size());
  uint64_t sd = *mem.read_le64(zp + 0x250);
  EXPECT_EQ(*mem.read_le32(sd + 8), 2u) << "SETUP_DTB";
  EXPECT_EQ(*mem.read_le32(sd + 12), dtb.size());
  EXPECT_EQ(*mem.read_u8(sd + 16), 0xdd);
  char cmd[14] = {};
  ASSERT_TRUE(mem.read(*mem.read_le32(zp + 0x228), cmd, 14));
  EXPECT_STREQ(cmd, "console=ttyS0");
  // Identity map: PML4[0] -> PDPT, PD entry 1 maps 2 MiB..4 MiB.
  EXPECT_EQ(*mem.read_le64(k->state.cr3) & ~0xfffull, k->state.cr3 + 0x1000);
  EXPECT_EQ(*mem.read_le64(k->state.cr3 + 0x2000 + 8), 0x200000u | 0x83);
}

TEST(LinuxLoader, RejectsOldProtocolsAnd32BitOnlyKernels) {
  GuestMemory mem = make_memory(64 << 20);
  boot::BootInputs in;
  in.low_ram_top = 64 << 20;
  auto old = make_bzimage(0x20b, 0x1);
  in.kernel = old;
  auto r = boot::load_kernel(mem, in);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("too old"), std::string::npos);
  auto no64 = make_bzimage(0x20f, 0);
  in.kernel = no64;
  r = boot::load_kernel(mem, in);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("64-bit"), std::string::npos);
  auto longcmd = make_bzimage(0x20f, 0x1);
  in.kernel = longcmd;
  in.cmdline.assign(3000, 'x');
  EXPECT_FALSE(boot::load_kernel(mem, in)) << "longer than cmdline_size";
}

}  // namespace
}  // namespace corvid::hw
