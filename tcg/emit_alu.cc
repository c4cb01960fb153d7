// Integer data movement and arithmetic: mov/movzx/movsx/lea/xchg, the eight ALU ops, inc/dec/
// neg/not, shifts and rotates, cmov/setcc, mul/imul/div/idiv, sign extensions.
#include <sched.h>

#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

bool is_gpr_or_mem_or_imm(const Emitter& e, int i) {
  if (e.op[i].type == ZYDIS_OPERAND_TYPE_REGISTER) {
    int idx;
    unsigned size;
    bool hi;
    return gpr_of(e.op[i].reg.value, &idx, &size, &hi);
  }
  return e.op[i].type == ZYDIS_OPERAND_TYPE_MEMORY || e.op[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE;
}

void emit_binary(Emitter& e, AluOp a) {
  unsigned size = e.opsize(0);
  bool writes = a != kCmp && a != kTest;
  if (writes) e.probe_write(0);
  uint32_t x = e.read(0);
  uint32_t y = e.read(1, size);
  uint32_t r = e.alu(a, x, y, size);
  if (writes) e.write(0, r);
}

void emit_unary(Emitter& e, UnaryOp u) {
  unsigned size = e.opsize(0);
  e.probe_write(0);
  uint32_t x = e.read(0);
  Op o;
  o.kind = IrKind::kUnary;
  o.cond = u;
  o.d = e.temp();
  o.a = x;
  o.size = size;
  e.emit(o);
  e.write(0, o.d);
}

void emit_shift(Emitter& e, ShiftOp s) {
  unsigned size = e.opsize(0);
  e.probe_write(0);
  uint32_t x = e.read(0);
  uint32_t c = e.op[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE ? e.movi(e.op[1].imm.value.u & 0xff)
                                                            : e.read(1, 1);
  Op o;
  o.kind = IrKind::kShift;
  o.cond = s;
  o.d = e.temp();
  o.a = x;
  o.b = c;
  o.size = size;
  e.emit(o);
  e.write(0, o.d);
}

// Double-precision shifts (SDM Vol. 2 "SHLD", "SHRD"): op.a = destination, b = source, c = count.
void helper_shxd(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  unsigned size = op.size, bits = size * 8;
  unsigned count = slot(cpu, op.c) & (size == 8 ? 63 : 31);
  uint64_t m = size_mask(size);
  uint64_t a = slot(cpu, op.a) & m, b = slot(cpu, op.b) & m;
  if (count == 0) {
    slot(cpu, op.d) = a;
    return;
  }
  uint64_t r;
  bool cf;
  bool left = op.cond == 0;
  if (size == 2 && count > 16) {
    // 16-bit counts above 16 are undefined; mimic the 32-bit pattern hardware uses.
    uint64_t wide = left ? (a << 16) | b : (b << 16) | a;
    uint64_t wide2 = (wide << 32) | wide;
    if (left) {
      r = (wide2 >> (32 - (count - 16) - 0)) & m;
      cf = (wide2 >> (64 - count - 16)) & 1;
    } else {
      r = (wide2 >> count) & m;
      cf = (wide2 >> (count - 1)) & 1;
    }
  } else if (left) {
    r = ((a << count) | (count < bits ? b >> (bits - count) : 0)) & m;
    if (count >= bits) r = (b << (count - bits)) & m;
    cf = count <= bits ? (a >> (bits - count)) & 1 : (b >> (2 * bits - count)) & 1;
  } else {
    r = ((a >> count) | (count < bits ? b << (bits - count) : 0)) & m;
    if (count >= bits) r = (b >> (count - bits)) & m;
    cf = count <= bits ? (a >> (count - 1)) & 1 : (b >> (count - bits - 1)) & 1;
  }
  uint64_t f = 0;
  if (cf) f |= kFlagCf;
  if ((r & m) == 0) f |= kFlagZf;
  if (r & sign_bit(size)) f |= kFlagSf;
  if (!(__builtin_popcount(r & 0xff) & 1)) f |= kFlagPf;
  if (((r ^ a) & sign_bit(size)) != 0) f |= kFlagOf;
  write_arith_flags(s, f);
  slot(cpu, op.d) = r;
}

void set_mul_flags(CpuState& s, uint64_t low, unsigned size, bool overflow) {
  s.cc_dst = low & size_mask(size);
  s.cc_src = overflow;
  s.cc_op = make_cc_op(kCcMul, size);
}

// Writes the high/low halves of a one-operand mul/div result (8-bit: AH:AL; else rDX:rAX).
void write_pair(CpuState& s, unsigned size, uint64_t lo, uint64_t hi) {
  auto set = [&](uint64_t& r, uint64_t v) {
    if (size == 2)
      r = (r & ~0xffffull) | (v & 0xffff);
    else if (size == 4)
      r = v & 0xffffffffull;
    else
      r = v;
  };
  if (size == 1) {
    s.gpr[0] = (s.gpr[0] & ~0xffffull) | (lo & 0xff) | ((hi & 0xff) << 8);
  } else {
    set(s.gpr[0], lo);
    set(s.gpr[2], hi);
  }
}

void helper_mul1(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  unsigned size = op.size;
  uint64_t m = size_mask(size);
  uint64_t src = slot(cpu, op.a) & m, rax = s.gpr[0] & m;
  unsigned __int128 p;
  if (op.cond) {  // imul
    __int128 sp = static_cast<__int128>(sign_extend(rax, size)) * sign_extend(src, size);
    p = static_cast<unsigned __int128>(sp);
    uint64_t lo = static_cast<uint64_t>(p) & m;
    bool ovf = static_cast<__int128>(sign_extend(lo, size)) != sp;
    write_pair(s, size, lo, static_cast<uint64_t>(sp >> (size * 8)));
    set_mul_flags(s, lo, size, ovf);
  } else {
    p = static_cast<unsigned __int128>(rax) * src;
    uint64_t lo = static_cast<uint64_t>(p) & m;
    uint64_t hi = static_cast<uint64_t>(p >> (size * 8)) & m;
    write_pair(s, size, lo, hi);
    set_mul_flags(s, lo, size, hi != 0);
  }
}

// mul r/m64, the hot case (multi-precision arithmetic): rdx:rax = rax * src.
void helper_mul_u64(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  unsigned __int128 p = static_cast<unsigned __int128>(s.gpr[0]) * slot(cpu, op.a);
  uint64_t lo = static_cast<uint64_t>(p), hi = static_cast<uint64_t>(p >> 64);
  s.gpr[0] = lo;
  s.gpr[2] = hi;
  set_mul_flags(s, lo, 8, hi != 0);
}

void helper_div(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  unsigned size = op.size, bits = size * 8;
  uint64_t m = size_mask(size);
  uint64_t divisor = slot(cpu, op.a) & m;
  if (divisor == 0) cpu.raise_no_error(kDe, &op);
  unsigned __int128 dividend;
  if (size == 1) {
    dividend = s.gpr[0] & 0xffff;
  } else {
    dividend = (static_cast<unsigned __int128>(s.gpr[2] & m) << bits) | (s.gpr[0] & m);
  }
  if (op.cond == 0) {
    unsigned __int128 q = dividend / divisor, r = dividend % divisor;
    if (q > m) cpu.raise_no_error(kDe, &op);
    write_pair(s, size, static_cast<uint64_t>(q), static_cast<uint64_t>(r));
  } else {
    __int128 sd;
    if (size == 8) {
      sd = static_cast<__int128>(dividend);
    } else {
      sd = static_cast<__int128>(
          static_cast<int64_t>(static_cast<uint64_t>(dividend) << (64 - 2 * bits)) >>
          (64 - 2 * bits));
    }
    __int128 sv = sign_extend(divisor, size);
    // INT128_MIN / -1 would overflow the host; the quotient is out of range anyway.
    if (size == 8 && sv == -1 &&
        static_cast<unsigned __int128>(sd) == (static_cast<unsigned __int128>(1) << 127))
      cpu.raise_no_error(kDe, &op);
    __int128 q = sd / sv, r = sd % sv;
    __int128 lim = static_cast<__int128>(1) << (bits - 1);
    if (q >= lim || q < -lim) cpu.raise_no_error(kDe, &op);
    write_pair(s, size, static_cast<uint64_t>(q), static_cast<uint64_t>(r));
  }
}

void helper_sign_rdx(Cpu& cpu, const Op& op) {
  // cwd/cdq/cqo: rDX = all ones or zero by rAX's sign.
  CpuState& s = cpu.s_;
  uint64_t v = (s.gpr[0] & sign_bit(op.size)) ? ~0ull : 0;
  if (op.size == 2)
    s.gpr[2] = (s.gpr[2] & ~0xffffull) | (v & 0xffff);
  else if (op.size == 4)
    s.gpr[2] = v & 0xffffffffull;
  else
    s.gpr[2] = v;
}

void helper_pause(Cpu&, const Op&) {
  sched_yield();
}

void helper_bswap(Cpu& cpu, const Op& op) {
  uint64_t v = slot(cpu, op.a);
  slot(cpu, op.d) = op.size == 8 ? __builtin_bswap64(v) : op.size == 4 ? __builtin_bswap32(v) : 0;
}

}  // namespace

bool emit_alu(Emitter& e) {
  const auto& in = e.in;
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_ADD:
      emit_binary(e, kAdd);
      return true;
    case ZYDIS_MNEMONIC_OR:
      emit_binary(e, kOr);
      return true;
    case ZYDIS_MNEMONIC_ADC:
      emit_binary(e, kAdc);
      return true;
    case ZYDIS_MNEMONIC_SBB:
      emit_binary(e, kSbb);
      return true;
    case ZYDIS_MNEMONIC_AND:
      emit_binary(e, kAnd);
      return true;
    case ZYDIS_MNEMONIC_SUB:
      emit_binary(e, kSub);
      return true;
    case ZYDIS_MNEMONIC_XOR:
      emit_binary(e, kXor);
      return true;
    case ZYDIS_MNEMONIC_CMP:
      emit_binary(e, kCmp);
      return true;
    case ZYDIS_MNEMONIC_TEST:
      emit_binary(e, kTest);
      return true;
    case ZYDIS_MNEMONIC_INC:
      emit_unary(e, kInc);
      return true;
    case ZYDIS_MNEMONIC_DEC:
      emit_unary(e, kDec);
      return true;
    case ZYDIS_MNEMONIC_NEG:
      emit_unary(e, kNeg);
      return true;
    case ZYDIS_MNEMONIC_NOT:
      emit_unary(e, kNot);
      return true;
    case ZYDIS_MNEMONIC_ROL:
      emit_shift(e, kRol);
      return true;
    case ZYDIS_MNEMONIC_ROR:
      emit_shift(e, kRor);
      return true;
    case ZYDIS_MNEMONIC_RCL:
      emit_shift(e, kRcl);
      return true;
    case ZYDIS_MNEMONIC_RCR:
      emit_shift(e, kRcr);
      return true;
    case ZYDIS_MNEMONIC_SHL:
      emit_shift(e, kShl);
      return true;
    case ZYDIS_MNEMONIC_SHR:
      emit_shift(e, kShr);
      return true;
    case ZYDIS_MNEMONIC_SAR:
      emit_shift(e, kSar);
      return true;
    case ZYDIS_MNEMONIC_SHLD:
    case ZYDIS_MNEMONIC_SHRD: {
      unsigned size = e.opsize(0);
      e.probe_write(0);
      uint32_t a = e.read(0), b = e.read(1);
      uint32_t c = e.is_imm(2) ? e.movi(e.op[2].imm.value.u & 0xff) : e.read(2, 1);
      uint32_t d = e.temp();
      e.helper(helper_shxd, d, a, b, c);
      e.block.ops.back().size = static_cast<uint8_t>(size);
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_SHRD;
      e.write(0, d);
      return true;
    }
    case ZYDIS_MNEMONIC_MOV:
      if (!is_gpr_or_mem_or_imm(e, 0) || !is_gpr_or_mem_or_imm(e, 1)) return false;
      e.write(0, e.read(1, e.opsize(0)));
      return true;
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD: {
      uint32_t v = e.read(1);
      e.write(0, e.extend(v, e.opsize(1), in.mnemonic != ZYDIS_MNEMONIC_MOVZX));
      return true;
    }
    case ZYDIS_MNEMONIC_LEA:
      e.write(0, e.ea(e.op[1], false));
      return true;
    case ZYDIS_MNEMONIC_XCHG: {
      if (e.is_mem(0) || e.is_mem(1)) {
        int m = e.is_mem(0) ? 0 : 1;
        e.probe_write(m);
        uint32_t mv = e.read(m);
        uint32_t rv = e.read(1 - m);
        e.write(m, rv);
        e.write(1 - m, mv);
      } else {
        uint32_t a = e.copy(e.read(0));
        uint32_t b = e.read(1);
        e.write(0, b);
        e.write(1, a);
      }
      return true;
    }
    case ZYDIS_MNEMONIC_CMOVO:
    case ZYDIS_MNEMONIC_CMOVNO:
    case ZYDIS_MNEMONIC_CMOVB:
    case ZYDIS_MNEMONIC_CMOVNB:
    case ZYDIS_MNEMONIC_CMOVZ:
    case ZYDIS_MNEMONIC_CMOVNZ:
    case ZYDIS_MNEMONIC_CMOVBE:
    case ZYDIS_MNEMONIC_CMOVNBE:
    case ZYDIS_MNEMONIC_CMOVS:
    case ZYDIS_MNEMONIC_CMOVNS:
    case ZYDIS_MNEMONIC_CMOVP:
    case ZYDIS_MNEMONIC_CMOVNP:
    case ZYDIS_MNEMONIC_CMOVL:
    case ZYDIS_MNEMONIC_CMOVNL:
    case ZYDIS_MNEMONIC_CMOVLE:
    case ZYDIS_MNEMONIC_CMOVNLE: {
      uint32_t a = e.read(0), b = e.read(1);
      Op o;
      o.kind = IrKind::kCmov;
      o.cond = in.opcode & 0xf;
      o.d = e.temp();
      o.a = a;
      o.b = b;
      e.emit(o);
      e.write(0, o.d);
      return true;
    }
    case ZYDIS_MNEMONIC_SETO:
    case ZYDIS_MNEMONIC_SETNO:
    case ZYDIS_MNEMONIC_SETB:
    case ZYDIS_MNEMONIC_SETNB:
    case ZYDIS_MNEMONIC_SETZ:
    case ZYDIS_MNEMONIC_SETNZ:
    case ZYDIS_MNEMONIC_SETBE:
    case ZYDIS_MNEMONIC_SETNBE:
    case ZYDIS_MNEMONIC_SETS:
    case ZYDIS_MNEMONIC_SETNS:
    case ZYDIS_MNEMONIC_SETP:
    case ZYDIS_MNEMONIC_SETNP:
    case ZYDIS_MNEMONIC_SETL:
    case ZYDIS_MNEMONIC_SETNL:
    case ZYDIS_MNEMONIC_SETLE:
    case ZYDIS_MNEMONIC_SETNLE: {
      e.probe_write(0);
      Op o;
      o.kind = IrKind::kSetcc;
      o.cond = in.opcode & 0xf;
      o.d = e.temp();
      e.emit(o);
      e.write(0, o.d, 1);
      return true;
    }
    case ZYDIS_MNEMONIC_MUL:
    case ZYDIS_MNEMONIC_DIV:
    case ZYDIS_MNEMONIC_IDIV:
      e.helper(in.mnemonic == ZYDIS_MNEMONIC_MUL
                   ? (e.opsize(0) == 8 ? helper_mul_u64 : helper_mul1)
                   : helper_div,
               0, e.read(0));
      e.block.ops.back().size = static_cast<uint8_t>(e.opsize(0));
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_IDIV;
      return true;
    case ZYDIS_MNEMONIC_IMUL:
      if (in.operand_count_visible == 1) {
        e.helper(helper_mul1, 0, e.read(0));
        e.block.ops.back().size = static_cast<uint8_t>(e.opsize(0));
        e.block.ops.back().cond = 1;
      } else {
        unsigned size = e.opsize(0);
        uint32_t a = in.operand_count_visible == 3 ? e.read(1) : e.read(0);
        uint32_t b = in.operand_count_visible == 3 ? e.read(2, size) : e.read(1, size);
        Op o;
        o.kind = IrKind::kMul;
        o.d = e.temp();
        o.a = a;
        o.b = b;
        o.size = static_cast<uint8_t>(size);
        e.emit(o);
        e.write(0, o.d);
      }
      return true;
    case ZYDIS_MNEMONIC_CBW:
    case ZYDIS_MNEMONIC_CWDE:
    case ZYDIS_MNEMONIC_CDQE: {
      unsigned size = e.osize();
      e.set_gpr(0, e.extend(gpr_offset(0), size / 2, true), size);
      return true;
    }
    case ZYDIS_MNEMONIC_CWD:
    case ZYDIS_MNEMONIC_CDQ:
    case ZYDIS_MNEMONIC_CQO:
      e.helper(helper_sign_rdx);
      return true;
    case ZYDIS_MNEMONIC_BSWAP: {
      uint32_t d = e.temp();
      e.helper(helper_bswap, d, e.read(0));
      e.write(0, d);
      return true;
    }
    case ZYDIS_MNEMONIC_PAUSE:
      // A spin-wait hint: give the host CPU to other vCPU threads (what KVM's pause-loop exiting
      // achieves), so a spinning BSP does not starve the AP it waits for.
      e.helper(helper_pause);
      return true;
    case ZYDIS_MNEMONIC_NOP:
    case ZYDIS_MNEMONIC_ENDBR64:
    case ZYDIS_MNEMONIC_ENDBR32:
    case ZYDIS_MNEMONIC_LFENCE:
    case ZYDIS_MNEMONIC_MFENCE:
    case ZYDIS_MNEMONIC_SFENCE:
    case ZYDIS_MNEMONIC_PREFETCHT0:
    case ZYDIS_MNEMONIC_PREFETCHT1:
    case ZYDIS_MNEMONIC_PREFETCHT2:
    case ZYDIS_MNEMONIC_PREFETCHNTA:
    case ZYDIS_MNEMONIC_PREFETCHW:
    case ZYDIS_MNEMONIC_PREFETCH:
    case ZYDIS_MNEMONIC_CLFLUSH:
      return true;
    default:
      return false;
  }
}

}  // namespace corvid::tcg
