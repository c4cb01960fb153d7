// SSE2 128-bit integer instructions not in tcg/emit_sse.cc (SDM Vol. 2 pages; Vol. 1 §11.4.3)
// and the SSE/SSE2 shuffles and half moves: psraw/psrad (xmm or imm8 count), pmullw pmulhw
// pmulhuw pmuludq pmaddwd, padds/psubs/paddus/psubus b/w, packsswb packssdw packuswb, pavgb/w,
// psadbw, pminsw pmaxsw, pshufhw pshuflw, shufps shufpd, unpck[lh]ps/pd, movhlps movlhps,
// pinsrw pextrw, maskmovdqu, movntpd, movnti. Pure integer: no MXCSR involvement.
#include <cstring>
#include <limits>

#include "tcg/sse_float.h"

namespace corvid::tcg {
namespace {

enum IntOp : uint8_t {
  kPsraw,
  kPsrad,
  kPmullw,
  kPmulhw,
  kPmulhuw,
  kPmuludq,
  kPmaddwd,
  kPaddsb,
  kPaddsw,
  kPsubsb,
  kPsubsw,
  kPaddusb,
  kPaddusw,
  kPsubusb,
  kPsubusw,
  kPacksswb,
  kPackssdw,
  kPackuswb,
  kPavgb,
  kPavgw,
  kPsadbw,
  kPminsw,
  kPmaxsw,
  kPshufhw,
  kPshuflw,
  kShufps,
  kShufpd,
  kUnpcklps,
  kUnpckhps,
  kUnpcklpd,
  kUnpckhpd,
  kMovhlps,
  kMovlhps,
  kMovntpd,
};

template <typename T>
T get(const uint8_t* p, unsigned i) {
  T v;
  std::memcpy(&v, p + i * sizeof(T), sizeof(T));
  return v;
}
template <typename T>
void put(uint8_t* p, unsigned i, T v) {
  std::memcpy(p + i * sizeof(T), &v, sizeof(T));
}

template <typename T>
T saturate(int64_t v) {
  if (v < std::numeric_limits<T>::min()) return std::numeric_limits<T>::min();
  if (v > std::numeric_limits<T>::max()) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// r[i] = f(a[i], b[i]) over the lanes of type T (computed in int64_t).
template <typename T, typename F>
void lanes(uint8_t* r, const uint8_t* a, const uint8_t* b, F f) {
  for (unsigned i = 0; i < 16 / sizeof(T); ++i)
    put<T>(
        r, i,
        static_cast<T>(f(static_cast<int64_t>(get<T>(a, i)), static_cast<int64_t>(get<T>(b, i)))));
}

template <typename T>
void add_sat(uint8_t* r, const uint8_t* a, const uint8_t* b, int sign) {
  lanes<T>(r, a, b, [&](int64_t x, int64_t y) { return saturate<T>(x + sign * y); });
}

// Narrows the lanes of a (low half of r) and b (high half) with saturation to U.
template <typename S, typename U>
void pack(uint8_t* r, const uint8_t* a, const uint8_t* b) {
  constexpr unsigned n = 16 / sizeof(S);
  for (unsigned i = 0; i < n; ++i) {
    put<U>(r, i, saturate<U>(get<S>(a, i)));
    put<U>(r, n + i, saturate<U>(get<S>(b, i)));
  }
}

// Interleaves lane `first` onward of a and b (lanes of type T).
template <typename T>
void interleave(uint8_t* r, const uint8_t* a, const uint8_t* b, unsigned first) {
  for (unsigned i = 0; i < 8 / sizeof(T); ++i) {
    put<T>(r, 2 * i, get<T>(a, first + i));
    put<T>(r, 2 * i + 1, get<T>(b, first + i));
  }
}

void compute(IntOp op, uint8_t* r, const uint8_t* a, const uint8_t* b, unsigned imm,
             bool imm_count) {
  std::memcpy(r, a, 16);
  switch (op) {
    case kPsraw:
    case kPsrad: {
      uint64_t count = imm_count ? imm : get<uint64_t>(b, 0);
      unsigned max = op == kPsraw ? 15 : 31;
      unsigned c = count > max ? max : static_cast<unsigned>(count);
      if (op == kPsraw)
        lanes<int16_t>(r, a, a, [&](int64_t x, int64_t) { return x >> c; });
      else
        lanes<int32_t>(r, a, a, [&](int64_t x, int64_t) { return x >> c; });
      break;
    }
    case kPmullw:
      lanes<int16_t>(r, a, b, [](int64_t x, int64_t y) { return x * y; });
      break;
    case kPmulhw:
    case kPmulhuw:
      // Spelled out in 32 bits: GCC 12 -O2 vectorises the int64_t lambda form of the signed
      // case into pmulhuw (caught by differential_sse2_int_test).
      for (unsigned i = 0; i < 8; ++i) {
        bool sign = op == kPmulhw;
        int32_t x = sign ? int32_t{get<int16_t>(a, i)} : int32_t{get<uint16_t>(a, i)};
        int32_t y = sign ? int32_t{get<int16_t>(b, i)} : int32_t{get<uint16_t>(b, i)};
        // The low 32 bits of the product, computed unsigned (65535 * 65535 overflows int32):
        // for int16 inputs they are the exact signed product's two's complement.
        const uint32_t p = static_cast<uint32_t>(x) * static_cast<uint32_t>(y);
        put<uint16_t>(r, i, static_cast<uint16_t>(p >> 16));
      }
      break;
    case kPmuludq:
      for (unsigned i = 0; i < 2; ++i)
        put<uint64_t>(r, i, uint64_t{get<uint32_t>(a, 2 * i)} * get<uint32_t>(b, 2 * i));
      break;
    case kPmaddwd:
      for (unsigned i = 0; i < 4; ++i) {
        int64_t v = int64_t{get<int16_t>(a, 2 * i)} * get<int16_t>(b, 2 * i) +
                    int64_t{get<int16_t>(a, 2 * i + 1)} * get<int16_t>(b, 2 * i + 1);
        put<uint32_t>(r, i, static_cast<uint32_t>(v));  // 2 * 0x8000^2 wraps to 0x80000000
      }
      break;
    case kPaddsb:
      add_sat<int8_t>(r, a, b, 1);
      break;
    case kPaddsw:
      add_sat<int16_t>(r, a, b, 1);
      break;
    case kPsubsb:
      add_sat<int8_t>(r, a, b, -1);
      break;
    case kPsubsw:
      add_sat<int16_t>(r, a, b, -1);
      break;
    case kPaddusb:
      add_sat<uint8_t>(r, a, b, 1);
      break;
    case kPaddusw:
      add_sat<uint16_t>(r, a, b, 1);
      break;
    case kPsubusb:
      add_sat<uint8_t>(r, a, b, -1);
      break;
    case kPsubusw:
      add_sat<uint16_t>(r, a, b, -1);
      break;
    case kPacksswb:
      pack<int16_t, int8_t>(r, a, b);
      break;
    case kPackssdw:
      pack<int32_t, int16_t>(r, a, b);
      break;
    case kPackuswb:
      pack<int16_t, uint8_t>(r, a, b);
      break;
    case kPavgb:
      lanes<uint8_t>(r, a, b, [](int64_t x, int64_t y) { return (x + y + 1) >> 1; });
      break;
    case kPavgw:
      lanes<uint16_t>(r, a, b, [](int64_t x, int64_t y) { return (x + y + 1) >> 1; });
      break;
    case kPsadbw:
      for (unsigned h = 0; h < 2; ++h) {
        uint64_t sum = 0;
        for (unsigned i = 8 * h; i < 8 * h + 8; ++i) sum += a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
        put<uint64_t>(r, h, sum);
      }
      break;
    case kPminsw:
      lanes<int16_t>(r, a, b, [](int64_t x, int64_t y) { return x < y ? x : y; });
      break;
    case kPmaxsw:
      lanes<int16_t>(r, a, b, [](int64_t x, int64_t y) { return x > y ? x : y; });
      break;
    case kPshufhw:
    case kPshuflw: {
      unsigned base = op == kPshufhw ? 4 : 0;
      std::memcpy(r, b, 16);
      for (unsigned i = 0; i < 4; ++i)
        put<uint16_t>(r, base + i, get<uint16_t>(b, base + ((imm >> (2 * i)) & 3)));
      break;
    }
    case kShufps:
      put<uint32_t>(r, 0, get<uint32_t>(a, imm & 3));
      put<uint32_t>(r, 1, get<uint32_t>(a, (imm >> 2) & 3));
      put<uint32_t>(r, 2, get<uint32_t>(b, (imm >> 4) & 3));
      put<uint32_t>(r, 3, get<uint32_t>(b, (imm >> 6) & 3));
      break;
    case kShufpd:
      put<uint64_t>(r, 0, get<uint64_t>(a, imm & 1));
      put<uint64_t>(r, 1, get<uint64_t>(b, (imm >> 1) & 1));
      break;
    case kUnpcklps:
      interleave<uint32_t>(r, a, b, 0);
      break;
    case kUnpckhps:
      interleave<uint32_t>(r, a, b, 2);
      break;
    case kUnpcklpd:
      interleave<uint64_t>(r, a, b, 0);
      break;
    case kUnpckhpd:
      interleave<uint64_t>(r, a, b, 1);
      break;
    case kMovhlps:
      std::memcpy(r, b + 8, 8);
      break;
    case kMovlhps:
      std::memcpy(r + 8, b, 8);
      break;
    case kMovntpd:
      std::memcpy(r, b, 16);
      break;
  }
}

// d = destination xmm, a = source xmm or 0xff (memory at slot b, 16 bytes, 16-aligned); c = 1:
// store xmm[a] to memory at slot b (movntpd). cond = IntOp, imm2 = imm8 | 0x200 (count is imm8).
void helper_sse2_int(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  CpuState& s = cpu.s_;
  if (op.c) {
    store_mem(cpu, op, slot(cpu, op.b), 16, true, s.xmm[op.a]);
    return;
  }
  uint8_t src[16];
  if (op.a == 0xff)
    load_mem(cpu, op, slot(cpu, op.b), 16, true, src);
  else
    std::memcpy(src, s.xmm[op.a], 16);
  uint8_t r[16];
  compute(static_cast<IntOp>(op.cond), r, s.xmm[op.d], src, op.imm2 & 0xff, op.imm2 & 0x200);
  std::memcpy(s.xmm[op.d], r, 16);
}

// pinsrw xmm[d], slot a (low word), imm2 & 7.
void helper_pinsrw(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  put<uint16_t>(cpu.s_.xmm[op.d], op.imm2 & 7, static_cast<uint16_t>(slot(cpu, op.a)));
}

// slot d = word imm2 & 7 of xmm[a] (pextrw).
void helper_pextrw(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  slot(cpu, op.d) = get<uint16_t>(cpu.s_.xmm[op.a], op.imm2 & 7);
}

// maskmovdqu: the bytes of xmm[d] whose xmm[a] mask byte has bit 7 set go to [slot b + i].
void helper_maskmovdqu(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  uint64_t addr = slot(cpu, op.b);
  const uint8_t* data = cpu.s_.xmm[op.d];
  const uint8_t* mask = cpu.s_.xmm[op.a];
  for (unsigned i = 0; i < 16; ++i)
    if (mask[i] & 0x80) store_sized(cpu, addr + i, 1, data[i], &op);
}

struct Entry {
  ZydisMnemonic m;
  IntOp op;
};
constexpr Entry kTable[] = {
    {ZYDIS_MNEMONIC_PSRAW, kPsraw},       {ZYDIS_MNEMONIC_PSRAD, kPsrad},
    {ZYDIS_MNEMONIC_PMULLW, kPmullw},     {ZYDIS_MNEMONIC_PMULHW, kPmulhw},
    {ZYDIS_MNEMONIC_PMULHUW, kPmulhuw},   {ZYDIS_MNEMONIC_PMULUDQ, kPmuludq},
    {ZYDIS_MNEMONIC_PMADDWD, kPmaddwd},   {ZYDIS_MNEMONIC_PADDSB, kPaddsb},
    {ZYDIS_MNEMONIC_PADDSW, kPaddsw},     {ZYDIS_MNEMONIC_PSUBSB, kPsubsb},
    {ZYDIS_MNEMONIC_PSUBSW, kPsubsw},     {ZYDIS_MNEMONIC_PADDUSB, kPaddusb},
    {ZYDIS_MNEMONIC_PADDUSW, kPaddusw},   {ZYDIS_MNEMONIC_PSUBUSB, kPsubusb},
    {ZYDIS_MNEMONIC_PSUBUSW, kPsubusw},   {ZYDIS_MNEMONIC_PACKSSWB, kPacksswb},
    {ZYDIS_MNEMONIC_PACKSSDW, kPackssdw}, {ZYDIS_MNEMONIC_PACKUSWB, kPackuswb},
    {ZYDIS_MNEMONIC_PAVGB, kPavgb},       {ZYDIS_MNEMONIC_PAVGW, kPavgw},
    {ZYDIS_MNEMONIC_PSADBW, kPsadbw},     {ZYDIS_MNEMONIC_PMINSW, kPminsw},
    {ZYDIS_MNEMONIC_PMAXSW, kPmaxsw},     {ZYDIS_MNEMONIC_PSHUFHW, kPshufhw},
    {ZYDIS_MNEMONIC_PSHUFLW, kPshuflw},   {ZYDIS_MNEMONIC_SHUFPS, kShufps},
    {ZYDIS_MNEMONIC_SHUFPD, kShufpd},     {ZYDIS_MNEMONIC_UNPCKLPS, kUnpcklps},
    {ZYDIS_MNEMONIC_UNPCKHPS, kUnpckhps}, {ZYDIS_MNEMONIC_UNPCKLPD, kUnpcklpd},
    {ZYDIS_MNEMONIC_UNPCKHPD, kUnpckhpd}, {ZYDIS_MNEMONIC_MOVHLPS, kMovhlps},
    {ZYDIS_MNEMONIC_MOVLHPS, kMovlhps},   {ZYDIS_MNEMONIC_MOVNTPD, kMovntpd},
};

int reg_xmm(const Emitter& e, int i) {
  return e.is_reg(i) ? xmm_of(e.op[i].reg.value) : -1;
}

}  // namespace

bool emit_sse2_int(Emitter& e) {
  const auto& in = e.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) return false;  // no VEX/EVEX
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_MOVNTI:  // a plain GPR store (the non-temporal hint has no effect here)
      e.write(0, e.read(1));
      return true;
    case ZYDIS_MNEMONIC_PINSRW: {
      int x = reg_xmm(e, 0);
      if (x < 0) return false;  // MMX form: tcg/emit_mmx.cc
      e.helper(helper_pinsrw, static_cast<uint32_t>(x), e.read(1, 2), 0, 0,
               static_cast<int64_t>(e.op[2].imm.value.u & 0xff));
      return true;
    }
    case ZYDIS_MNEMONIC_PEXTRW: {
      int x = reg_xmm(e, 1);
      if (x < 0 || !e.is_reg(0)) return false;  // MMX form; SSE4.1 memory form
      uint32_t d = e.temp();
      e.helper(helper_pextrw, d, static_cast<uint32_t>(x), 0, 0,
               static_cast<int64_t>(e.op[2].imm.value.u & 0xff));
      e.write(0, d, e.opsize(0));
      return true;
    }
    case ZYDIS_MNEMONIC_MASKMOVDQU: {
      int x = reg_xmm(e, 0), m = reg_xmm(e, 1);
      if (x < 0 || m < 0) return false;
      for (int i = 0; i < in.operand_count; ++i) {
        if (e.is_mem(i)) {  // the implicit DS:rDI operand
          e.helper(helper_maskmovdqu, static_cast<uint32_t>(x), static_cast<uint32_t>(m),
                   e.ea(e.op[i]));
          return true;
        }
      }
      return false;
    }
    default:
      break;
  }
  const Entry* entry = nullptr;
  for (const Entry& t : kTable)
    if (t.m == in.mnemonic) entry = &t;
  if (!entry) return false;
  if (e.is_mem(0)) {  // movntpd m128, xmm
    int x = reg_xmm(e, 1);
    if (x < 0) return false;
    e.helper(helper_sse2_int, 0, static_cast<uint32_t>(x), e.ea(e.op[0]), 1);
    e.block.ops.back().cond = entry->op;
    return true;
  }
  int d = reg_xmm(e, 0);
  if (d < 0) return false;  // MMX forms: tcg/emit_mmx.cc
  uint64_t imm2 = 0;
  if (e.is_imm(1)) {  // shift by imm8: psraw/psrad xmm, imm8
    imm2 = (e.op[1].imm.value.u & 0xff) | 0x200;
    e.helper(helper_sse2_int, static_cast<uint32_t>(d), static_cast<uint32_t>(d), 0, 0,
             static_cast<int64_t>(imm2));
  } else {
    if (in.operand_count_visible > 2 && e.is_imm(2)) imm2 = e.op[2].imm.value.u & 0xff;
    if (e.is_mem(1)) {
      e.helper(helper_sse2_int, static_cast<uint32_t>(d), 0xff, e.ea(e.op[1]), 0,
               static_cast<int64_t>(imm2));
    } else {
      int s = reg_xmm(e, 1);
      if (s < 0) return false;
      e.helper(helper_sse2_int, static_cast<uint32_t>(d), static_cast<uint32_t>(s), 0, 0,
               static_cast<int64_t>(imm2));
    }
  }
  e.block.ops.back().cond = entry->op;
  return true;
}

bool emit_sse2(Emitter& e) {
  return emit_sse_float(e) || emit_sse_float_gpr(e) || emit_sse2_int(e);
}

}  // namespace corvid::tcg
