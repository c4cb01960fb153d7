// Lazy x86 arithmetic flags. An ALU op records what it did (cc_op) and its operands; the flags are
// computed only when something reads them (jcc, setcc, cmov, adc, pushf, an interrupt frame).
#pragma once

#include <cstdint>

#include "tcg/cpu_state.h"

namespace corvid::tcg {

// cc_op = kind * 4 + log2(size). kCcEflags means the arithmetic flags sit in rflags.
enum CcKind : uint32_t {
  kCcEflags = 0,
  kCcAdd,
  kCcSub,
  kCcAdc,
  kCcSbb,
  kCcLogic,
  kCcInc,
  kCcDec,
  // Shifts: cc_src bit 0 = CF (last bit out); SHR keeps the source's sign in cc_src2 for OF.
  kCcShl,
  kCcShr,
  kCcSar,
  // Multiplies: cc_src != 0 means the product overflowed the destination (CF = OF = 1).
  kCcMul,
};

constexpr uint32_t size_log2(unsigned size) {
  return size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
}
constexpr uint32_t make_cc_op(CcKind kind, unsigned size) {
  return kind * 4 + size_log2(size);
}

constexpr uint64_t size_mask(unsigned size) {
  return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}
constexpr uint64_t sign_bit(unsigned size) {
  return 1ull << (size * 8 - 1);
}
inline int64_t sign_extend(uint64_t v, unsigned size) {
  unsigned shift = 64 - size * 8;
  return static_cast<int64_t>(v << shift) >> shift;
}

// The six arithmetic flags as RFLAGS bits.
uint64_t compute_arith_flags(const CpuState& s);
inline bool carry_flag(const CpuState& s) {
  return compute_arith_flags(s) & kFlagCf;
}

// Full RFLAGS (lazy part materialised), and the inverse: store flags and reset the lazy state.
inline uint64_t read_rflags(const CpuState& s) {
  return (s.rflags & ~kArithFlags) | compute_arith_flags(s) | 2;
}
inline void write_arith_flags(CpuState& s, uint64_t flags) {
  s.rflags = (s.rflags & ~kArithFlags) | (flags & kArithFlags);
  s.cc_op = kCcEflags;
}

// x86 condition codes (SDM Vol. 1 Appendix B): 0=O 1=NO 2=B 3=AE 4=E 5=NE 6=BE 7=A 8=S 9=NS
// 10=P 11=NP 12=L 13=GE 14=LE 15=G.
// Inline for the overwhelmingly common cmp/sub and test/and/or/xor producers; the rest through
// the materialised flags.
bool eval_condition_slow(const CpuState& s, unsigned cond);
inline bool eval_condition(const CpuState& s, unsigned cond) {
  uint32_t kind = s.cc_op >> 2;
  unsigned c = cond >> 1;
  if (kind == kCcSub && c != 0 && c != 5) {
    unsigned size = 1u << (s.cc_op & 3);
    uint64_t mask = size_mask(size);
    uint64_t dst = s.cc_dst & mask, src = s.cc_src & mask, src1 = (dst + src) & mask;
    bool r;
    switch (c) {
      case 1:
        r = src1 < src;
        break;
      case 2:
        r = dst == 0;
        break;
      case 3:
        r = src1 <= src;
        break;
      case 4:
        r = dst & sign_bit(size);
        break;
      case 6:
        r = sign_extend(src1, size) < sign_extend(src, size);
        break;
      default:
        r = sign_extend(src1, size) <= sign_extend(src, size);
        break;
    }
    return r ^ (cond & 1);
  }
  if (kind == kCcLogic && c != 5) {
    int64_t v = sign_extend(s.cc_dst, 1u << (s.cc_op & 3));
    bool r = c <= 1 ? false : c <= 3 ? v == 0 : (c == 4 || c == 6) ? v < 0 : v <= 0;
    return r ^ (cond & 1);
  }
  if (kind != kCcEflags && (c == 2 || c == 4)) {  // ZF and SF always follow cc_dst
    int64_t v = sign_extend(s.cc_dst, 1u << (s.cc_op & 3));
    return (c == 2 ? v == 0 : v < 0) ^ (cond & 1);
  }
  return eval_condition_slow(s, cond);
}

}  // namespace corvid::tcg
