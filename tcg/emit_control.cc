// Control flow and the stack: jmp/jcc/call/ret/loop, push/pop/pushf/popf/leave, software
// interrupts, iret, far transfers, syscall/sysret, hlt.
#include "tcg/system.h"
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

uint64_t next_rip(Cpu& cpu, const Op& op) {
  return cpu.rip_of(&op) + op.ilen;
}

uint64_t branch_target(const Emitter& e, int i) {
  uint64_t t = e.next_pc + static_cast<uint64_t>(e.op[i].imm.value.s);
  return e.code64 ? t : t & size_mask(e.osize());
}

void emit_jmp_ind(Emitter& e, uint32_t target, unsigned size) {
  Op o;
  o.kind = IrKind::kJmpInd;
  o.a = target;
  o.size = static_cast<uint8_t>(size);
  e.emit(o);
  e.end_block = true;
}

// jrcxz/jecxz/loop*: rare; a helper picks the next rip. imm2: target, op.cond: which, size:
// address size.
void helper_loop(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  uint64_t m = size_mask(op.c);
  uint64_t rcx = s.gpr[1] & m;
  bool taken;
  if (op.cond == 0) {
    taken = rcx == 0;  // jrcxz
  } else {
    rcx = (rcx - 1) & m;
    if (op.c == 8)
      s.gpr[1] = rcx;
    else if (op.c == 4)
      s.gpr[1] = rcx;
    else
      s.gpr[1] = (s.gpr[1] & ~0xffffull) | rcx;
    bool zf = compute_arith_flags(s) & kFlagZf;
    taken = rcx != 0 && (op.cond == 1 || (op.cond == 2 && zf) || (op.cond == 3 && !zf));
  }
  s.rip = taken ? op.imm2 : next_rip(cpu, op);
}

void helper_pushf(Cpu& cpu, const Op& op) {
  slot(cpu, op.d) = read_rflags(cpu.s_) & ~(kFlagVm | kFlagRf);
}

void helper_popf(Cpu& cpu, const Op& op) {
  uint64_t mask = op.size == 2 ? 0xffff : 0x257fd5;
  write_rflags(cpu, slot(cpu, op.a), mask);
}

void helper_int(Cpu& cpu, const Op& op) {
  uint64_t next = next_rip(cpu, op);
  cpu.s_.rip = cpu.rip_of(&op);
  if (op.cond == 1 && !(read_rflags(cpu.s_) & kFlagOf)) {  // into
    cpu.s_.rip = next;
    return;
  }
  cpu.deliver(static_cast<uint8_t>(op.imm2), false, 0, true, next);
}

void helper_iret(Cpu& cpu, const Op& op) {
  cpu.s_.rip = cpu.rip_of(&op);
  interrupt_return(cpu, op.size, &op);
}

void helper_hlt(Cpu& cpu, const Op& op) {
  if (cpu.s_.cpl != 0) cpu.raise(kGp, 0, &op);
  cpu.set_halted(true);
}

void helper_far_jmp(Cpu& cpu, const Op& op) {
  uint64_t off = slot(cpu, op.a), sel = slot(cpu, op.b);
  far_jump(cpu, static_cast<uint16_t>(sel), off & size_mask(op.size), &op);
}

void helper_far_call(Cpu& cpu, const Op& op) {
  uint64_t off = slot(cpu, op.a), sel = slot(cpu, op.b);
  far_call(cpu, static_cast<uint16_t>(sel), off & size_mask(op.size), op.size, next_rip(cpu, op),
           &op);
}

void helper_far_ret(Cpu& cpu, const Op& op) {
  far_return(cpu, op.size, op.imm2, &op);
}

void helper_syscall(Cpu& cpu, const Op& op) {
  do_syscall(cpu, next_rip(cpu, op), &op);
}
void helper_sysret(Cpu& cpu, const Op& op) {
  do_sysret(cpu, op.size, &op);
}

// Far pointers: either ptr16:32 immediate or m16:32/64 in memory (offset first, then selector).
void far_operands(Emitter& e, uint32_t* off, uint32_t* sel) {
  if (e.op[0].type == ZYDIS_OPERAND_TYPE_POINTER) {
    *off = e.movi(e.op[0].ptr.offset);
    *sel = e.movi(e.op[0].ptr.segment);
    return;
  }
  unsigned size = e.osize();
  uint32_t addr = e.ea(e.op[0]);
  *off = e.load(addr, size);
  uint32_t sel_addr = e.alu_nf(kAdd, addr, e.movi(size), 8);
  *sel = e.load(sel_addr, 2);
}

}  // namespace

bool emit_control(Emitter& e) {
  const auto& in = e.in;
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_JMP:
      if (e.op[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
        e.jump(branch_target(e, 0));
      } else if (e.op[0].type == ZYDIS_OPERAND_TYPE_POINTER ||
                 in.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) {
        uint32_t off, sel;
        far_operands(e, &off, &sel);
        e.helper(helper_far_jmp, 0, off, sel);
        e.exit_rip_set();
      } else {
        emit_jmp_ind(e, e.copy(e.read(0)), e.opsize(0));
      }
      return true;
    case ZYDIS_MNEMONIC_JO:
    case ZYDIS_MNEMONIC_JNO:
    case ZYDIS_MNEMONIC_JB:
    case ZYDIS_MNEMONIC_JNB:
    case ZYDIS_MNEMONIC_JZ:
    case ZYDIS_MNEMONIC_JNZ:
    case ZYDIS_MNEMONIC_JBE:
    case ZYDIS_MNEMONIC_JNBE:
    case ZYDIS_MNEMONIC_JS:
    case ZYDIS_MNEMONIC_JNS:
    case ZYDIS_MNEMONIC_JP:
    case ZYDIS_MNEMONIC_JNP:
    case ZYDIS_MNEMONIC_JL:
    case ZYDIS_MNEMONIC_JNL:
    case ZYDIS_MNEMONIC_JLE:
    case ZYDIS_MNEMONIC_JNLE: {
      Op o;
      o.kind = IrKind::kJcc;
      o.cond = in.opcode & 0xf;
      o.imm = static_cast<int64_t>(branch_target(e, 0));
      o.imm2 = e.next_pc;
      e.emit(o);
      e.end_block = true;
      return true;
    }
    case ZYDIS_MNEMONIC_JCXZ:
    case ZYDIS_MNEMONIC_JECXZ:
    case ZYDIS_MNEMONIC_JRCXZ:
    case ZYDIS_MNEMONIC_LOOP:
    case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE: {
      unsigned which = in.mnemonic == ZYDIS_MNEMONIC_LOOP     ? 1
                       : in.mnemonic == ZYDIS_MNEMONIC_LOOPE  ? 2
                       : in.mnemonic == ZYDIS_MNEMONIC_LOOPNE ? 3
                                                              : 0;
      e.helper(helper_loop, 0, 0, 0, e.asize(), static_cast<int64_t>(branch_target(e, 0)));
      e.block.ops.back().cond = static_cast<uint8_t>(which);
      e.exit_rip_set();
      return true;
    }
    case ZYDIS_MNEMONIC_CALL: {
      if (e.op[0].type == ZYDIS_OPERAND_TYPE_POINTER ||
          in.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) {
        uint32_t off, sel;
        far_operands(e, &off, &sel);
        e.helper(helper_far_call, 0, off, sel);
        e.exit_rip_set();
        return true;
      }
      unsigned size = e.code64 ? 8 : e.osize();
      if (e.op[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
        e.push(e.movi(e.next_pc), size);
        e.jump(branch_target(e, 0));
      } else {
        uint32_t target = e.copy(e.read(0));
        e.push(e.movi(e.next_pc), size);
        emit_jmp_ind(e, target, size);
      }
      return true;
    }
    case ZYDIS_MNEMONIC_RET: {
      if (in.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) {
        uint64_t extra = in.operand_count_visible ? e.op[0].imm.value.u : 0;
        e.helper(helper_far_ret, 0, 0, 0, 0, static_cast<int64_t>(extra));
        e.exit_rip_set();
        return true;
      }
      unsigned size = e.code64 ? 8 : e.osize();
      uint32_t target = e.pop_value(size);
      uint64_t extra = in.operand_count_visible ? e.op[0].imm.value.u : 0;
      e.adjust_rsp(static_cast<int64_t>(size + extra));
      emit_jmp_ind(e, target, size);
      return true;
    }
    case ZYDIS_MNEMONIC_PUSH: {
      if (e.is_reg(0)) {
        int idx;
        unsigned sz;
        bool hi;
        if (!gpr_of(e.op[0].reg.value, &idx, &sz, &hi)) return false;  // segment pushes: system
      }
      unsigned size = e.osize();
      e.push(e.read(0, size), size);
      return true;
    }
    case ZYDIS_MNEMONIC_POP: {
      if (e.is_reg(0)) {
        int idx;
        unsigned sz;
        bool hi;
        if (!gpr_of(e.op[0].reg.value, &idx, &sz, &hi)) return false;
      }
      unsigned size = e.osize();
      uint32_t v = e.copy(e.pop_value(size));
      e.adjust_rsp(size);
      e.write(0, v, size);
      return true;
    }
    case ZYDIS_MNEMONIC_PUSHF:
    case ZYDIS_MNEMONIC_PUSHFD:
    case ZYDIS_MNEMONIC_PUSHFQ: {
      uint32_t t = e.temp();
      e.helper(helper_pushf, t);
      e.push(t, e.osize());
      return true;
    }
    case ZYDIS_MNEMONIC_POPF:
    case ZYDIS_MNEMONIC_POPFD:
    case ZYDIS_MNEMONIC_POPFQ: {
      unsigned size = e.osize();
      uint32_t v = e.copy(e.pop_value(size));
      e.adjust_rsp(size);
      e.helper(helper_popf, 0, v);
      e.exit_to(e.next_pc);  // IF/TF may have changed: let the main loop look
      return true;
    }
    case ZYDIS_MNEMONIC_LEAVE: {
      unsigned size = e.osize();
      uint32_t rbp = e.copy(gpr_offset(5));
      uint32_t v = e.load(e.stack_addr(rbp), size);
      uint32_t rsp = e.alu_nf(kAdd, rbp, e.movi(size), e.stack_size());
      e.set_gpr(4, rsp, e.stack_size());
      e.set_gpr(5, v, size);
      return true;
    }
    case ZYDIS_MNEMONIC_INT3:
    case ZYDIS_MNEMONIC_INT:
    case ZYDIS_MNEMONIC_INTO:
    case ZYDIS_MNEMONIC_INT1: {
      uint64_t vec = in.mnemonic == ZYDIS_MNEMONIC_INT3   ? 3
                     : in.mnemonic == ZYDIS_MNEMONIC_INTO ? 4
                     : in.mnemonic == ZYDIS_MNEMONIC_INT1 ? 1
                                                          : (e.op[0].imm.value.u & 0xff);
      e.helper(helper_int, 0, 0, 0, 0, static_cast<int64_t>(vec));
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_INTO;
      e.exit_rip_set();
      return true;
    }
    case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD:
    case ZYDIS_MNEMONIC_IRETQ:
      e.helper(helper_iret);
      e.exit_rip_set();
      return true;
    case ZYDIS_MNEMONIC_SYSCALL:
      e.helper(helper_syscall);
      e.exit_rip_set();
      return true;
    case ZYDIS_MNEMONIC_SYSRET:
      e.helper(helper_sysret);
      e.exit_rip_set();
      return true;
    case ZYDIS_MNEMONIC_HLT:
      e.helper(helper_hlt);
      e.exit_to(e.next_pc);
      return true;
    default:
      return false;
  }
}

}  // namespace corvid::tcg
