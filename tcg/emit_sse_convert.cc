// SSE2 conversions and compares that cross into GPRs or RFLAGS: pmovmskb, cvtsi2sd,
// cvt(t)sd2si, (u)comisd.
#include <cmath>

#include "tcg/sse_common.h"

namespace corvid::tcg {
namespace {

void helper_pmovmskb(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  uint32_t m = 0;
  for (int i = 0; i < 16; ++i) m |= static_cast<uint32_t>(cpu.s_.xmm[op.a][i] >> 7) << i;
  slot(cpu, op.d) = m;
}

// cvtsi2sd (cond 0: d = xmm, a = int slot), cvttsd2si/cvtsd2si (cond 1/2: d = slot, a = xmm or
// memory value slot when imm2 = 1); size = integer size.
void helper_cvt(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  if (op.cond == 0) {
    int64_t v = sign_extend(slot(cpu, op.a), op.size);
    put_f64(cpu.s_.xmm[op.d], static_cast<double>(v));
    return;
  }
  double x;
  if (op.imm2) {
    uint64_t bits = slot(cpu, op.a);
    std::memcpy(&x, &bits, 8);
  } else {
    x = get_f64(cpu.s_.xmm[op.a]);
  }
  double r = op.cond == 1 ? std::trunc(x) : std::nearbyint(x);
  double lim = op.size == 8 ? 9223372036854775808.0 : 2147483648.0;
  uint64_t indefinite = op.size == 8 ? 0x8000000000000000ull : 0x80000000ull;
  uint64_t out = (std::isnan(r) || r >= lim || r < -lim)
                     ? indefinite
                     : static_cast<uint64_t>(static_cast<int64_t>(r)) & size_mask(op.size);
  slot(cpu, op.d) = out;
}

// ucomisd/comisd: d = xmm, a = xmm or 0xff with memory value in slot b.
void helper_ucomisd(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  double x = get_f64(cpu.s_.xmm[op.d]), y;
  if (op.a == 0xff) {
    uint64_t bits = slot(cpu, op.b);
    std::memcpy(&y, &bits, 8);
  } else {
    y = get_f64(cpu.s_.xmm[op.a]);
  }
  uint64_t f;
  if (std::isnan(x) || std::isnan(y))
    f = kFlagZf | kFlagPf | kFlagCf;
  else if (x < y)
    f = kFlagCf;
  else if (x > y)
    f = 0;
  else
    f = kFlagZf;
  write_arith_flags(cpu.s_, f);
}

}  // namespace

bool emit_sse_convert(Emitter& e) {
  const auto& in = e.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) return false;  // no VEX/EVEX
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_PMOVMSKB: {
      if (xmm_of(e.op[1].reg.value) < 0) return false;  // MMX form
      uint32_t d = e.temp();
      e.helper(helper_pmovmskb, d, static_cast<uint32_t>(xmm_of(e.op[1].reg.value)));
      e.write(0, d, e.opsize(0));
      return true;
    }
    case ZYDIS_MNEMONIC_CVTSI2SD: {
      int x = xmm_of(e.op[0].reg.value);
      unsigned size = e.opsize(1);
      e.helper(helper_cvt, static_cast<uint32_t>(x), e.read(1));
      e.block.ops.back().size = static_cast<uint8_t>(size);
      e.block.ops.back().cond = 0;
      return true;
    }
    case ZYDIS_MNEMONIC_CVTTSD2SI:
    case ZYDIS_MNEMONIC_CVTSD2SI: {
      unsigned size = e.opsize(0);
      uint32_t d = e.temp();
      bool mem = e.is_mem(1);
      uint32_t a = mem ? e.read(1, 8) : static_cast<uint32_t>(xmm_of(e.op[1].reg.value));
      e.helper(helper_cvt, d, a, 0, 0, mem);
      e.block.ops.back().size = static_cast<uint8_t>(size);
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_CVTTSD2SI ? 1 : 2;
      e.write(0, d, size);
      return true;
    }
    case ZYDIS_MNEMONIC_UCOMISD:
    case ZYDIS_MNEMONIC_COMISD: {
      int x = xmm_of(e.op[0].reg.value);
      if (e.is_mem(1)) {
        e.helper(helper_ucomisd, static_cast<uint32_t>(x), 0xff, e.read(1, 8));
      } else {
        e.helper(helper_ucomisd, static_cast<uint32_t>(x),
                 static_cast<uint32_t>(xmm_of(e.op[1].reg.value)));
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace corvid::tcg
