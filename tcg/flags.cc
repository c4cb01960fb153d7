#include "tcg/flags.h"

namespace corvid::tcg {
namespace {

inline uint64_t parity(uint64_t v) {
  return (__builtin_popcount(v & 0xff) & 1) ? 0 : kFlagPf;
}

inline uint64_t zsp(uint64_t dst, unsigned size) {
  uint64_t d = dst & size_mask(size);
  uint64_t f = parity(d);
  if (d == 0) f |= kFlagZf;
  if (d & sign_bit(size)) f |= kFlagSf;
  return f;
}

}  // namespace

uint64_t compute_arith_flags(const CpuState& s) {
  uint32_t kind = s.cc_op >> 2;
  if (kind == kCcEflags) return s.rflags & kArithFlags;
  unsigned size = 1u << (s.cc_op & 3);
  uint64_t mask = size_mask(size), sb = sign_bit(size);
  uint64_t dst = s.cc_dst & mask, src = s.cc_src & mask;
  uint64_t f = zsp(dst, size);
  switch (kind) {
    case kCcAdd: {
      uint64_t src1 = (dst - src) & mask;
      if (dst < src1) f |= kFlagCf;
      if ((src1 ^ src ^ dst) & 0x10) f |= kFlagAf;
      if ((~(src1 ^ src) & (src1 ^ dst)) & sb) f |= kFlagOf;
      break;
    }
    case kCcAdc: {
      uint64_t c = s.cc_src2 & 1;
      uint64_t src1 = (dst - src - c) & mask;
      if (c ? dst <= src1 : dst < src1) f |= kFlagCf;
      if ((src1 ^ src ^ dst) & 0x10) f |= kFlagAf;
      if ((~(src1 ^ src) & (src1 ^ dst)) & sb) f |= kFlagOf;
      break;
    }
    case kCcSub: {
      uint64_t src1 = (dst + src) & mask;
      if (src1 < src) f |= kFlagCf;
      if ((src1 ^ src ^ dst) & 0x10) f |= kFlagAf;
      if (((src1 ^ src) & (src1 ^ dst)) & sb) f |= kFlagOf;
      break;
    }
    case kCcSbb: {
      uint64_t c = s.cc_src2 & 1;
      uint64_t src1 = (dst + src + c) & mask;
      if (c ? src1 <= src : src1 < src) f |= kFlagCf;
      if ((src1 ^ src ^ dst) & 0x10) f |= kFlagAf;
      if (((src1 ^ src) & (src1 ^ dst)) & sb) f |= kFlagOf;
      break;
    }
    case kCcLogic:
      break;
    case kCcShl:
      f |= s.cc_src & kFlagCf;
      if (((dst & sb) != 0) != ((s.cc_src & 1) != 0)) f |= kFlagOf;
      break;
    case kCcShr:
      f |= s.cc_src & kFlagCf;
      if (s.cc_src2 & sb) f |= kFlagOf;
      break;
    case kCcSar:
      f |= s.cc_src & kFlagCf;
      break;
    case kCcMul:
      if (s.cc_src) f |= kFlagCf | kFlagOf;
      break;
    case kCcInc:
      f |= s.cc_src2 & kFlagCf;
      if ((dst & 0xf) == 0) f |= kFlagAf;
      if (dst == sb) f |= kFlagOf;
      break;
    case kCcDec:
      f |= s.cc_src2 & kFlagCf;
      if ((dst & 0xf) == 0xf) f |= kFlagAf;
      if (dst == sb - 1) f |= kFlagOf;
      break;
    default:
      break;
  }
  return f;
}

bool eval_condition_slow(const CpuState& s, unsigned cond) {
  bool r;
  uint64_t f = compute_arith_flags(s);
  bool of = f & kFlagOf, sf = f & kFlagSf, zf = f & kFlagZf, cf = f & kFlagCf;
  switch (cond >> 1) {
    case 0:
      r = of;
      break;
    case 1:
      r = cf;
      break;
    case 2:
      r = zf;
      break;
    case 3:
      r = cf || zf;
      break;
    case 4:
      r = sf;
      break;
    case 5:
      r = f & kFlagPf;
      break;
    case 6:
      r = sf != of;
      break;
    default:
      r = zf || (sf != of);
      break;
  }
  return r ^ (cond & 1);
}

}  // namespace corvid::tcg
