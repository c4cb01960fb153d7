// SSE/SSE2 floating point that crosses into GPRs or RFLAGS (SDM Vol. 2 pages): cvtsi2ss/sd from
// 32/64-bit integers, cvt(t)ss2si and cvt(t)sd2si to 32/64-bit integers, (u)comiss/(u)comisd,
// movmskps/pd. The conversions and compares run as the host instruction under the guest's
// MXCSR (tcg/sse_float.h): rounding, the integer indefinite, QNaN/SNaN signalling are the
// hardware's. Memory sources are loaded by the IR before the helper.
#include <immintrin.h>

#include <cstring>

#include "tcg/sse_float.h"

namespace corvid::tcg {
namespace {

#define HOST_BEGIN "stmxcsr %1; ldmxcsr %2; "
#define HOST_END "; stmxcsr %2; ldmxcsr %1"

// cvtsi2ss/sd xmm[d], slot a (size 4 or 8); cond 0 ss, 1 sd.
void helper_cvtsi2f(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  CpuState& s = cpu.s_;
  uint64_t v = slot(cpu, op.a);
  __m128i x;
  std::memcpy(&x, s.xmm[op.d], 16);
  uint32_t mx = host_mxcsr(s.mxcsr), host;
  auto i32 = static_cast<int32_t>(v);
  auto i64 = static_cast<int64_t>(v);
  switch (op.cond * 2 + (op.size == 8)) {
    case 0:
      __asm__ volatile(HOST_BEGIN "cvtsi2ssl %3, %0" HOST_END
                       : "+x"(x), "=m"(host), "+m"(mx) : "r"(i32));
      break;
    case 1:
      __asm__ volatile(HOST_BEGIN "cvtsi2ssq %3, %0" HOST_END
                       : "+x"(x), "=m"(host), "+m"(mx) : "r"(i64));
      break;
    case 2:
      __asm__ volatile(HOST_BEGIN "cvtsi2sdl %3, %0" HOST_END
                       : "+x"(x), "=m"(host), "+m"(mx) : "r"(i32));
      break;
    default:
      __asm__ volatile(HOST_BEGIN "cvtsi2sdq %3, %0" HOST_END
                       : "+x"(x), "=m"(host), "+m"(mx) : "r"(i64));
      break;
  }
  sse_fp_commit(cpu, op, mx & kMxcsrFlags);
  std::memcpy(s.xmm[op.d], &x, 16);
}

// slot d = cvt(t)ss2si / cvt(t)sd2si of xmm[a] (imm2 = 0) or of the value in slot a (imm2 = 1);
// size = integer size; cond 0 cvtss2si, 1 cvttss2si, 2 cvtsd2si, 3 cvttsd2si.
void helper_cvtf2si(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  CpuState& s = cpu.s_;
  __m128i x{};
  if (op.imm2) {
    uint64_t v = slot(cpu, op.a);
    std::memcpy(&x, &v, 8);
  } else {
    std::memcpy(&x, s.xmm[op.a], 16);
  }
  uint32_t mx = host_mxcsr(s.mxcsr), host;
  int32_t r32 = 0;
  int64_t r64 = 0;
#define CVT(insn, r) \
  __asm__ volatile(HOST_BEGIN insn " %3, %0" HOST_END : "=&r"(r), "=m"(host), "+m"(mx) : "x"(x))
  bool q = op.size == 8;
  switch (op.cond) {
    case 0:
      if (q) CVT("cvtss2si", r64); else CVT("cvtss2si", r32);
      break;
    case 1:
      if (q) CVT("cvttss2si", r64); else CVT("cvttss2si", r32);
      break;
    case 2:
      if (q) CVT("cvtsd2si", r64); else CVT("cvtsd2si", r32);
      break;
    default:
      if (q) CVT("cvttsd2si", r64); else CVT("cvttsd2si", r32);
      break;
  }
#undef CVT
  sse_fp_commit(cpu, op, mx & kMxcsrFlags);
  slot(cpu, op.d) = q ? static_cast<uint64_t>(r64) : static_cast<uint32_t>(r32);
}
#undef HOST_BEGIN
#undef HOST_END

// (u)comiss/(u)comisd xmm[d] with xmm[a], or with the value in slot b when a = 0xff; cond 0
// ucomiss, 1 comiss, 2 ucomisd, 3 comisd. ZF PF CF from the compare, OF SF AF cleared.
void helper_comi(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  CpuState& s = cpu.s_;
  __m128i a, b{};
  std::memcpy(&a, s.xmm[op.d], 16);
  if (op.a == 0xff) {
    uint64_t v = slot(cpu, op.b);
    std::memcpy(&b, &v, 8);
  } else {
    std::memcpy(&b, s.xmm[op.a], 16);
  }
  uint32_t mx = host_mxcsr(s.mxcsr), host;
  uint8_t zf, pf, cf;
#define COMI(insn)                                                                      \
  __asm__ volatile("stmxcsr %0; ldmxcsr %1; " insn                                      \
                   " %6, %5; setz %2; setp %3; setc %4; stmxcsr %1; ldmxcsr %0"          \
                   : "=m"(host), "+m"(mx), "=&r"(zf), "=&r"(pf), "=&r"(cf)             \
                   : "x"(a), "x"(b)                                                    \
                   : "cc")
  switch (op.cond) {
    case 0: COMI("ucomiss"); break;
    case 1: COMI("comiss"); break;
    case 2: COMI("ucomisd"); break;
    default: COMI("comisd"); break;
  }
#undef COMI
  sse_fp_commit(cpu, op, mx & kMxcsrFlags);
  write_arith_flags(s, (zf ? kFlagZf : 0) | (pf ? kFlagPf : 0) | (cf ? kFlagCf : 0));
}

// slot d = sign bits of xmm[a]'s lanes: cond 0 movmskps (4 dwords), 1 movmskpd (2 qwords).
void helper_movmsk(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  const uint8_t* x = cpu.s_.xmm[op.a];
  uint64_t m = 0;
  if (op.cond == 0) {
    for (unsigned i = 0; i < 4; ++i) m |= static_cast<uint64_t>(x[4 * i + 3] >> 7) << i;
  } else {
    m = static_cast<uint64_t>(x[7] >> 7) | static_cast<uint64_t>(x[15] >> 7) << 1;
  }
  slot(cpu, op.d) = m;
}

}  // namespace

bool emit_sse_float_gpr(Emitter& e) {
  const auto& in = e.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) return false;  // no VEX/EVEX
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_CVTSI2SS:
    case ZYDIS_MNEMONIC_CVTSI2SD: {
      int x = xmm_of(e.op[0].reg.value);
      if (x < 0) return false;
      unsigned size = e.opsize(1);
      e.helper(helper_cvtsi2f, static_cast<uint32_t>(x), e.read(1));
      e.block.ops.back().size = static_cast<uint8_t>(size);
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_CVTSI2SD;
      return true;
    }
    case ZYDIS_MNEMONIC_CVTSS2SI:
    case ZYDIS_MNEMONIC_CVTTSS2SI:
    case ZYDIS_MNEMONIC_CVTSD2SI:
    case ZYDIS_MNEMONIC_CVTTSD2SI: {
      uint8_t cond = in.mnemonic == ZYDIS_MNEMONIC_CVTSS2SI    ? 0
                     : in.mnemonic == ZYDIS_MNEMONIC_CVTTSS2SI ? 1
                     : in.mnemonic == ZYDIS_MNEMONIC_CVTSD2SI  ? 2
                                                               : 3;
      unsigned size = e.opsize(0);
      bool mem = e.is_mem(1);
      if (!mem && xmm_of(e.op[1].reg.value) < 0) return false;
      uint32_t d = e.temp();
      uint32_t a = mem ? e.read(1, cond < 2 ? 4 : 8)
                       : static_cast<uint32_t>(xmm_of(e.op[1].reg.value));
      e.helper(helper_cvtf2si, d, a, 0, 0, mem);
      e.block.ops.back().size = static_cast<uint8_t>(size);
      e.block.ops.back().cond = cond;
      e.write(0, d, size);
      return true;
    }
    case ZYDIS_MNEMONIC_UCOMISS:
    case ZYDIS_MNEMONIC_COMISS:
    case ZYDIS_MNEMONIC_UCOMISD:
    case ZYDIS_MNEMONIC_COMISD: {
      uint8_t cond = in.mnemonic == ZYDIS_MNEMONIC_UCOMISS  ? 0
                     : in.mnemonic == ZYDIS_MNEMONIC_COMISS ? 1
                     : in.mnemonic == ZYDIS_MNEMONIC_UCOMISD ? 2
                                                             : 3;
      int x = xmm_of(e.op[0].reg.value);
      if (x < 0) return false;
      if (e.is_mem(1)) {
        e.helper(helper_comi, static_cast<uint32_t>(x), 0xff, e.read(1, cond < 2 ? 4 : 8));
      } else {
        int y = xmm_of(e.op[1].reg.value);
        if (y < 0) return false;
        e.helper(helper_comi, static_cast<uint32_t>(x), static_cast<uint32_t>(y));
      }
      e.block.ops.back().cond = cond;
      return true;
    }
    case ZYDIS_MNEMONIC_MOVMSKPS:
    case ZYDIS_MNEMONIC_MOVMSKPD: {
      int x = xmm_of(e.op[1].reg.value);
      if (x < 0) return false;
      uint32_t d = e.temp();
      e.helper(helper_movmsk, d, static_cast<uint32_t>(x));
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_MOVMSKPD;
      e.write(0, d, e.opsize(0));
      return true;
    }
    default:
      return false;
  }
}

}  // namespace corvid::tcg
