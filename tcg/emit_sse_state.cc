// SSE state instructions: ldmxcsr/stmxcsr and fxsave/fxrstor (what Linux's FPU context switch
// uses without XSAVE).
#include "tcg/sse_common.h"

namespace corvid::tcg {
namespace {

void helper_mxcsr(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  uint64_t addr = slot(cpu, op.a);
  if (op.cond == 0) {
    uint64_t v = cpu.load_slow(addr, 4, &op);
    if (v & ~0xffffull) cpu.raise(kGp, 0, &op);
    cpu.s_.mxcsr = static_cast<uint32_t>(v);
  } else {
    cpu.store_slow(addr, 4, cpu.s_.mxcsr, &op);
  }
}

// FXSAVE/FXRSTOR 64-bit layout (SDM Vol. 1 Table 10-2): FCW FSW FTW(abridged) ... MXCSR at 24,
// ST0-7 at 32, XMM0-15 at 160.
void helper_fxsave(Cpu& cpu, const Op& op) {
  if (cpu.s_.cr0 & (kCr0Em | kCr0Ts)) cpu.raise_no_error(kNm, &op);
  uint64_t addr = slot(cpu, op.a);
  if (addr & 15) cpu.raise(kGp, 0, &op);
  CpuState& s = cpu.s_;
  uint8_t img[512] = {};
  std::memcpy(img + 0, &s.fcw, 2);
  std::memcpy(img + 2, &s.fsw, 2);
  img[4] = static_cast<uint8_t>(s.ftw);
  std::memcpy(img + 24, &s.mxcsr, 4);
  uint32_t mask = 0xffff;
  std::memcpy(img + 28, &mask, 4);
  for (int i = 0; i < 8; ++i) std::memcpy(img + 32 + 16 * i, s.fpr[i], 16);
  unsigned nxmm = code64(s) ? 16 : 8;
  for (unsigned i = 0; i < nxmm; ++i) std::memcpy(img + 160 + 16 * i, s.xmm[i], 16);
  if (op.cond == 0) {
    cpu.translate(addr, Cpu::Access::kWrite, false, &op);
    cpu.translate(addr + 511, Cpu::Access::kWrite, false, &op);
    for (unsigned i = 0; i < 512; i += 8) {
      uint64_t v;
      std::memcpy(&v, img + i, 8);
      cpu.store<8>(addr + i, v, &op);
    }
  } else {
    for (unsigned i = 0; i < 512; i += 8) {
      uint64_t v = cpu.load<8>(addr + i, &op);
      std::memcpy(img + i, &v, 8);
    }
    uint32_t mx;
    std::memcpy(&mx, img + 24, 4);
    if (mx & ~0xffffu) cpu.raise(kGp, 0, &op);
    std::memcpy(&s.fcw, img, 2);
    std::memcpy(&s.fsw, img + 2, 2);
    s.ftw = img[4];
    s.mxcsr = mx;
    for (int i = 0; i < 8; ++i) std::memcpy(s.fpr[i], img + 32 + 16 * i, 16);
    for (unsigned i = 0; i < nxmm; ++i) std::memcpy(s.xmm[i], img + 160 + 16 * i, 16);
  }
}

}  // namespace

bool emit_sse_state(Emitter& e) {
  const auto& in = e.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) return false;  // no VEX/EVEX
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_LDMXCSR:
    case ZYDIS_MNEMONIC_STMXCSR:
      e.helper(helper_mxcsr, 0, e.ea(e.op[0]));
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_STMXCSR;
      return true;
    case ZYDIS_MNEMONIC_FXSAVE:
    case ZYDIS_MNEMONIC_FXSAVE64:
    case ZYDIS_MNEMONIC_FXRSTOR:
    case ZYDIS_MNEMONIC_FXRSTOR64:
      e.helper(helper_fxsave, 0, e.ea(e.op[0]));
      e.block.ops.back().cond =
          in.mnemonic == ZYDIS_MNEMONIC_FXRSTOR || in.mnemonic == ZYDIS_MNEMONIC_FXRSTOR64;
      return true;
    default:
      return false;
  }
}

}  // namespace corvid::tcg
