// The multiboot v1 loader on synthetic images: the a.out-kludge layout, the information structure
// a kernel finds through EBX, and a clear error for each malformed header.
#include <gtest/gtest.h>

#include <elf.h>

#include <cstring>
#include <vector>

#include "base/endian.h"
#include "hw/boot/boot_image.h"
#include "hw/x86/memory_map.h"

namespace corvid::hw::boot {
namespace {

constexpr uint32_t kMagic = 0x1badb002;
constexpr uint32_t kLoad = 0x200000;

// A flat image with the header at `at` and address fields (flag 16) describing a load at kLoad.
std::vector<uint8_t> kludge_image(uint32_t flags = 0x10003, size_t at = 64) {
  std::vector<uint8_t> f(0x3000, 0x90);
  uint8_t* h = f.data() + at;
  store_le32(h, kMagic);
  store_le32(h + 4, flags);
  store_le32(h + 8, static_cast<uint32_t>(0u - kMagic - flags));
  store_le32(h + 12, static_cast<uint32_t>(kLoad + at));  // header_addr
  store_le32(h + 16, kLoad);                              // load_addr
  store_le32(h + 20, kLoad + 0x2000);                     // load_end_addr
  store_le32(h + 24, kLoad + 0x4000);                     // bss_end_addr
  store_le32(h + 28, kLoad + 0x100);                      // entry_addr
  return f;
}

struct MultibootFixture : ::testing::Test {
  GuestMemory mem;
  std::vector<uint8_t> initrd = std::vector<uint8_t>(100, 0xab);
  BootInputs in;
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(0, 64 << 20, false));
    in.e820 = x86::e820_map(x86::ram_layout(64 << 20));
    in.low_ram_top = 64 << 20;
    in.kernel_name = "kernel.bin";
    in.cmdline = "console=com1";
  }
  std::string load_error(const std::vector<uint8_t>& f) {
    in.kernel = f;
    auto k = load_kernel(mem, in);
    return k ? "loaded" : k.error().message;
  }
};

TEST_F(MultibootFixture, KludgeImageLoadsAndTheInfoStructureDescribesTheMachine) {
  auto f = kludge_image();
  in.kernel = f;
  in.initrd = initrd;
  in.initrd_name = "/tmp/mod.bin";
  ASSERT_TRUE(mem.fill(kLoad + 0x2000, 0x55, 0x2000));  // bss must come out zeroed
  auto k = load_kernel(mem, in);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->format, "multiboot");
  EXPECT_EQ(k->state.rip, kLoad + 0x100);
  EXPECT_EQ(k->state.rax, 0x2badb002u);
  EXPECT_EQ(k->state.mode, accel::BootState::Mode::kProtected32Flat);
  EXPECT_EQ(k->state.cr0 & 0x80000001u, 1u) << "protected mode, paging off";
  EXPECT_EQ(mem.read_u8(kLoad + 0x1fff).value(), 0x90);
  EXPECT_EQ(mem.read_u8(kLoad + 0x2000).value(), 0);
  EXPECT_EQ(mem.read_u8(kLoad + 0x3fff).value(), 0);

  const uint64_t info = k->state.rbx;
  const uint32_t flags = mem.read_le32(info).value();
  EXPECT_EQ(flags & 0x24d, 0x24du) << "memory, cmdline, modules, mmap, loader name";
  EXPECT_EQ(mem.read_le32(info + 4).value(), 639u) << "below the EBDA";
  EXPECT_EQ(mem.read_le32(info + 8).value(), 63u * 1024);
  char buf[64] = {};
  ASSERT_TRUE(mem.read(mem.read_le32(info + 16).value(), buf, sizeof buf - 1));
  EXPECT_STREQ(buf, "kernel.bin console=com1");
  ASSERT_EQ(mem.read_le32(info + 20).value(), 1u);
  const uint32_t mod = mem.read_le32(info + 24).value();
  const uint32_t start = mem.read_le32(mod).value(), end = mem.read_le32(mod + 4).value();
  EXPECT_EQ(start & 0xfff, 0u);
  EXPECT_EQ(end - start, initrd.size());
  EXPECT_GE(start, kLoad + 0x4000u);
  EXPECT_EQ(mem.read_u8(start).value(), 0xab);
  ASSERT_TRUE(mem.read(mem.read_le32(mod + 8).value(), buf, sizeof buf - 1));
  EXPECT_STREQ(buf, "/tmp/mod.bin");
  // The memory map: 24-byte entries (size 20 + the size field itself), as in the e820 input.
  const uint32_t mmap_len = mem.read_le32(info + 44).value(),
                 mmap = mem.read_le32(info + 48).value();
  ASSERT_EQ(mmap_len, in.e820.size() * 24);
  for (size_t i = 0; i < in.e820.size(); ++i) {
    EXPECT_EQ(mem.read_le32(mmap + i * 24).value(), 20u);
    EXPECT_EQ(mem.read_le64(mmap + i * 24 + 4).value(), in.e820[i].base);
    EXPECT_EQ(mem.read_le64(mmap + i * 24 + 12).value(), in.e820[i].size);
    EXPECT_EQ(mem.read_le32(mmap + i * 24 + 20).value(), static_cast<uint32_t>(in.e820[i].type));
  }
}

// An ELF64 file (QEMU refuses these; the spec only needs the program headers) whose segment is
// linked at a virtual address: the entry is translated through the segment to its physical one.
TEST_F(MultibootFixture, Elf64SegmentsLoadAtTheirPhysicalAddressAndTheEntryIsTranslated) {
  std::vector<uint8_t> f(0x2000, 0);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_entry = 0xffffffff80000000ull + 0x1010;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_offset = 0x1000;
  ph.p_vaddr = 0xffffffff80000000ull + 0x1000;
  ph.p_paddr = 0x300000;
  ph.p_filesz = 0x1000;
  ph.p_memsz = 0x3000;
  std::memcpy(f.data(), &eh, sizeof eh);
  std::memcpy(f.data() + sizeof eh, &ph, sizeof ph);
  // The header (no address fields) within the first 8 KiB, here inside the segment's data.
  store_le32(&f[0x1000], kMagic);
  store_le32(&f[0x1004], 0x2);
  store_le32(&f[0x1008], static_cast<uint32_t>(0u - kMagic - 0x2));
  f[0x1010] = 0xf4;  // hlt at the entry
  in.kernel = f;
  auto k = load_kernel(mem, in);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->format, "multiboot");
  EXPECT_EQ(k->state.rip, 0x300010u);
  EXPECT_EQ(k->kernel_start, 0x300000u);
  EXPECT_EQ(k->kernel_end, 0x303000u);
  EXPECT_EQ(mem.read_u8(0x300010).value(), 0xf4);
  EXPECT_EQ(mem.read_le32(k->state.rbx + 20).value(), 0u) << "no module without --initrd";
  EXPECT_EQ(mem.read_le32(k->state.rbx).value() & (1u << 3), 0u);
}

TEST_F(MultibootFixture, MalformedHeadersAreClearErrors) {
  auto bad_sum = kludge_image();
  store_le32(bad_sum.data() + 64 + 8, 0);
  EXPECT_NE(load_error(bad_sum).find("wrong checksum"), std::string::npos) << load_error(bad_sum);

  EXPECT_NE(load_error(kludge_image(0x10013)).find("unsupported bits 0x10"), std::string::npos);

  auto late = kludge_image(0x10003, 8192);  // past the first 8 KiB: not a multiboot image
  EXPECT_NE(load_error(late).find("no multiboot header in the first 8 KiB"), std::string::npos);

  auto no_fields = kludge_image(0x3);
  EXPECT_NE(load_error(no_fields).find("not ELF"), std::string::npos) << load_error(no_fields);

  auto load_above = kludge_image();
  store_le32(load_above.data() + 64 + 16, kLoad + 0x1000);  // load_addr > header_addr
  EXPECT_NE(load_error(load_above).find("above header_addr"), std::string::npos);

  auto before_file = kludge_image();
  store_le32(before_file.data() + 64 + 16, kLoad - 0x1000);
  EXPECT_NE(load_error(before_file).find("before the file"), std::string::npos);

  auto past_end = kludge_image();
  store_le32(past_end.data() + 64 + 20, kLoad + 0x10000);
  EXPECT_NE(load_error(past_end).find("load_end_addr"), std::string::npos);

  auto short_bss = kludge_image();
  store_le32(short_bss.data() + 64 + 24, kLoad + 0x1000);
  EXPECT_NE(load_error(short_bss).find("bss_end_addr"), std::string::npos);

  // Below 1 MiB only corvid's own boot data and the BIOS area are refused.
  auto low = kludge_image();
  store_le32(low.data() + 64 + 12, 0x7800 + 64);
  store_le32(low.data() + 64 + 16, 0x7800);
  store_le32(low.data() + 64 + 20, 0x9800);
  store_le32(low.data() + 64 + 24, 0xb800);
  EXPECT_NE(load_error(low).find("multiboot information page"), std::string::npos);
  auto bios = kludge_image();
  store_le32(bios.data() + 64 + 12, 0x9f000 + 64);
  store_le32(bios.data() + 64 + 16, 0x9f000);
  store_le32(bios.data() + 64 + 20, 0xa0000);
  store_le32(bios.data() + 64 + 24, 0xa1000);
  EXPECT_NE(load_error(bios).find("BIOS area"), std::string::npos);
  // Where QEMU's -kernel puts kvm-unit-tests' realmode test: accepted, entry and data in place.
  auto realmode = kludge_image();
  store_le32(realmode.data() + 64 + 12, 0x8000 + 64);
  store_le32(realmode.data() + 64 + 16, 0x8000);
  store_le32(realmode.data() + 64 + 20, 0xa000);
  store_le32(realmode.data() + 64 + 24, 0xda30);
  store_le32(realmode.data() + 64 + 28, 0x8100);
  EXPECT_EQ(load_error(realmode), "loaded");
  EXPECT_EQ(mem.read_u8(0x9fff).value(), 0x90);
  EXPECT_EQ(mem.read_u8(0xda2f).value(), 0);

  auto bad_entry = kludge_image();
  store_le32(bad_entry.data() + 64 + 28, 0xf0000000);
  EXPECT_NE(load_error(bad_entry).find("entry"), std::string::npos);

  auto truncated = kludge_image();
  truncated.resize(64 + 20);
  EXPECT_NE(load_error(truncated).find("truncated"), std::string::npos) << load_error(truncated);
}

}  // namespace
}  // namespace corvid::hw::boot
