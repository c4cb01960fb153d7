// SSE/SSE2 floating point on the host's own SSE unit (tcg/ internal, tcg/emit_sse_float*.cc):
// each helper runs the guest's instruction on the host with the guest's MXCSR control bits
// (rounding, DAZ, FTZ) and every exception masked, so results, NaN propagation and the raised
// flags are the hardware's; sse_fp_commit() then merges the flags into the guest's MXCSR and
// raises #XM (or #UD) for an unmasked one before the destination is written.
#pragma once

#include <cstdint>

#include "tcg/sse_common.h"

namespace corvid::tcg {

constexpr uint32_t kMxcsrFlags = 0x3f;      // IE DE ZE OE UE PE
constexpr uint32_t kMxcsrPreCompute = 0x7;  // IE DE ZE: detected before the computation

// The MXCSR the host runs a guest instruction under: the guest's rounding/DAZ/FTZ, no flags,
// all exceptions masked.
inline uint32_t host_mxcsr(uint32_t guest) {
  return (guest & ~kMxcsrFlags) | 0x1f80u;
}

// Records the exception flags `flags` the host raised for one instruction. With an unmasked one
// the destination is left alone: the pre-computation exceptions (invalid, denormal, divide by
// zero) are reported without the post-computation ones of the other lanes (SDM Vol. 1
// §11.5.2), and the fault is #XM with CR4.OSXMMEXCPT=1, else #UD (SDM Vol. 1 §11.5.1).
// Returns normally when every raised exception is masked.
inline void sse_fp_commit(Cpu& cpu, const Op& op, uint32_t flags) {
  CpuState& s = cpu.s_;
  uint32_t unmasked = flags & ~(s.mxcsr >> 7) & kMxcsrFlags;
  if (unmasked) {
    if (unmasked & kMxcsrPreCompute) flags &= kMxcsrPreCompute;
    s.mxcsr |= flags;
    cpu.raise_no_error((s.cr4 & kCr4Osxmmexcpt) ? kXm : kUd, &op);
  }
  s.mxcsr |= flags;
}

// Emitters (tcg/emit_sse_float.cc, tcg/emit_sse_float_gpr.cc, tcg/emit_sse2_int.cc).
bool emit_sse_float(Emitter& e);
bool emit_sse_float_gpr(Emitter& e);
bool emit_sse2_int(Emitter& e);

}  // namespace corvid::tcg
