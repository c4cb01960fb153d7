// Shared by the SSE emitter files (tcg/ internal): the SSE availability check and xmm-sized
// memory accesses through the softmmu.
#pragma once

#include <cstring>

#include "tcg/softmmu_inline.h"
#include "tcg/translator.h"

namespace corvid::tcg {

inline void check_sse(Cpu& cpu, const Op& op) {
  if (cpu.s_.cr0 & kCr0Em || !(cpu.s_.cr4 & kCr4Osfxsr)) cpu.raise_no_error(kUd, &op);
  if (cpu.s_.cr0 & kCr0Ts) cpu.raise_no_error(kNm, &op);
}

inline void load_mem(Cpu& cpu, const Op& op, uint64_t addr, unsigned size, bool aligned,
                     uint8_t* out) {
  if (aligned && size == 16 && (addr & 15)) cpu.raise(kGp, 0, &op);
  for (unsigned i = 0; i < size; i += 8) {
    unsigned n = size - i < 8 ? size - i : 8;
    uint64_t v = load_sized(cpu, addr + i, n, &op);
    std::memcpy(out + i, &v, n);
  }
}

inline void store_mem(Cpu& cpu, const Op& op, uint64_t addr, unsigned size, bool aligned,
                      const uint8_t* in) {
  if (aligned && size == 16 && (addr & 15)) cpu.raise(kGp, 0, &op);
  if (size == 16) {
    cpu.translate(addr, Cpu::Access::kWrite, false, &op);
    cpu.translate(addr + 15, Cpu::Access::kWrite, false, &op);
  }
  for (unsigned i = 0; i < size; i += 8) {
    unsigned n = size - i < 8 ? size - i : 8;
    uint64_t v = 0;
    std::memcpy(&v, in + i, n);
    store_sized(cpu, addr + i, n, v, &op);
  }
}

inline double get_f64(const uint8_t* p) {
  double v;
  std::memcpy(&v, p, 8);
  return v;
}
inline void put_f64(uint8_t* p, double v) {
  std::memcpy(p, &v, 8);
}

}  // namespace corvid::tcg
