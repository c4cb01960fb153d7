// Multiboot v1 ("Multiboot Specification version 0.6.96"): the header in the first 8192 bytes
// (3.1), loading through the a.out-kludge address fields or ELF program headers, the information
// structure (3.3) and the machine state at entry (3.2): EAX = 0x2BADB002, EBX = the structure,
// 32-bit flat protected mode, paging and interrupts off.
#include <algorithm>
#include <cstring>

#include "base/endian.h"
#include "hw/boot/boot_cpu.h"
#include "hw/boot/boot_image.h"
#include "hw/boot/elf_image.h"
#include "hw/x86/memory_map.h"

namespace corvid::hw::boot {
namespace {

constexpr uint32_t kHeaderMagic = 0x1badb002;
constexpr uint32_t kBootMagic = 0x2badb002;
constexpr uint64_t kSearchLimit = 8192;
// Header flags: bits 0-15 are requirements a loader must refuse if it cannot meet them.
constexpr uint32_t kFlagPageAlignModules = 1u << 0, kFlagMemoryInfo = 1u << 1,
                   kFlagVideoMode = 1u << 2, kFlagAddresses = 1u << 16;
constexpr uint32_t kRequiredMask = 0xffff;
// Video mode (bit 2) is a preference: corvid has no display, and QEMU ignores it likewise.
constexpr uint32_t kSupported = kFlagPageAlignModules | kFlagMemoryInfo | kFlagVideoMode;
// Information structure flags (3.3).
constexpr uint32_t kInfoMemory = 1u << 0, kInfoCmdline = 1u << 2, kInfoModules = 1u << 3,
                   kInfoMmap = 1u << 6, kInfoLoaderName = 1u << 9;

// Where the structures go: the page corvid keeps for boot information, below 1 MiB (images may
// load elsewhere below 1 MiB: kLowReserved).
constexpr uint64_t kInfo = x86::kStartInfo;            // 0x58 bytes used of 0x80
constexpr uint64_t kModules = x86::kStartInfo + 0x80;  // one 16-byte entry
constexpr uint64_t kMmap = x86::kStartInfo + 0x100;    // up to 64 entries of 24 bytes
constexpr uint64_t kLoaderName = x86::kStartInfo + 0xf00;
constexpr size_t kMaxMmap = 64;
constexpr char kName[] = "corvid";

struct Image {
  uint64_t entry = 0;
  uint64_t start = ~0ull, end = 0;
};

// What corvid writes below 1 MiB for a multiboot kernel, and the EBDA/VGA/BIOS area above
// 640 KiB (ACPI and MP tables). Images may load anywhere else there, as QEMU's -kernel allows
// (kvm-unit-tests' realmode test is linked at 0x8000).
struct LowRange {
  uint64_t start, end;
  const char* what;
};
constexpr LowRange kLowReserved[] = {
    {x86::kBootGdt, x86::kBootGdt + 0x100, "corvid's boot GDT"},
    {kInfo & ~0xfffull, (kInfo & ~0xfffull) + 0x1000, "the multiboot information page"},
    {x86::kCmdline, x86::kCmdline + x86::kCmdlineMax, "the command line"},
    {x86::kEbdaStart, x86::kHighMemStart, "the EBDA/VGA/BIOS area (ACPI and MP tables)"},
};

Result<> check_placement(const GuestMemory& memory, uint64_t addr, uint64_t size,
                         const char* what) {
  for (const LowRange& r : kLowReserved) {
    if (addr < r.end && addr + size > r.start)
      return errorf(ENOEXEC, "multiboot: {} [{:#x}, +{:#x}) overlaps {} [{:#x}, {:#x})", what,
                    addr, size, r.what, r.start, r.end);
  }
  if (addr + size > x86::kFourGiB || addr + size < addr)
    return errorf(ENOEXEC, "multiboot: {} [{:#x}, +{:#x}) goes beyond 4 GiB", what, addr, size);
  if (!memory.contains(addr, size))
    return errorf(ENOMEM, "multiboot: {} [{:#x}, +{:#x}) does not fit in guest RAM", what, addr,
                  size);
  return {};
}

// Flag 16: the header's own address fields say where the file goes (3.1.3).
Result<Image> load_aout_kludge(const GuestMemory& memory, std::span<const uint8_t> f,
                               uint64_t header_offset) {
  if (f.size() - header_offset < 32)
    return make_error(ENOEXEC, "multiboot: header with address fields (flag 16) is truncated");
  const uint8_t* h = f.data() + header_offset;
  const uint32_t header_addr = load_le32(h + 12), load_addr = load_le32(h + 16),
                 load_end_addr = load_le32(h + 20), bss_end_addr = load_le32(h + 24),
                 entry_addr = load_le32(h + 28);
  if (load_addr > header_addr)
    return errorf(ENOEXEC, "multiboot: load_addr {:#x} is above header_addr {:#x}", load_addr,
                  header_addr);
  if (header_addr - load_addr > header_offset)
    return errorf(ENOEXEC,
                  "multiboot: load_addr {:#x} would start {:#x} bytes before the file (header at "
                  "offset {:#x}, header_addr {:#x})",
                  load_addr, header_addr - load_addr - header_offset, header_offset, header_addr);
  const uint64_t file_offset = header_offset - (header_addr - load_addr);
  uint64_t size = f.size() - file_offset;
  if (load_end_addr != 0) {
    if (load_end_addr < load_addr)
      return errorf(ENOEXEC, "multiboot: load_end_addr {:#x} is below load_addr {:#x}",
                    load_end_addr, load_addr);
    if (load_end_addr - load_addr > size)
      return errorf(ENOEXEC,
                    "multiboot: load_end_addr {:#x} asks for {:#x} bytes; the file has {:#x} from "
                    "the load offset",
                    load_end_addr, load_end_addr - load_addr, size);
    size = load_end_addr - load_addr;
  }
  uint64_t mem_end = uint64_t{load_addr} + size;
  if (bss_end_addr != 0) {
    if (bss_end_addr < mem_end)
      return errorf(ENOEXEC, "multiboot: bss_end_addr {:#x} is below the end of the data {:#x}",
                    bss_end_addr, mem_end);
    mem_end = bss_end_addr;
  }
  CORVID_TRY_VOID(check_placement(memory, load_addr, mem_end - load_addr, "image"));
  CORVID_TRY_VOID(memory.write(load_addr, f.data() + file_offset, size));
  CORVID_TRY_VOID(memory.fill(load_addr + size, 0, mem_end - load_addr - size));
  return Image{entry_addr, load_addr, mem_end};
}

// Without flag 16 the file must be ELF: segments go to their physical addresses; the entry
// (a virtual address) is translated through the segment that holds it.
Result<Image> load_elf_segments(const GuestMemory& memory, std::span<const uint8_t> f) {
  if (!is_elf(f))
    return make_error(ENOEXEC,
                      "multiboot: the header has no address fields (flag 16) and the file is not "
                      "ELF, so there is no way to know where it loads");
  auto elf = parse_elf(f);
  if (!elf) return tl::unexpected(with_context(elf.error(), "multiboot"));
  Image img;
  img.entry = elf->entry;
  bool entry_mapped = false;
  for (const auto& s : elf->loads) {
    if (s.memsz == 0) continue;
    CORVID_TRY_VOID(check_placement(memory, s.paddr, s.memsz, "ELF segment"));
    CORVID_TRY_VOID(memory.write(s.paddr, f.data() + s.offset, s.filesz));
    CORVID_TRY_VOID(memory.fill(s.paddr + s.filesz, 0, s.memsz - s.filesz));
    img.start = std::min(img.start, s.paddr);
    img.end = std::max(img.end, s.paddr + s.memsz);
    if (!entry_mapped && elf->entry >= s.vaddr && elf->entry - s.vaddr < s.memsz) {
      img.entry = s.paddr + (elf->entry - s.vaddr);
      entry_mapped = true;
    }
  }
  if (img.end == 0) return make_error(ENOEXEC, "multiboot: ELF has no loadable segment");
  return img;
}

}  // namespace

MultibootProbe probe_multiboot(std::span<const uint8_t> f) {
  MultibootProbe p;
  const uint64_t limit = std::min<uint64_t>(f.size(), kSearchLimit);
  for (uint64_t off = 0; off + 12 <= limit; off += 4) {
    if (load_le32(&f[off]) != kHeaderMagic) continue;
    const uint32_t flags = load_le32(&f[off + 4]), checksum = load_le32(&f[off + 8]);
    if (static_cast<uint32_t>(kHeaderMagic + flags + checksum) == 0) {
      p.found = true;
      p.offset = off;
      return p;
    }
    if (!p.bad_checksum) {
      p.bad_checksum = true;
      p.offset = off;
    }
  }
  return p;
}

Result<LoadedKernel> load_multiboot(const GuestMemory& memory, const BootInputs& in,
                                    uint64_t header_offset) {
  auto f = in.kernel;
  if (header_offset + 12 > f.size()) return make_error(ENOEXEC, "multiboot: header truncated");
  const uint32_t flags = load_le32(&f[header_offset + 4]);
  if (uint32_t unknown = flags & kRequiredMask & ~kSupported)
    return errorf(ENOEXEC,
                  "multiboot: the header requires features corvid does not provide (flags "
                  "{:#x}, unsupported bits {:#x}; supported: 0 page-aligned modules, 1 memory "
                  "information, 2 video mode (ignored))",
                  flags, unknown);
  Image img = (flags & kFlagAddresses) ? CORVID_TRY(load_aout_kludge(memory, f, header_offset))
                                       : CORVID_TRY(load_elf_segments(memory, f));
  if (!memory.contains(img.entry, 1) || img.entry >= x86::kFourGiB)
    return errorf(ENOEXEC, "multiboot: entry {:#x} is not in guest RAM below 4 GiB", img.entry);

  LoadedKernel k;
  k.format = "multiboot";
  k.kernel_start = img.start;
  k.kernel_end = img.end;

  uint32_t info_flags = kInfoMemory | kInfoCmdline | kInfoMmap | kInfoLoaderName;
  // The command line starts with the kernel's file name, as GRUB and QEMU pass it (kernels such
  // as Xen skip that first word); the module's string (its file name) follows it.
  const std::string full_cmdline = in.kernel_name + (in.cmdline.empty() ? "" : " " + in.cmdline);
  const uint64_t cmdline = CORVID_TRY(write_cmdline(memory, full_cmdline, x86::kCmdlineMax));
  CORVID_TRY_VOID(memory.fill(kInfo, 0, 0x1000 - (kInfo & 0xfff)));
  if (!in.initrd.empty()) {
    info_flags |= kInfoModules;
    // place_below aligns to 4 KiB, which also meets flag 0's page alignment.
    k.initrd_addr = CORVID_TRY(
        place_below(memory, in.initrd, in.low_ram_top, k.kernel_end, "multiboot module"));
    const uint64_t name = cmdline + full_cmdline.size() + 1;
    if (name + in.initrd_name.size() + 1 > x86::kCmdline + x86::kCmdlineMax)
      return make_error(E2BIG, "multiboot: command line and module name do not fit in 64 KiB");
    CORVID_TRY_VOID(memory.write(name, in.initrd_name.c_str(), in.initrd_name.size() + 1));
    CORVID_TRY_VOID(memory.write_le32(kModules, static_cast<uint32_t>(k.initrd_addr)));
    CORVID_TRY_VOID(
        memory.write_le32(kModules + 4, static_cast<uint32_t>(k.initrd_addr + in.initrd.size())));
    CORVID_TRY_VOID(memory.write_le32(kModules + 8, static_cast<uint32_t>(name)));
    CORVID_TRY_VOID(memory.write_le32(kInfo + 20, 1));
    CORVID_TRY_VOID(memory.write_le32(kInfo + 24, static_cast<uint32_t>(kModules)));
  }

  // mem_lower: KiB of RAM from 0 (at most 640); mem_upper: KiB of RAM from 1 MiB up to the first
  // hole. Both from the same e820 description as the memory map.
  if (in.e820.size() > kMaxMmap) return errorf(E2BIG, "{} memory map entries", in.e820.size());
  uint64_t mem_lower = 0, mem_upper = 0;
  for (size_t i = 0; i < in.e820.size(); ++i) {
    const auto& e = in.e820[i];
    const bool ram = e.type == fdt::MemoryRange::Type::kRam;
    if (ram && e.base == 0) mem_lower = std::min<uint64_t>(e.size, 640 << 10) >> 10;
    if (ram && e.base == x86::kHighMemStart)
      mem_upper = std::min<uint64_t>(e.size >> 10, 0xffffffff);
    // Each entry: size (of the rest, 20), base_addr, length, type (3.3, "mmap_*").
    const uint64_t m = kMmap + i * 24;
    CORVID_TRY_VOID(memory.write_le32(m, 20));
    CORVID_TRY_VOID(memory.write_le64(m + 4, e.base));
    CORVID_TRY_VOID(memory.write_le64(m + 12, e.size));
    CORVID_TRY_VOID(memory.write_le32(m + 20, static_cast<uint32_t>(e.type)));
  }
  CORVID_TRY_VOID(memory.write(kLoaderName, kName, sizeof kName));
  CORVID_TRY_VOID(memory.write_le32(kInfo + 0, info_flags));
  CORVID_TRY_VOID(memory.write_le32(kInfo + 4, static_cast<uint32_t>(mem_lower)));
  CORVID_TRY_VOID(memory.write_le32(kInfo + 8, static_cast<uint32_t>(mem_upper)));
  CORVID_TRY_VOID(memory.write_le32(kInfo + 16, static_cast<uint32_t>(cmdline)));
  CORVID_TRY_VOID(memory.write_le32(kInfo + 44, static_cast<uint32_t>(in.e820.size() * 24)));
  CORVID_TRY_VOID(memory.write_le32(kInfo + 48, static_cast<uint32_t>(kMmap)));
  CORVID_TRY_VOID(memory.write_le32(kInfo + 64, static_cast<uint32_t>(kLoaderName)));

  k.state = CORVID_TRY(protected_mode_entry(memory, img.entry));
  k.state.rax = kBootMagic;
  k.state.rbx = kInfo;
  return k;
}

}  // namespace corvid::hw::boot
