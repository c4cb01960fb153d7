#include "hw/boot/elf_image.h"

#include <elf.h>

#include <cstddef>
#include <cstring>

#include "base/endian.h"

namespace corvid::hw::boot {
namespace {

bool in_file(std::span<const uint8_t> f, uint64_t off, uint64_t len) {
  return off <= f.size() && len <= f.size() - off;
}

}  // namespace

bool is_elf(std::span<const uint8_t> f) {
  return f.size() >= SELFMAG && std::memcmp(f.data(), ELFMAG, SELFMAG) == 0;
}

Result<ElfImage> parse_elf(std::span<const uint8_t> f) {
  if (f.size() < EI_NIDENT || !is_elf(f)) return make_error(ENOEXEC, "not an ELF file");
  ElfImage img;
  img.is64 = f[EI_CLASS] == ELFCLASS64;
  if (!img.is64 && f[EI_CLASS] != ELFCLASS32) return make_error(ENOEXEC, "ELF: unknown class");
  if (f[EI_DATA] != ELFDATA2LSB) return make_error(ENOEXEC, "ELF: not little-endian");
  const bool is64 = img.is64;
  const size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (f.size() < ehsize) return make_error(ENOEXEC, "ELF: truncated header");
  const uint8_t* p = f.data();
  uint64_t phoff, phentsize, phnum;
  if (is64) {
    img.entry = load_le64(p + offsetof(Elf64_Ehdr, e_entry));
    phoff = load_le64(p + offsetof(Elf64_Ehdr, e_phoff));
    phentsize = load_le16(p + offsetof(Elf64_Ehdr, e_phentsize));
    phnum = load_le16(p + offsetof(Elf64_Ehdr, e_phnum));
  } else {
    img.entry = load_le32(p + offsetof(Elf32_Ehdr, e_entry));
    phoff = load_le32(p + offsetof(Elf32_Ehdr, e_phoff));
    phentsize = load_le16(p + offsetof(Elf32_Ehdr, e_phentsize));
    phnum = load_le16(p + offsetof(Elf32_Ehdr, e_phnum));
  }
  const size_t want = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  if (phentsize < want) return errorf(ENOEXEC, "ELF: program header size {} too small", phentsize);
  if (phnum == 0 || !in_file(f, phoff, phnum * phentsize))
    return make_error(ENOEXEC, "ELF: program headers outside the file");
  for (uint64_t i = 0; i < phnum; ++i) {
    const uint8_t* ph = p + phoff + i * phentsize;
    uint32_t type;
    ElfSegment s{};
    if (is64) {
      type = load_le32(ph + offsetof(Elf64_Phdr, p_type));
      s = {load_le64(ph + offsetof(Elf64_Phdr, p_offset)),
           load_le64(ph + offsetof(Elf64_Phdr, p_paddr)),
           load_le64(ph + offsetof(Elf64_Phdr, p_vaddr)),
           load_le64(ph + offsetof(Elf64_Phdr, p_filesz)),
           load_le64(ph + offsetof(Elf64_Phdr, p_memsz))};
    } else {
      type = load_le32(ph + offsetof(Elf32_Phdr, p_type));
      s = {load_le32(ph + offsetof(Elf32_Phdr, p_offset)),
           load_le32(ph + offsetof(Elf32_Phdr, p_paddr)),
           load_le32(ph + offsetof(Elf32_Phdr, p_vaddr)),
           load_le32(ph + offsetof(Elf32_Phdr, p_filesz)),
           load_le32(ph + offsetof(Elf32_Phdr, p_memsz))};
    }
    if (type == PT_LOAD) {
      if (!in_file(f, s.offset, s.filesz))
        return errorf(ENOEXEC, "ELF: segment {} data [{:#x}, +{:#x}) lies outside the file", i,
                      s.offset, s.filesz);
      if (s.filesz > s.memsz)
        return errorf(ENOEXEC, "ELF: segment {} file size {:#x} exceeds its memory size {:#x}", i,
                      s.filesz, s.memsz);
      img.loads.push_back(s);
    } else if (type == PT_NOTE) {
      if (!in_file(f, s.offset, s.filesz))
        return errorf(ENOEXEC, "ELF: note segment {} outside the file", i);
      img.notes.emplace_back(s.offset, s.filesz);
    }
  }
  return img;
}

}  // namespace corvid::hw::boot
