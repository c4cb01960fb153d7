// SSE3 and SSSE3 on xmm registers (SDM Vol. 1 §12.4-12.7): addsub/hadd/hsub ps/pd, movddup,
// movshdup, movsldup (lddqu is emit_sse.cc's unaligned move, fisttp is x87), and pshufb, phadd*,
// phsub*, pmaddubsw, pmulhrsw, palignr, psign*, pabs*. Floating-point ones run as the same host
// instruction under the guest's MXCSR (exceptions masked on the host, their flags merged into the
// guest's, an unmasked one raising #XM), so rounding, DAZ/FTZ and NaN propagation are the
// hardware's; the integer ones share tcg/mmx_ops.cc's 64-bit lane arithmetic.
#include <immintrin.h>

#include <cstring>

#include "tcg/mmx.h"
#include "tcg/sse_common.h"

namespace corvid::tcg {
namespace {

enum S3Op : uint8_t {
  kAddsubps, kAddsubpd, kHaddps, kHaddpd, kHsubps, kHsubpd,
  kMovddup, kMovshdup, kMovsldup,
  kPshufb, kPhaddw, kPhaddd, kPhaddsw, kPhsubw, kPhsubd, kPhsubsw,
  kPmaddubsw, kPmulhrsw, kPsignb, kPsignw, kPsignd, kPabsb, kPabsw, kPabsd, kPalignr,
};

#define HOST_FP(insn)                                                                         \
  __asm__ volatile("stmxcsr %1; ldmxcsr %2; " insn " %3, %0; stmxcsr %2; ldmxcsr %1"           \
                   : "+x"(a), "=m"(host), "+m"(mx)                                             \
                   : "x"(b))

// a = a <op> b on the host's SSE3 unit; *flags = the exception flags it raised.
__m128i host_fp(S3Op op, __m128i a, __m128i b, uint32_t guest_mxcsr, uint32_t* flags) {
  uint32_t mx = (guest_mxcsr & ~0x3fu) | 0x1f80u, host;
  switch (op) {
    case kAddsubps: HOST_FP("addsubps"); break;
    case kAddsubpd: HOST_FP("addsubpd"); break;
    case kHaddps: HOST_FP("haddps"); break;
    case kHaddpd: HOST_FP("haddpd"); break;
    case kHsubps: HOST_FP("hsubps"); break;
    default: HOST_FP("hsubpd"); break;
  }
  *flags = mx & 0x3f;
  return a;
}
#undef HOST_FP

uint64_t lo(const uint8_t* x) {
  uint64_t v;
  std::memcpy(&v, x, 8);
  return v;
}
uint64_t hi(const uint8_t* x) {
  uint64_t v;
  std::memcpy(&v, x + 8, 8);
  return v;
}

// d = xmm destination, a = xmm source or 0xff (memory at slot b, size bytes, aligned when
// imm2 bit 8), cond = S3Op, imm2 low byte = imm8.
void helper_sse3(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  CpuState& s = cpu.s_;
  alignas(16) uint8_t src[16] = {};
  if (op.a == 0xff)
    load_mem(cpu, op, slot(cpu, op.b), op.size, op.imm2 & 0x100, src);
  else
    std::memcpy(src, s.xmm[op.a], 16);
  uint8_t* dst = s.xmm[op.d];
  alignas(16) uint8_t r[16] = {};
  auto op_ = static_cast<S3Op>(op.cond);
  auto halves = [&](MmxOp m) {
    uint64_t l = mmx_compute(m, lo(dst), lo(src), 0), h = mmx_compute(m, hi(dst), hi(src), 0);
    std::memcpy(r, &l, 8);
    std::memcpy(r + 8, &h, 8);
  };
  auto horizontal = [&](MmxOp m) {
    uint64_t l = mmx_compute(m, lo(dst), hi(dst), 0), h = mmx_compute(m, lo(src), hi(src), 0);
    std::memcpy(r, &l, 8);
    std::memcpy(r + 8, &h, 8);
  };
  switch (op_) {
    case kAddsubps:
    case kAddsubpd:
    case kHaddps:
    case kHaddpd:
    case kHsubps:
    case kHsubpd: {
      __m128i a, b;
      std::memcpy(&a, dst, 16);
      std::memcpy(&b, src, 16);
      uint32_t flags;
      a = host_fp(op_, a, b, s.mxcsr, &flags);
      s.mxcsr |= flags;
      if (flags & ~(s.mxcsr >> 7) & 0x3f)
        cpu.raise_no_error((s.cr4 & kCr4Osxmmexcpt) ? kXm : kUd, &op);
      std::memcpy(r, &a, 16);
      break;
    }
    case kMovddup:
      std::memcpy(r, src, 8);
      std::memcpy(r + 8, src, 8);
      break;
    case kMovshdup:
    case kMovsldup: {
      unsigned k = op_ == kMovshdup ? 4 : 0;
      for (unsigned i = 0; i < 4; i += 2) {
        std::memcpy(r + 4 * i, src + 4 * i + k, 4);
        std::memcpy(r + 4 * i + 4, src + 4 * i + k, 4);
      }
      break;
    }
    case kPshufb:
      for (unsigned i = 0; i < 16; ++i) r[i] = (src[i] & 0x80) ? 0 : dst[src[i] & 15];
      break;
    case kPhaddw: horizontal(kMmPhaddw); break;
    case kPhaddd: horizontal(kMmPhaddd); break;
    case kPhaddsw: horizontal(kMmPhaddsw); break;
    case kPhsubw: horizontal(kMmPhsubw); break;
    case kPhsubd: horizontal(kMmPhsubd); break;
    case kPhsubsw: horizontal(kMmPhsubsw); break;
    case kPmaddubsw: halves(kMmPmaddubsw); break;
    case kPmulhrsw: halves(kMmPmulhrsw); break;
    case kPsignb: halves(kMmPsignb); break;
    case kPsignw: halves(kMmPsignw); break;
    case kPsignd: halves(kMmPsignd); break;
    case kPabsb: halves(kMmPabsb); break;
    case kPabsw: halves(kMmPabsw); break;
    case kPabsd: halves(kMmPabsd); break;
    case kPalignr: {
      // (dst:src) >> imm8 bytes, 256 bits wide.
      uint8_t cat[32];
      std::memcpy(cat, src, 16);
      std::memcpy(cat + 16, dst, 16);
      unsigned n = op.imm2 & 0xff;
      for (unsigned i = 0; i < 16; ++i) r[i] = i + n < 32 ? cat[i + n] : 0;
      break;
    }
  }
  std::memcpy(dst, r, 16);
}

struct Entry {
  ZydisMnemonic m;
  S3Op op;
  uint8_t mem_size;  // bytes read from a memory source
  bool aligned;
};
constexpr Entry kTable[] = {
    {ZYDIS_MNEMONIC_ADDSUBPS, kAddsubps, 16, true}, {ZYDIS_MNEMONIC_ADDSUBPD, kAddsubpd, 16, true},
    {ZYDIS_MNEMONIC_HADDPS, kHaddps, 16, true},     {ZYDIS_MNEMONIC_HADDPD, kHaddpd, 16, true},
    {ZYDIS_MNEMONIC_HSUBPS, kHsubps, 16, true},     {ZYDIS_MNEMONIC_HSUBPD, kHsubpd, 16, true},
    {ZYDIS_MNEMONIC_MOVDDUP, kMovddup, 8, false},   {ZYDIS_MNEMONIC_MOVSHDUP, kMovshdup, 16, true},
    {ZYDIS_MNEMONIC_MOVSLDUP, kMovsldup, 16, true}, {ZYDIS_MNEMONIC_PSHUFB, kPshufb, 16, true},
    {ZYDIS_MNEMONIC_PHADDW, kPhaddw, 16, true},     {ZYDIS_MNEMONIC_PHADDD, kPhaddd, 16, true},
    {ZYDIS_MNEMONIC_PHADDSW, kPhaddsw, 16, true},   {ZYDIS_MNEMONIC_PHSUBW, kPhsubw, 16, true},
    {ZYDIS_MNEMONIC_PHSUBD, kPhsubd, 16, true},     {ZYDIS_MNEMONIC_PHSUBSW, kPhsubsw, 16, true},
    {ZYDIS_MNEMONIC_PMADDUBSW, kPmaddubsw, 16, true}, {ZYDIS_MNEMONIC_PMULHRSW, kPmulhrsw, 16, true},
    {ZYDIS_MNEMONIC_PSIGNB, kPsignb, 16, true},     {ZYDIS_MNEMONIC_PSIGNW, kPsignw, 16, true},
    {ZYDIS_MNEMONIC_PSIGND, kPsignd, 16, true},     {ZYDIS_MNEMONIC_PABSB, kPabsb, 16, true},
    {ZYDIS_MNEMONIC_PABSW, kPabsw, 16, true},       {ZYDIS_MNEMONIC_PABSD, kPabsd, 16, true},
    {ZYDIS_MNEMONIC_PALIGNR, kPalignr, 16, true},
};

}  // namespace

bool emit_sse3(Emitter& e) {
  const auto& in = e.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) return false;
  const Entry* entry = nullptr;
  for (const Entry& t : kTable) {
    if (t.m == in.mnemonic) {
      entry = &t;
      break;
    }
  }
  if (!entry || !e.is_reg(0)) return false;
  int d = xmm_of(e.op[0].reg.value);
  if (d < 0) return false;  // MMX forms: emit_mmx.cc
  uint64_t imm2 = entry->aligned ? 0x100 : 0;
  if (in.operand_count_visible > 2 && e.is_imm(2)) imm2 |= e.op[2].imm.value.u & 0xff;
  if (e.is_mem(1)) {
    e.helper(helper_sse3, static_cast<uint32_t>(d), 0xff, e.ea(e.op[1]), 0,
             static_cast<int64_t>(imm2));
    e.block.ops.back().size = entry->mem_size;
  } else {
    int s = xmm_of(e.op[1].reg.value);
    if (s < 0) return false;
    e.helper(helper_sse3, static_cast<uint32_t>(d), static_cast<uint32_t>(s), 0, 0,
             static_cast<int64_t>(imm2));
  }
  e.block.ops.back().cond = entry->op;
  return true;
}

}  // namespace corvid::tcg
