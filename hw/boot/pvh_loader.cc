// PVH boot: ELF program headers, the Xen PHYS32_ENTRY note and struct hvm_start_info
// (xen/include/public/arch-x86/hvm/start_info.h; Linux's arch/x86/platform/pvh).
#include <cstring>

#include "base/endian.h"
#include "hw/boot/boot_cpu.h"
#include "hw/boot/boot_image.h"
#include "hw/boot/elf_image.h"
#include "hw/x86/memory_map.h"

namespace corvid::hw::boot {
namespace {

constexpr uint32_t kXenElfnotePhys32Entry = 18;
constexpr uint32_t kHvmStartMagic = 0x336ec578;
constexpr uint64_t kModlist = x86::kStartInfo + 0x40;  // up to 8 entries of 32 bytes
constexpr uint64_t kMemmap = x86::kStartInfo + 0x200;  // up to 64 entries of 24 bytes
constexpr size_t kMaxMemmap = 64;

// Finds XEN_ELFNOTE_PHYS32_ENTRY (ELF note format: namesz, descsz, type, name, desc; each
// 4-byte aligned).
Result<uint64_t> find_pvh_entry(std::span<const uint8_t> f, const ElfImage& info) {
  for (auto [off, size] : info.notes) {
    uint64_t pos = off, end = off + size;
    while (end - pos >= 12) {
      uint32_t namesz = load_le32(&f[pos]), descsz = load_le32(&f[pos + 4]),
               type = load_le32(&f[pos + 8]);
      uint64_t name = pos + 12;
      uint64_t desc = name + ((uint64_t{namesz} + 3) & ~3ull);
      uint64_t next = desc + ((uint64_t{descsz} + 3) & ~3ull);
      if (next > end) break;
      if (namesz == 4 && std::memcmp(&f[name], "Xen", 4) == 0 && type == kXenElfnotePhys32Entry) {
        if (descsz == 4) return load_le32(&f[desc]);
        if (descsz == 8) return load_le64(&f[desc]);
        return errorf(ENOEXEC, "ELF: PVH entry note has {} bytes of payload", descsz);
      }
      pos = next;
    }
  }
  return make_error(ENOEXEC,
                    "ELF has no PVH entry note (Xen ELF note 18, XEN_ELFNOTE_PHYS32_ENTRY)");
}

}  // namespace

Result<LoadedKernel> load_pvh_elf(const GuestMemory& memory, const BootInputs& in) {
  auto info = CORVID_TRY(parse_elf(in.kernel));
  uint64_t entry = CORVID_TRY(find_pvh_entry(in.kernel, info));
  LoadedKernel k;
  k.format = "pvh";
  k.kernel_start = ~0ull;
  for (const auto& s : info.loads) {
    if (s.memsz == 0) continue;
    if (s.paddr < x86::kHighMemStart)
      return errorf(ENOEXEC, "ELF segment at {:#x} is below 1 MiB, where corvid keeps boot data",
                    s.paddr);
    if (!memory.contains(s.paddr, s.memsz))
      return errorf(ENOMEM, "ELF segment [{:#x}, +{:#x}) does not fit in guest RAM", s.paddr,
                    s.memsz);
    CORVID_TRY_VOID(memory.write(s.paddr, in.kernel.data() + s.offset, s.filesz));
    CORVID_TRY_VOID(memory.fill(s.paddr + s.filesz, 0, s.memsz - s.filesz));
    k.kernel_start = std::min(k.kernel_start, s.paddr);
    k.kernel_end = std::max(k.kernel_end, s.paddr + s.memsz);
  }
  if (k.kernel_end == 0) return make_error(ENOEXEC, "ELF has no loadable segment");
  if (!memory.contains(entry, 1))
    return errorf(ENOEXEC, "PVH entry {:#x} is not in guest RAM", entry);

  // Modules: the initrd first (Linux takes modlist[0] as its initrd), then the device tree.
  uint64_t top = in.low_ram_top;
  std::vector<std::pair<uint64_t, uint64_t>> modules;
  if (!in.initrd.empty()) {
    k.initrd_addr = CORVID_TRY(place_below(memory, in.initrd, top, k.kernel_end, "initrd"));
    modules.emplace_back(k.initrd_addr, in.initrd.size());
    top = k.initrd_addr;
  }
  if (!in.dtb.empty()) {
    k.dtb_addr = CORVID_TRY(place_below(memory, in.dtb, top, k.kernel_end, "device tree"));
    modules.emplace_back(k.dtb_addr, in.dtb.size());
  }
  if (in.e820.size() > kMaxMemmap) return errorf(E2BIG, "{} memory map entries", in.e820.size());

  uint64_t cmdline = CORVID_TRY(write_cmdline(memory, in.cmdline, x86::kCmdlineMax));
  CORVID_TRY_VOID(memory.fill(x86::kStartInfo, 0, 0x1000 - (x86::kStartInfo & 0xfff)));
  const uint64_t si = x86::kStartInfo;
  CORVID_TRY_VOID(memory.write_le32(si + 0, kHvmStartMagic));
  CORVID_TRY_VOID(memory.write_le32(si + 4, 1));  // version 1: has the memory map
  CORVID_TRY_VOID(memory.write_le32(si + 12, static_cast<uint32_t>(modules.size())));
  CORVID_TRY_VOID(memory.write_le64(si + 16, modules.empty() ? 0 : kModlist));
  CORVID_TRY_VOID(memory.write_le64(si + 24, cmdline));
  CORVID_TRY_VOID(memory.write_le64(si + 32, in.rsdp_addr));
  CORVID_TRY_VOID(memory.write_le64(si + 40, kMemmap));
  CORVID_TRY_VOID(memory.write_le32(si + 48, static_cast<uint32_t>(in.e820.size())));
  for (size_t i = 0; i < modules.size(); ++i) {
    CORVID_TRY_VOID(memory.write_le64(kModlist + i * 32, modules[i].first));
    CORVID_TRY_VOID(memory.write_le64(kModlist + i * 32 + 8, modules[i].second));
  }
  for (size_t i = 0; i < in.e820.size(); ++i) {
    CORVID_TRY_VOID(memory.write_le64(kMemmap + i * 24, in.e820[i].base));
    CORVID_TRY_VOID(memory.write_le64(kMemmap + i * 24 + 8, in.e820[i].size));
    CORVID_TRY_VOID(
        memory.write_le32(kMemmap + i * 24 + 16, static_cast<uint32_t>(in.e820[i].type)));
  }
  k.state = CORVID_TRY(protected_mode_entry(memory, entry));
  k.state.rbx = si;
  return k;
}

Result<uint64_t> write_cmdline(const GuestMemory& memory, const std::string& cmdline,
                               uint64_t max) {
  if (cmdline.size() + 1 > max)
    return errorf(E2BIG, "kernel command line of {} bytes exceeds the limit of {}", cmdline.size(),
                  max - 1);
  CORVID_TRY_VOID(memory.write(x86::kCmdline, cmdline.c_str(), cmdline.size() + 1));
  return x86::kCmdline;
}

Result<uint64_t> place_below(const GuestMemory& memory, std::span<const uint8_t> data, uint64_t top,
                             uint64_t floor, const char* what) {
  const uint64_t size = (data.size() + 0xfff) & ~0xfffull;
  if (size > top || ((top - size) & ~0xfffull) < floor)
    return errorf(ENOMEM,
                  "{} of {} bytes does not fit in guest RAM below {:#x} (kernel ends at {:#x})",
                  what, data.size(), top, floor);
  uint64_t addr = (top - size) & ~0xfffull;
  CORVID_TRY_VOID(memory.write(addr, data.data(), data.size()));
  return addr;
}

Result<LoadedKernel> load_kernel(const GuestMemory& memory, const BootInputs& in) {
  if (in.kernel.size() >= 0x206 && std::memcmp(&in.kernel[0x202], "HdrS", 4) == 0)
    return load_bzimage(memory, in);
  const MultibootProbe mb = probe_multiboot(in.kernel);
  if (mb.found) return load_multiboot(memory, in, mb.offset);
  const std::string bad_mb =
      mb.bad_checksum
          ? fmt::format(
                "multiboot magic 0x1badb002 at offset {:#x} has a wrong checksum (magic + "
                "flags + checksum must be 0 mod 2^32)",
                mb.offset)
          : "";
  if (is_elf(in.kernel)) {
    auto pvh = load_pvh_elf(memory, in);
    if (!pvh && !bad_mb.empty()) return tl::unexpected(with_context(pvh.error(), bad_mb));
    return pvh;
  }
  if (!bad_mb.empty()) return make_error(ENOEXEC, bad_mb);
  return make_error(
      ENOEXEC,
      "neither a PVH ELF image nor a Linux bzImage nor a multiboot image (no ELF magic, "
      "no 'HdrS' boot header at 0x202, no multiboot header in the first 8 KiB)");
}

}  // namespace corvid::hw::boot
