// The softmmu fast paths: one TLB compare (the tag's low bits route MMIO, code pages and empty
// entries to the slow path), one page-crossing test, then a host access.
#pragma once

#include <cstring>

#include "tcg/cpu.h"

namespace corvid::tcg {

template <unsigned N>
inline uint64_t Cpu::load(uint64_t va, const Op* op) {
  const TlbEntry& e = tlb_[mmu_index_][(va >> 12) & (kTlbSize - 1)];
  if (__builtin_expect(e.read == (va & ~0xfffull) && (va & 0xfff) <= 4096 - N, 1)) {
    uint64_t v = 0;
    std::memcpy(&v, reinterpret_cast<const void*>(va + e.addend), N);
    return v;
  }
  return load_slow(va, N, op);
}

template <unsigned N>
inline void Cpu::store(uint64_t va, uint64_t v, const Op* op) {
  const TlbEntry& e = tlb_[mmu_index_][(va >> 12) & (kTlbSize - 1)];
  if (__builtin_expect(e.write == (va & ~0xfffull) && (va & 0xfff) <= 4096 - N, 1)) {
    std::memcpy(reinterpret_cast<void*>(va + e.addend), &v, N);
    return;
  }
  store_slow(va, N, v, op);
}

inline uint64_t load_sized(Cpu& cpu, uint64_t va, unsigned size, const Op* op) {
  switch (size) {
    case 1:
      return cpu.load<1>(va, op);
    case 2:
      return cpu.load<2>(va, op);
    case 4:
      return cpu.load<4>(va, op);
    default:
      return cpu.load<8>(va, op);
  }
}

inline void store_sized(Cpu& cpu, uint64_t va, unsigned size, uint64_t v, const Op* op) {
  switch (size) {
    case 1:
      cpu.store<1>(va, v, op);
      break;
    case 2:
      cpu.store<2>(va, v, op);
      break;
    case 4:
      cpu.store<4>(va, v, op);
      break;
    default:
      cpu.store<8>(va, v, op);
      break;
  }
}

}  // namespace corvid::tcg
