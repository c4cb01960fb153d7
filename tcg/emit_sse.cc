// SSE/SSE2 data movement and arithmetic on xmm registers: the integer string-function set static
// glibc uses (movdqa/movdqu/pxor/pcmpeqb/pminub/pshufd/pslldq/punpck*/padd*/psub*...), the basic
// float moves and scalar double arithmetic, movd/movq. Conversions and compares live in
// emit_sse_convert.cc, MXCSR and fxsave/fxrstor in emit_sse_state.cc. Each instruction is one
// helper over CpuState.xmm; memory operands go through the softmmu (16-byte ones checked for
// alignment).
#include <cmath>
#include <cstring>

#include "tcg/sse_common.h"

namespace corvid::tcg {
namespace {

enum SseOp : uint8_t {
  kMov128,
  kMovLow64,
  kMovLow32,
  kMovHigh64Load,
  kMovHigh64Store,
  kMovLow64Keep,
  kPxor,
  kPand,
  kPandn,
  kPor,
  kPcmpeqb,
  kPcmpeqw,
  kPcmpeqd,
  kPcmpgtb,
  kPcmpgtw,
  kPcmpgtd,
  kPminub,
  kPmaxub,
  kPaddb,
  kPaddw,
  kPaddd,
  kPaddq,
  kPsubb,
  kPsubw,
  kPsubd,
  kPsubq,
  kPunpcklbw,
  kPunpcklwd,
  kPunpckldq,
  kPunpcklqdq,
  kPunpckhbw,
  kPunpckhwd,
  kPunpckhdq,
  kPunpckhqdq,
  kPshufd,
  kPslldq,
  kPsrldq,
  kPsllq,
  kPsrlq,
  kPslld,
  kPsrld,
  kPsllw,
  kPsrlw,
  kAddsd,
  kSubsd,
  kMulsd,
  kDivsd,
  kSqrtsd,
  kMinsd,
  kMaxsd,
  kMovScalar32,
  kMovScalar64,
};

struct Xmm {
  uint8_t b[16];
};

// Operand encoding in the helper op: d = destination xmm, a = source xmm (or 0xff = memory at
// slot b), imm2 = imm8, cond = SseOp, size = memory bytes, c = 1 when the destination is memory.
template <typename T, typename F>
void lanes(uint8_t* d, const uint8_t* s, F f) {
  for (unsigned i = 0; i < 16 / sizeof(T); ++i) {
    T x, y;
    std::memcpy(&x, d + i * sizeof(T), sizeof(T));
    std::memcpy(&y, s + i * sizeof(T), sizeof(T));
    T r = f(x, y);
    std::memcpy(d + i * sizeof(T), &r, sizeof(T));
  }
}

template <typename T>
void unpack(uint8_t* d, const uint8_t* s, bool high) {
  uint8_t out[16];
  unsigned n = 8 / sizeof(T), off = high ? 8 : 0;
  for (unsigned i = 0; i < n; ++i) {
    std::memcpy(out + 2 * i * sizeof(T), d + off + i * sizeof(T), sizeof(T));
    std::memcpy(out + (2 * i + 1) * sizeof(T), s + off + i * sizeof(T), sizeof(T));
  }
  std::memcpy(d, out, 16);
}

void helper_sse(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  CpuState& s = cpu.s_;
  auto c = static_cast<SseOp>(op.cond);
  bool src_mem = op.a == 0xff;
  bool aligned = op.imm2 & 0x100;
  uint8_t src[16] = {};
  // Stores to memory (destination memory operand).
  if (op.c) {
    uint64_t addr = slot(cpu, op.b);
    const uint8_t* x = s.xmm[op.a];
    switch (c) {
      case kMov128:
        store_mem(cpu, op, addr, 16, aligned, x);
        break;
      case kMovLow64:
      case kMovScalar64:
        store_mem(cpu, op, addr, 8, false, x);
        break;
      case kMovLow32:
      case kMovScalar32:
        store_mem(cpu, op, addr, 4, false, x);
        break;
      case kMovHigh64Store:
        store_mem(cpu, op, addr, 8, false, x + 8);
        break;
      default:
        cpu.raise_no_error(kUd, &op);
    }
    return;
  }
  if (src_mem) {
    unsigned size = op.size ? op.size : 16;
    load_mem(cpu, op, slot(cpu, op.b), size, aligned, src);
  } else {
    std::memcpy(src, s.xmm[op.a], 16);
  }
  uint8_t* d = s.xmm[op.d];
  unsigned imm = op.imm2 & 0xff;
  switch (c) {
    case kMov128:
      std::memcpy(d, src, 16);
      break;
    case kMovLow64:
      std::memcpy(d, src, 8);
      std::memset(d + 8, 0, 8);
      break;  // movq
    case kMovLow32:
      std::memcpy(d, src, 4);
      std::memset(d + 4, 0, 12);
      break;  // movd
    case kMovHigh64Load:
      std::memcpy(d + 8, src, 8);
      break;  // movhps/movhpd
    case kMovLow64Keep:
      std::memcpy(d, src, 8);
      break;  // movlps/movlpd
    case kMovScalar64:
      std::memcpy(d, src, 8);
      if (src_mem) std::memset(d + 8, 0, 8);
      break;
    case kMovScalar32:
      std::memcpy(d, src, 4);
      if (src_mem) std::memset(d + 4, 0, 12);
      break;
    case kPxor:
      for (int i = 0; i < 16; ++i) d[i] ^= src[i];
      break;
    case kPand:
      for (int i = 0; i < 16; ++i) d[i] &= src[i];
      break;
    case kPandn:
      for (int i = 0; i < 16; ++i) d[i] = static_cast<uint8_t>(~d[i] & src[i]);
      break;
    case kPor:
      for (int i = 0; i < 16; ++i) d[i] |= src[i];
      break;
    case kPcmpeqb:
      lanes<uint8_t>(d, src,
                     [](uint8_t x, uint8_t y) { return static_cast<uint8_t>(x == y ? 0xff : 0); });
      break;
    case kPcmpeqw:
      lanes<uint16_t>(d, src, [](uint16_t x, uint16_t y) {
        return static_cast<uint16_t>(x == y ? 0xffff : 0);
      });
      break;
    case kPcmpeqd:
      lanes<uint32_t>(d, src, [](uint32_t x, uint32_t y) { return x == y ? ~0u : 0u; });
      break;
    case kPcmpgtb:
      lanes<int8_t>(d, src, [](int8_t x, int8_t y) { return static_cast<int8_t>(x > y ? -1 : 0); });
      break;
    case kPcmpgtw:
      lanes<int16_t>(d, src,
                     [](int16_t x, int16_t y) { return static_cast<int16_t>(x > y ? -1 : 0); });
      break;
    case kPcmpgtd:
      lanes<int32_t>(d, src, [](int32_t x, int32_t y) { return x > y ? -1 : 0; });
      break;
    case kPminub:
      lanes<uint8_t>(d, src, [](uint8_t x, uint8_t y) { return x < y ? x : y; });
      break;
    case kPmaxub:
      lanes<uint8_t>(d, src, [](uint8_t x, uint8_t y) { return x > y ? x : y; });
      break;
    case kPaddb:
      lanes<uint8_t>(d, src, [](uint8_t x, uint8_t y) { return static_cast<uint8_t>(x + y); });
      break;
    case kPaddw:
      lanes<uint16_t>(d, src, [](uint16_t x, uint16_t y) { return static_cast<uint16_t>(x + y); });
      break;
    case kPaddd:
      lanes<uint32_t>(d, src, [](uint32_t x, uint32_t y) { return x + y; });
      break;
    case kPaddq:
      lanes<uint64_t>(d, src, [](uint64_t x, uint64_t y) { return x + y; });
      break;
    case kPsubb:
      lanes<uint8_t>(d, src, [](uint8_t x, uint8_t y) { return static_cast<uint8_t>(x - y); });
      break;
    case kPsubw:
      lanes<uint16_t>(d, src, [](uint16_t x, uint16_t y) { return static_cast<uint16_t>(x - y); });
      break;
    case kPsubd:
      lanes<uint32_t>(d, src, [](uint32_t x, uint32_t y) { return x - y; });
      break;
    case kPsubq:
      lanes<uint64_t>(d, src, [](uint64_t x, uint64_t y) { return x - y; });
      break;
    case kPunpcklbw:
      unpack<uint8_t>(d, src, false);
      break;
    case kPunpcklwd:
      unpack<uint16_t>(d, src, false);
      break;
    case kPunpckldq:
      unpack<uint32_t>(d, src, false);
      break;
    case kPunpcklqdq:
      unpack<uint64_t>(d, src, false);
      break;
    case kPunpckhbw:
      unpack<uint8_t>(d, src, true);
      break;
    case kPunpckhwd:
      unpack<uint16_t>(d, src, true);
      break;
    case kPunpckhdq:
      unpack<uint32_t>(d, src, true);
      break;
    case kPunpckhqdq:
      unpack<uint64_t>(d, src, true);
      break;
    case kPshufd: {
      uint8_t out[16];
      for (unsigned i = 0; i < 4; ++i)
        std::memcpy(out + 4 * i, src + 4 * ((imm >> (2 * i)) & 3), 4);
      std::memcpy(d, out, 16);
      break;
    }
    case kPslldq:
    case kPsrldq: {
      uint8_t out[16] = {};
      unsigned n = imm > 16 ? 16 : imm;
      for (unsigned i = 0; i < 16; ++i) {
        if (c == kPslldq && i >= n) out[i] = d[i - n];
        if (c == kPsrldq && i + n < 16) out[i] = d[i + n];
      }
      std::memcpy(d, out, 16);
      break;
    }
    case kPsllq:
    case kPsrlq:
    case kPslld:
    case kPsrld:
    case kPsllw:
    case kPsrlw: {
      // imm2 bit 9: the count is the immediate; otherwise the low quadword of the source.
      uint64_t count = imm;
      if (!(op.imm2 & 0x200)) std::memcpy(&count, src, 8);
      if (c == kPsllq || c == kPsrlq) {
        lanes<uint64_t>(d, d, [&](uint64_t x, uint64_t) {
          return count > 63 ? 0 : c == kPsllq ? x << count : x >> count;
        });
      } else if (c == kPslld || c == kPsrld) {
        lanes<uint32_t>(d, d, [&](uint32_t x, uint32_t) {
          return count > 31 ? 0u : c == kPslld ? x << count : x >> count;
        });
      } else {
        lanes<uint16_t>(d, d, [&](uint16_t x, uint16_t) {
          return static_cast<uint16_t>(count > 15 ? 0 : c == kPsllw ? x << count : x >> count);
        });
      }
      break;
    }
    case kAddsd:
      put_f64(d, get_f64(d) + get_f64(src));
      break;
    case kSubsd:
      put_f64(d, get_f64(d) - get_f64(src));
      break;
    case kMulsd:
      put_f64(d, get_f64(d) * get_f64(src));
      break;
    case kDivsd:
      put_f64(d, get_f64(d) / get_f64(src));
      break;
    case kSqrtsd:
      put_f64(d, std::sqrt(get_f64(src)));
      break;
    case kMinsd:
      put_f64(d, get_f64(d) < get_f64(src) ? get_f64(d) : get_f64(src));
      break;
    case kMaxsd:
      put_f64(d, get_f64(d) > get_f64(src) ? get_f64(d) : get_f64(src));
      break;
    case kMovHigh64Store:
      break;  // store forms returned above
  }
}

// movd/movq between a GPR and an xmm: op.cond 0 gpr->xmm (d = xmm, a = value slot), 1 xmm->gpr
// (d = result slot, a = xmm). size 4 or 8.
void helper_movd_gpr(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  if (op.cond == 0) {
    uint8_t* x = cpu.s_.xmm[op.d];
    uint64_t v = slot(cpu, op.a) & size_mask(op.size);
    std::memset(x, 0, 16);
    std::memcpy(x, &v, 8);
  } else {
    uint64_t v;
    std::memcpy(&v, cpu.s_.xmm[op.a], 8);
    slot(cpu, op.d) = v & size_mask(op.size);
  }
}

struct Entry {
  ZydisMnemonic m;
  SseOp op;
  bool aligned;
};

const Entry kTable[] = {
    {ZYDIS_MNEMONIC_MOVDQA, kMov128, true},
    {ZYDIS_MNEMONIC_MOVDQU, kMov128, false},
    {ZYDIS_MNEMONIC_MOVAPS, kMov128, true},
    {ZYDIS_MNEMONIC_MOVUPS, kMov128, false},
    {ZYDIS_MNEMONIC_MOVAPD, kMov128, true},
    {ZYDIS_MNEMONIC_MOVUPD, kMov128, false},
    {ZYDIS_MNEMONIC_MOVNTDQ, kMov128, true},
    {ZYDIS_MNEMONIC_MOVNTPS, kMov128, true},
    {ZYDIS_MNEMONIC_LDDQU, kMov128, false},
    {ZYDIS_MNEMONIC_PXOR, kPxor, true},
    {ZYDIS_MNEMONIC_XORPS, kPxor, true},
    {ZYDIS_MNEMONIC_XORPD, kPxor, true},
    {ZYDIS_MNEMONIC_PAND, kPand, true},
    {ZYDIS_MNEMONIC_ANDPS, kPand, true},
    {ZYDIS_MNEMONIC_ANDPD, kPand, true},
    {ZYDIS_MNEMONIC_PANDN, kPandn, true},
    {ZYDIS_MNEMONIC_ANDNPS, kPandn, true},
    {ZYDIS_MNEMONIC_ANDNPD, kPandn, true},
    {ZYDIS_MNEMONIC_POR, kPor, true},
    {ZYDIS_MNEMONIC_ORPS, kPor, true},
    {ZYDIS_MNEMONIC_ORPD, kPor, true},
    {ZYDIS_MNEMONIC_PCMPEQB, kPcmpeqb, true},
    {ZYDIS_MNEMONIC_PCMPEQW, kPcmpeqw, true},
    {ZYDIS_MNEMONIC_PCMPEQD, kPcmpeqd, true},
    {ZYDIS_MNEMONIC_PCMPGTB, kPcmpgtb, true},
    {ZYDIS_MNEMONIC_PCMPGTW, kPcmpgtw, true},
    {ZYDIS_MNEMONIC_PCMPGTD, kPcmpgtd, true},
    {ZYDIS_MNEMONIC_PMINUB, kPminub, true},
    {ZYDIS_MNEMONIC_PMAXUB, kPmaxub, true},
    {ZYDIS_MNEMONIC_PADDB, kPaddb, true},
    {ZYDIS_MNEMONIC_PADDW, kPaddw, true},
    {ZYDIS_MNEMONIC_PADDD, kPaddd, true},
    {ZYDIS_MNEMONIC_PADDQ, kPaddq, true},
    {ZYDIS_MNEMONIC_PSUBB, kPsubb, true},
    {ZYDIS_MNEMONIC_PSUBW, kPsubw, true},
    {ZYDIS_MNEMONIC_PSUBD, kPsubd, true},
    {ZYDIS_MNEMONIC_PSUBQ, kPsubq, true},
    {ZYDIS_MNEMONIC_PUNPCKLBW, kPunpcklbw, true},
    {ZYDIS_MNEMONIC_PUNPCKLWD, kPunpcklwd, true},
    {ZYDIS_MNEMONIC_PUNPCKLDQ, kPunpckldq, true},
    {ZYDIS_MNEMONIC_PUNPCKLQDQ, kPunpcklqdq, true},
    {ZYDIS_MNEMONIC_PUNPCKHBW, kPunpckhbw, true},
    {ZYDIS_MNEMONIC_PUNPCKHWD, kPunpckhwd, true},
    {ZYDIS_MNEMONIC_PUNPCKHDQ, kPunpckhdq, true},
    {ZYDIS_MNEMONIC_PUNPCKHQDQ, kPunpckhqdq, true},
    {ZYDIS_MNEMONIC_PSHUFD, kPshufd, true},
    {ZYDIS_MNEMONIC_PSLLDQ, kPslldq, true},
    {ZYDIS_MNEMONIC_PSRLDQ, kPsrldq, true},
    {ZYDIS_MNEMONIC_PSLLQ, kPsllq, true},
    {ZYDIS_MNEMONIC_PSRLQ, kPsrlq, true},
    {ZYDIS_MNEMONIC_PSLLD, kPslld, true},
    {ZYDIS_MNEMONIC_PSRLD, kPsrld, true},
    {ZYDIS_MNEMONIC_PSLLW, kPsllw, true},
    {ZYDIS_MNEMONIC_PSRLW, kPsrlw, true},
    {ZYDIS_MNEMONIC_ADDSD, kAddsd, false},
    {ZYDIS_MNEMONIC_SUBSD, kSubsd, false},
    {ZYDIS_MNEMONIC_MULSD, kMulsd, false},
    {ZYDIS_MNEMONIC_DIVSD, kDivsd, false},
    {ZYDIS_MNEMONIC_SQRTSD, kSqrtsd, false},
    {ZYDIS_MNEMONIC_MINSD, kMinsd, false},
    {ZYDIS_MNEMONIC_MAXSD, kMaxsd, false},
    {ZYDIS_MNEMONIC_MOVHPS, kMovHigh64Load, false},
    {ZYDIS_MNEMONIC_MOVHPD, kMovHigh64Load, false},
    {ZYDIS_MNEMONIC_MOVLPS, kMovLow64Keep, false},
    {ZYDIS_MNEMONIC_MOVLPD, kMovLow64Keep, false},
    {ZYDIS_MNEMONIC_MOVSS, kMovScalar32, false},
};

}  // namespace

bool emit_sse(Emitter& e) {
  const auto& in = e.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) return false;  // no VEX/EVEX
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_MOVD:
    case ZYDIS_MNEMONIC_MOVQ: {
      int x0 = e.is_reg(0) ? xmm_of(e.op[0].reg.value) : -1;
      int x1 = e.is_reg(1) ? xmm_of(e.op[1].reg.value) : -1;
      if (x0 < 0 && x1 < 0) return false;  // MMX forms
      bool q = in.mnemonic == ZYDIS_MNEMONIC_MOVQ;
      if (x0 >= 0 && e.is_reg(1) && x1 < 0) {  // gpr -> xmm
        e.helper(helper_movd_gpr, static_cast<uint32_t>(x0), e.read(1));
        e.block.ops.back().size = q ? 8 : 4;
        e.block.ops.back().cond = 0;
        return true;
      }
      if (x1 >= 0 && e.is_reg(0) && x0 < 0) {  // xmm -> gpr
        uint32_t d = e.temp();
        e.helper(helper_movd_gpr, d, static_cast<uint32_t>(x1));
        e.block.ops.back().size = q ? 8 : 4;
        e.block.ops.back().cond = 1;
        e.write(0, d, q ? 8 : 4);
        return true;
      }
      SseOp op = q ? kMovLow64 : kMovLow32;
      if (e.is_mem(0)) {
        e.helper(helper_sse, 0, static_cast<uint32_t>(x1), e.ea(e.op[0]), 1);
      } else if (e.is_mem(1)) {
        e.helper(helper_sse, static_cast<uint32_t>(x0), 0xff, e.ea(e.op[1]));
        e.block.ops.back().size = q ? 8 : 4;
      } else {
        e.helper(helper_sse, static_cast<uint32_t>(x0), static_cast<uint32_t>(x1));
      }
      e.block.ops.back().cond = op;
      return true;
    }
    default:
      break;
  }
  const Entry* entry = nullptr;
  SseOp op{};
  bool aligned = false;
  if (in.mnemonic == ZYDIS_MNEMONIC_MOVSD && in.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) {
    op = kMovScalar64;
  } else {
    for (const Entry& t : kTable) {
      if (t.m == in.mnemonic) {
        entry = &t;
        break;
      }
    }
    if (!entry) return false;
    op = entry->op;
    aligned = entry->aligned;
  }
  int x0 = e.is_reg(0) ? xmm_of(e.op[0].reg.value) : -1;
  if (e.is_reg(0) && x0 < 0) return false;  // MMX register forms: not implemented
  uint64_t imm2 = aligned ? 0x100 : 0;
  int imm_index = -1;
  for (int i = 0; i < in.operand_count_visible; ++i) {
    if (e.is_imm(i)) imm_index = i;
  }
  if (imm_index >= 0) imm2 |= (e.op[imm_index].imm.value.u & 0xff) | 0x200;
  if (e.is_mem(0)) {  // store form
    int x1 = xmm_of(e.op[1].reg.value);
    if (op == kMovHigh64Load) op = kMovHigh64Store;
    e.helper(helper_sse, 0, static_cast<uint32_t>(x1), e.ea(e.op[0]), 1,
             static_cast<int64_t>(imm2));
    e.block.ops.back().cond = op;
    return true;
  }
  // Shift-by-immediate forms have only (xmm, imm).
  if (imm_index == 1 || in.operand_count_visible == 1) {
    e.helper(helper_sse, static_cast<uint32_t>(x0), static_cast<uint32_t>(x0), 0, 0,
             static_cast<int64_t>(imm2));
  } else if (e.is_mem(1)) {
    unsigned msize = e.opsize(1);
    e.helper(helper_sse, static_cast<uint32_t>(x0), 0xff, e.ea(e.op[1]), 0,
             static_cast<int64_t>(imm2));
    e.block.ops.back().size = static_cast<uint8_t>(msize >= 16 ? 16 : msize);
  } else {
    int x1 = xmm_of(e.op[1].reg.value);
    if (x1 < 0) return false;
    e.helper(helper_sse, static_cast<uint32_t>(x0), static_cast<uint32_t>(x1), 0, 0,
             static_cast<int64_t>(imm2));
  }
  e.block.ops.back().cond = op;
  return true;
}

}  // namespace corvid::tcg
