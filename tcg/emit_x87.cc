// The x87 minimum a Linux boot and static busybox need: fninit, fnclex, fnstsw, fnstcw, fldcw,
// fwait, emms. Arithmetic x87 instructions raise #UD (stage 1: not implemented).
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

void check_nm(Cpu& cpu, const Op& op) {
  // CR0.EM or CR0.TS: device-not-available (SDM Vol. 3 §2.5).
  if (cpu.s_.cr0 & (kCr0Em | kCr0Ts)) cpu.raise_no_error(kNm, &op);
}

void helper_fninit(Cpu& cpu, const Op& op) {
  check_nm(cpu, op);
  cpu.s_.fcw = 0x37f;
  cpu.s_.fsw = 0;
  cpu.s_.ftw = 0;
}

void helper_fnclex(Cpu& cpu, const Op& op) {
  check_nm(cpu, op);
  cpu.s_.fsw &= 0x7f00;
}

// d = status (cond 0) or control (cond 1) word.
void helper_fnst(Cpu& cpu, const Op& op) {
  check_nm(cpu, op);
  slot(cpu, op.d) = op.cond ? cpu.s_.fcw : cpu.s_.fsw;
}

void helper_fldcw(Cpu& cpu, const Op& op) {
  check_nm(cpu, op);
  cpu.s_.fcw = static_cast<uint16_t>(slot(cpu, op.a));
}

void helper_emms(Cpu& cpu, const Op& op) {
  check_nm(cpu, op);
  cpu.s_.ftw = 0;
}

}  // namespace

bool emit_x87(Emitter& e) {
  switch (e.in.mnemonic) {
    case ZYDIS_MNEMONIC_FNINIT:
      e.helper(helper_fninit);
      return true;
    case ZYDIS_MNEMONIC_FNCLEX:
      e.helper(helper_fnclex);
      return true;
    case ZYDIS_MNEMONIC_FNSTSW:
    case ZYDIS_MNEMONIC_FNSTCW: {
      uint32_t d = e.temp();
      e.helper(helper_fnst, d);
      e.block.ops.back().cond = e.in.mnemonic == ZYDIS_MNEMONIC_FNSTCW;
      e.write(0, d, 2);
      return true;
    }
    case ZYDIS_MNEMONIC_FLDCW:
      e.helper(helper_fldcw, 0, e.read(0, 2));
      return true;
    case ZYDIS_MNEMONIC_FWAIT:
      return true;
    case ZYDIS_MNEMONIC_EMMS:
      e.helper(helper_emms);
      return true;
    default:
      return false;
  }
}

}  // namespace corvid::tcg
