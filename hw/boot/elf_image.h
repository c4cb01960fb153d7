// The parts of an ELF executable the loaders need (System V ABI, "Program Header"): loadable
// segments, note segments and the entry point, from 32- or 64-bit little-endian files. Every
// offset and size is checked against the file.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "base/result.h"

namespace corvid::hw::boot {

struct ElfSegment {
  uint64_t offset, paddr, vaddr, filesz, memsz;
};

struct ElfImage {
  bool is64 = false;
  uint64_t entry = 0;
  std::vector<ElfSegment> loads;
  std::vector<std::pair<uint64_t, uint64_t>> notes;  // file offset, size
};

bool is_elf(std::span<const uint8_t> file);
Result<ElfImage> parse_elf(std::span<const uint8_t> file);

}  // namespace corvid::hw::boot
