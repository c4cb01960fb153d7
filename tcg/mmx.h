// MMX (SDM Vol. 1 ch. 9), tcg/ internal: the 64-bit integer operations shared by the MMX
// emitter (tcg/emit_mmx.cc) and their pure computations (tcg/mmx_ops.cc).
#pragma once

#include <cstdint>

#include "tcg/translator.h"

namespace corvid::tcg {

enum MmxOp : uint8_t {
  kMmMov,  // d = b
  kMmPaddb, kMmPaddw, kMmPaddd, kMmPaddq, kMmPaddsb, kMmPaddsw, kMmPaddusb, kMmPaddusw,
  kMmPsubb, kMmPsubw, kMmPsubd, kMmPsubq, kMmPsubsb, kMmPsubsw, kMmPsubusb, kMmPsubusw,
  kMmPmullw, kMmPmulhw, kMmPmulhuw, kMmPmuludq, kMmPmaddwd, kMmPmulhrsw, kMmPmaddubsw,
  kMmPcmpeqb, kMmPcmpeqw, kMmPcmpeqd, kMmPcmpgtb, kMmPcmpgtw, kMmPcmpgtd,
  kMmPacksswb, kMmPackssdw, kMmPackuswb,
  kMmPunpcklbw, kMmPunpcklwd, kMmPunpckldq, kMmPunpckhbw, kMmPunpckhwd, kMmPunpckhdq,
  kMmPand, kMmPandn, kMmPor, kMmPxor,
  kMmPsllw, kMmPslld, kMmPsllq, kMmPsrlw, kMmPsrld, kMmPsrlq, kMmPsraw, kMmPsrad,
  kMmPshufw, kMmPminub, kMmPmaxub, kMmPminsw, kMmPmaxsw, kMmPavgb, kMmPavgw, kMmPsadbw,
  kMmPshufb, kMmPhaddw, kMmPhaddd, kMmPhaddsw, kMmPhsubw, kMmPhsubd, kMmPhsubsw,
  kMmPsignb, kMmPsignw, kMmPsignd, kMmPabsb, kMmPabsw, kMmPabsd, kMmPalignr,
};

// The result of `op` with destination a, source b and immediate imm (SDM Vol. 2 pages).
uint64_t mmx_compute(MmxOp op, uint64_t a, uint64_t b, uint8_t imm);

// Entry checks and state change of every MMX instruction: #UD with CR0.EM, #NM with CR0.TS, #MF
// with a pending x87 exception; then TOP = 0 and all tags valid.
void mmx_enter(Cpu& cpu, const Op& op);
uint64_t mmx_get(const CpuState& s, unsigned i);
// Writes MMX register i: the mantissa, with the exponent/sign field set to all ones (§9.5.1).
void mmx_set(CpuState& s, unsigned i, uint64_t v);

bool emit_mmx(Emitter& e);
// SSE3/SSSE3 on xmm registers (tcg/emit_sse3.cc).
bool emit_sse3(Emitter& e);

}  // namespace corvid::tcg
