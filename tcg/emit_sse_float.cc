// SSE/SSE2 floating-point arithmetic, compares and xmm-to-xmm conversions (SDM Vol. 2 pages;
// Vol. 1 §10.4, §11.4): add/sub/mul/div/min/max/sqrt in ps/pd/ss/sd, rcp/rsqrt ps/ss, cmp
// ps/pd/ss/sd with the 8 predicates, cvtss2sd cvtsd2ss cvtdq2ps cvt(t)ps2dq cvtdq2pd cvt(t)pd2dq
// cvtps2pd cvtpd2ps. Each runs as the same host instruction (tcg/sse_float.h), register form:
// a scalar or 64-bit memory source is loaded into the low bytes of a zeroed vector first, which
// the register form reads identically.
#include <immintrin.h>

#include <cstring>

#include "tcg/sse_float.h"

namespace corvid::tcg {
namespace {

using HostFn = __m128i (*)(__m128i a, __m128i b, uint32_t* mx);

// a = a <insn> b with MXCSR = *mx; *mx = the MXCSR after it (flags raised).
#define HOST(name, insn)                                                                   \
  __m128i name(__m128i a, __m128i b, uint32_t* mx) {                                       \
    uint32_t host;                                                                         \
    __asm__ volatile("stmxcsr %1; ldmxcsr %2; " insn " %3, %0; stmxcsr %2; ldmxcsr %1"     \
                     : "+x"(a), "=m"(host), "+m"(*mx)                                      \
                     : "x"(b));                                                            \
    return a;                                                                              \
  }

HOST(h_addps, "addps") HOST(h_addpd, "addpd") HOST(h_addss, "addss") HOST(h_addsd, "addsd")
HOST(h_subps, "subps") HOST(h_subpd, "subpd") HOST(h_subss, "subss") HOST(h_subsd, "subsd")
HOST(h_mulps, "mulps") HOST(h_mulpd, "mulpd") HOST(h_mulss, "mulss") HOST(h_mulsd, "mulsd")
HOST(h_divps, "divps") HOST(h_divpd, "divpd") HOST(h_divss, "divss") HOST(h_divsd, "divsd")
HOST(h_minps, "minps") HOST(h_minpd, "minpd") HOST(h_minss, "minss") HOST(h_minsd, "minsd")
HOST(h_maxps, "maxps") HOST(h_maxpd, "maxpd") HOST(h_maxss, "maxss") HOST(h_maxsd, "maxsd")
HOST(h_sqrtps, "sqrtps") HOST(h_sqrtpd, "sqrtpd") HOST(h_sqrtss, "sqrtss")
HOST(h_sqrtsd, "sqrtsd")
HOST(h_rcpps, "rcpps") HOST(h_rcpss, "rcpss") HOST(h_rsqrtps, "rsqrtps")
HOST(h_rsqrtss, "rsqrtss")
HOST(h_cvtss2sd, "cvtss2sd") HOST(h_cvtsd2ss, "cvtsd2ss") HOST(h_cvtdq2ps, "cvtdq2ps")
HOST(h_cvtps2dq, "cvtps2dq") HOST(h_cvttps2dq, "cvttps2dq") HOST(h_cvtdq2pd, "cvtdq2pd")
HOST(h_cvtpd2dq, "cvtpd2dq") HOST(h_cvttpd2dq, "cvttpd2dq") HOST(h_cvtps2pd, "cvtps2pd")
HOST(h_cvtpd2ps, "cvtpd2ps")
#undef HOST

// cmpXX with predicate P (imm8 bits 0-2; the legacy encoding ignores the others).
template <int P>
__m128i cmp(__m128i a, __m128i b, uint32_t* mx, int kind) {
  uint32_t host;
#define CMP(insn)                                                                       \
  __asm__ volatile("stmxcsr %1; ldmxcsr %2; " insn " %4, %3, %0; stmxcsr %2; ldmxcsr %1" \
                   : "+x"(a), "=m"(host), "+m"(*mx)                                     \
                   : "x"(b), "i"(P))
  switch (kind) {
    case 0: CMP("cmpps"); break;
    case 1: CMP("cmppd"); break;
    case 2: CMP("cmpss"); break;
    default: CMP("cmpsd"); break;
  }
#undef CMP
  return a;
}

template <int K>
__m128i cmp_kind(__m128i a, __m128i b, uint32_t* mx, unsigned pred) {
  switch (pred & 7) {
    case 0: return cmp<0>(a, b, mx, K);
    case 1: return cmp<1>(a, b, mx, K);
    case 2: return cmp<2>(a, b, mx, K);
    case 3: return cmp<3>(a, b, mx, K);
    case 4: return cmp<4>(a, b, mx, K);
    case 5: return cmp<5>(a, b, mx, K);
    case 6: return cmp<6>(a, b, mx, K);
    default: return cmp<7>(a, b, mx, K);
  }
}

// The floating-point lanes an instruction computes, for the underflow check below.
enum Lanes : uint8_t { kNoFp, kSs, kPs, kSd, kPd, kPs2 };

struct Entry {
  ZydisMnemonic m;
  HostFn fn;       // nullptr: a compare (cmp_kind<kind>)
  uint8_t kind;    // compares: 0 ps, 1 pd, 2 ss, 3 sd
  uint8_t mem;     // bytes read from a memory source
  bool aligned;    // a 16-byte memory source must be 16-byte aligned (#GP(0))
  Lanes ue = kNoFp;  // result lanes of an instruction that can underflow
};

// A nonzero denormal among the result lanes `l` of r.
bool has_denormal(Lanes l, __m128i r) {
  uint8_t b[16];
  std::memcpy(b, &r, 16);
  unsigned n32 = l == kSs ? 1 : l == kPs ? 4 : l == kPs2 ? 2 : 0;
  unsigned n64 = l == kSd ? 1 : l == kPd ? 2 : 0;
  for (unsigned i = 0; i < n32; ++i) {
    uint32_t v;
    std::memcpy(&v, b + 4 * i, 4);
    if (!(v & 0x7f800000u) && (v & 0x7fffffu)) return true;
  }
  for (unsigned i = 0; i < n64; ++i) {
    uint64_t v;
    std::memcpy(&v, b + 8 * i, 8);
    if (!(v & 0x7ff0000000000000ull) && (v & 0xfffffffffffffull)) return true;
  }
  return false;
}

constexpr Entry kTable[] = {
    {ZYDIS_MNEMONIC_ADDPS, h_addps, 0, 16, true, kPs},   {ZYDIS_MNEMONIC_ADDPD, h_addpd, 0, 16, true, kPd},
    {ZYDIS_MNEMONIC_ADDSS, h_addss, 0, 4, false, kSs},   {ZYDIS_MNEMONIC_ADDSD, h_addsd, 0, 8, false, kSd},
    {ZYDIS_MNEMONIC_SUBPS, h_subps, 0, 16, true, kPs},   {ZYDIS_MNEMONIC_SUBPD, h_subpd, 0, 16, true, kPd},
    {ZYDIS_MNEMONIC_SUBSS, h_subss, 0, 4, false, kSs},   {ZYDIS_MNEMONIC_SUBSD, h_subsd, 0, 8, false, kSd},
    {ZYDIS_MNEMONIC_MULPS, h_mulps, 0, 16, true, kPs},   {ZYDIS_MNEMONIC_MULPD, h_mulpd, 0, 16, true, kPd},
    {ZYDIS_MNEMONIC_MULSS, h_mulss, 0, 4, false, kSs},   {ZYDIS_MNEMONIC_MULSD, h_mulsd, 0, 8, false, kSd},
    {ZYDIS_MNEMONIC_DIVPS, h_divps, 0, 16, true, kPs},   {ZYDIS_MNEMONIC_DIVPD, h_divpd, 0, 16, true, kPd},
    {ZYDIS_MNEMONIC_DIVSS, h_divss, 0, 4, false, kSs},   {ZYDIS_MNEMONIC_DIVSD, h_divsd, 0, 8, false, kSd},
    {ZYDIS_MNEMONIC_MINPS, h_minps, 0, 16, true},   {ZYDIS_MNEMONIC_MINPD, h_minpd, 0, 16, true},
    {ZYDIS_MNEMONIC_MINSS, h_minss, 0, 4, false},   {ZYDIS_MNEMONIC_MINSD, h_minsd, 0, 8, false},
    {ZYDIS_MNEMONIC_MAXPS, h_maxps, 0, 16, true},   {ZYDIS_MNEMONIC_MAXPD, h_maxpd, 0, 16, true},
    {ZYDIS_MNEMONIC_MAXSS, h_maxss, 0, 4, false},   {ZYDIS_MNEMONIC_MAXSD, h_maxsd, 0, 8, false},
    {ZYDIS_MNEMONIC_SQRTPS, h_sqrtps, 0, 16, true}, {ZYDIS_MNEMONIC_SQRTPD, h_sqrtpd, 0, 16, true},
    {ZYDIS_MNEMONIC_SQRTSS, h_sqrtss, 0, 4, false}, {ZYDIS_MNEMONIC_SQRTSD, h_sqrtsd, 0, 8, false},
    {ZYDIS_MNEMONIC_RCPPS, h_rcpps, 0, 16, true},   {ZYDIS_MNEMONIC_RCPSS, h_rcpss, 0, 4, false},
    {ZYDIS_MNEMONIC_RSQRTPS, h_rsqrtps, 0, 16, true},
    {ZYDIS_MNEMONIC_RSQRTSS, h_rsqrtss, 0, 4, false},
    {ZYDIS_MNEMONIC_CMPPS, nullptr, 0, 16, true},   {ZYDIS_MNEMONIC_CMPPD, nullptr, 1, 16, true},
    {ZYDIS_MNEMONIC_CMPSS, nullptr, 2, 4, false},   {ZYDIS_MNEMONIC_CMPSD, nullptr, 3, 8, false},
    {ZYDIS_MNEMONIC_CVTSS2SD, h_cvtss2sd, 0, 4, false},
    {ZYDIS_MNEMONIC_CVTSD2SS, h_cvtsd2ss, 0, 8, false, kSs},
    {ZYDIS_MNEMONIC_CVTDQ2PS, h_cvtdq2ps, 0, 16, true},
    {ZYDIS_MNEMONIC_CVTPS2DQ, h_cvtps2dq, 0, 16, true},
    {ZYDIS_MNEMONIC_CVTTPS2DQ, h_cvttps2dq, 0, 16, true},
    {ZYDIS_MNEMONIC_CVTDQ2PD, h_cvtdq2pd, 0, 8, false},
    {ZYDIS_MNEMONIC_CVTPD2DQ, h_cvtpd2dq, 0, 16, true},
    {ZYDIS_MNEMONIC_CVTTPD2DQ, h_cvttpd2dq, 0, 16, true},
    {ZYDIS_MNEMONIC_CVTPS2PD, h_cvtps2pd, 0, 8, false},
    {ZYDIS_MNEMONIC_CVTPD2PS, h_cvtpd2ps, 0, 16, true, kPs2},
};

// d = destination xmm, a = source xmm or 0xff (memory at slot b, `size` bytes, checked for
// alignment when imm2 bit 8), cond = kTable index, imm2 low byte = imm8.
void helper_sse_float(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  CpuState& s = cpu.s_;
  const Entry& t = kTable[op.cond];
  alignas(16) uint8_t src[16] = {};
  if (op.a == 0xff)
    load_mem(cpu, op, slot(cpu, op.b), op.size, op.imm2 & 0x100, src);
  else
    std::memcpy(src, s.xmm[op.a], 16);
  __m128i a, b;
  std::memcpy(&a, s.xmm[op.d], 16);
  std::memcpy(&b, src, 16);
  uint32_t mx = host_mxcsr(s.mxcsr);
  // With underflow unmasked, FTZ does not apply and an exact tiny result still underflows
  // (SDM Vol. 1 §11.5.2.4, §10.2.3.3); the host, all masked, flags only inexact tiny ones.
  bool um_unmasked = !(s.mxcsr & 0x800);
  if (um_unmasked) mx &= ~0x8000u;
  unsigned pred = op.imm2 & 0xff;
  if (t.fn) {
    a = t.fn(a, b, &mx);
  } else {
    switch (t.kind) {
      case 0: a = cmp_kind<0>(a, b, &mx, pred); break;
      case 1: a = cmp_kind<1>(a, b, &mx, pred); break;
      case 2: a = cmp_kind<2>(a, b, &mx, pred); break;
      default: a = cmp_kind<3>(a, b, &mx, pred); break;
    }
  }
  uint32_t flags = mx & kMxcsrFlags;
  if (um_unmasked && t.ue != kNoFp && !(flags & (kMxcsrPreCompute | 0x10)) &&
      has_denormal(t.ue, a))
    flags |= 0x10;
  sse_fp_commit(cpu, op, flags);
  std::memcpy(s.xmm[op.d], &a, 16);
}

}  // namespace

bool emit_sse_float(Emitter& e) {
  const auto& in = e.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) return false;  // no VEX/EVEX
  // cmpsd without 0F is the string compare (tcg/emit_string.cc).
  if (in.mnemonic == ZYDIS_MNEMONIC_CMPSD && in.opcode_map == ZYDIS_OPCODE_MAP_DEFAULT)
    return false;
  unsigned index = 0;
  while (index < std::size(kTable) && kTable[index].m != in.mnemonic) ++index;
  if (index == std::size(kTable) || !e.is_reg(0)) return false;
  int d = xmm_of(e.op[0].reg.value);
  if (d < 0) return false;
  const Entry& t = kTable[index];
  uint64_t imm2 = t.aligned ? 0x100 : 0;
  if (in.operand_count_visible > 2 && e.is_imm(2)) imm2 |= e.op[2].imm.value.u & 0xff;
  if (e.is_mem(1)) {
    e.helper(helper_sse_float, static_cast<uint32_t>(d), 0xff, e.ea(e.op[1]), 0,
             static_cast<int64_t>(imm2));
    e.block.ops.back().size = t.mem;
  } else {
    int s = xmm_of(e.op[1].reg.value);
    if (s < 0) return false;
    e.helper(helper_sse_float, static_cast<uint32_t>(d), static_cast<uint32_t>(s), 0, 0,
             static_cast<int64_t>(imm2));
  }
  e.block.ops.back().cond = static_cast<uint8_t>(index);
  return true;
}

}  // namespace corvid::tcg
