// SSE state instructions: ldmxcsr/stmxcsr and fxsave/fxrstor (what Linux's FPU context switch
// uses without XSAVE).
#include "tcg/sse_common.h"
#include "tcg/x87_host.h"

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

// FXSAVE/FXRSTOR layout (SDM Vol. 1 Tables 10-2, 10-3): FCW FSW FTW(abridged) FOP, then FIP and
// FDP as 64-bit offsets (REX.W) or as 32-bit offset + selector pairs, MXCSR at 24, ST0-7 at 32,
// XMM0-15 at 160 (XMM8-15 only in 64-bit mode). cond bit 0: restore; bit 1: REX.W layout.
void helper_fxsave(Cpu& cpu, const Op& op) {
  if (cpu.s_.cr0 & (kCr0Em | kCr0Ts)) cpu.raise_no_error(kNm, &op);
  uint64_t addr = slot(cpu, op.a);
  if (addr & 15) cpu.raise(kGp, 0, &op);
  CpuState& s = cpu.s_;
  bool wide = op.cond & 2;
  uint8_t img[512] = {};
  unsigned nxmm = code64(s) ? 16 : 8;
  if (!(op.cond & 1)) {
    std::memcpy(img + 0, &s.fcw, 2);
    std::memcpy(img + 2, &s.fsw, 2);
    img[4] = static_cast<uint8_t>(s.ftw);
    std::memcpy(img + 6, &s.fop, 2);
    if (wide) {
      std::memcpy(img + 8, &s.fip, 8);
      std::memcpy(img + 16, &s.fdp, 8);
    } else {
      uint32_t fip = static_cast<uint32_t>(s.fip), fdp = static_cast<uint32_t>(s.fdp);
      std::memcpy(img + 8, &fip, 4);
      std::memcpy(img + 12, &s.fcs, 2);
      std::memcpy(img + 16, &fdp, 4);
      std::memcpy(img + 20, &s.fds, 2);
    }
    std::memcpy(img + 24, &s.mxcsr, 4);
    uint32_t mask = 0xffff;
    std::memcpy(img + 28, &mask, 4);
    for (int i = 0; i < 8; ++i) std::memcpy(img + 32 + 16 * i, s.fpr[i], 10);
    for (unsigned i = 0; i < nxmm; ++i) std::memcpy(img + 160 + 16 * i, s.xmm[i], 16);
    cpu.translate(addr, Cpu::Access::kWrite, false, &op);
    cpu.translate(addr + 511, Cpu::Access::kWrite, false, &op);
    // Bytes 464..511 belong to software: the processor does not write them.
    for (unsigned i = 0; i < 464; i += 8) {
      uint64_t v;
      std::memcpy(&v, img + i, 8);
      cpu.store<8>(addr + i, v, &op);
    }
    return;
  }
  for (unsigned i = 0; i < 512; i += 8) {
    uint64_t v = cpu.load<8>(addr + i, &op);
    std::memcpy(img + i, &v, 8);
  }
  uint32_t mx;
  std::memcpy(&mx, img + 24, 4);
  if (mx & ~0xffffu) cpu.raise(kGp, 0, &op);
  std::memcpy(&s.fcw, img, 2);
  uint16_t fsw;
  std::memcpy(&fsw, img + 2, 2);
  // Measured on hardware: an unmasked flag restored without ES still faults at the next waiting
  // instruction, and ES without a flag is dropped.
  s.fsw = x87_with_summary(fsw, s.fcw);
  s.ftw = img[4];
  std::memcpy(&s.fop, img + 6, 2);
  s.fop &= 0x7ff;
  if (wide) {
    std::memcpy(&s.fip, img + 8, 8);
    std::memcpy(&s.fdp, img + 16, 8);
  } else {
    uint32_t fip, fdp;
    std::memcpy(&fip, img + 8, 4);
    std::memcpy(&s.fcs, img + 12, 2);
    std::memcpy(&fdp, img + 16, 4);
    std::memcpy(&s.fds, img + 20, 2);
    s.fip = fip;
    s.fdp = fdp;
  }
  s.mxcsr = mx;
  for (int i = 0; i < 8; ++i) {
    std::memset(s.fpr[i], 0, 16);
    std::memcpy(s.fpr[i], img + 32 + 16 * i, 10);
  }
  for (unsigned i = 0; i < nxmm; ++i) std::memcpy(s.xmm[i], img + 160 + 16 * i, 16);
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
      e.block.ops.back().cond = static_cast<uint8_t>(
          (in.mnemonic == ZYDIS_MNEMONIC_FXRSTOR || in.mnemonic == ZYDIS_MNEMONIC_FXRSTOR64) |
          (in.mnemonic == ZYDIS_MNEMONIC_FXSAVE64 || in.mnemonic == ZYDIS_MNEMONIC_FXRSTOR64) << 1);
      return true;
    default:
      return false;
  }
}

}  // namespace corvid::tcg
