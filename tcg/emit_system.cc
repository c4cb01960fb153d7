// System instructions: flags control, cpuid/rdtsc/msr, control registers, descriptor tables,
// segment registers, port I/O, swapgs, invlpg. Each is a helper; the ones that may change the
// decoding mode or interrupt state end the block.
#include "tcg/system.h"
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

int seg_index(ZydisRegister r) {
  switch (r) {
    case ZYDIS_REGISTER_ES:
      return kEs;
    case ZYDIS_REGISTER_CS:
      return kCs;
    case ZYDIS_REGISTER_SS:
      return kSs;
    case ZYDIS_REGISTER_DS:
      return kDs;
    case ZYDIS_REGISTER_FS:
      return kFs;
    case ZYDIS_REGISTER_GS:
      return kGs;
    default:
      return -1;
  }
}

// ENTER imm16, imm8 (SDM Vol. 2A "ENTER"): push rBP; with a nesting level L > 0 copy L-1 frame
// pointers from the enclosing frame and push the new one; rBP = the frame, rSP -= imm16. rBP
// steps and all stack addresses wrap at the stack-address size. Every memory access comes before
// the register writes, so a fault leaves rSP and rBP as they were. Like Intel CPUs, the space
// allocated below the frame is not probed.
void helper_enter_nested(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  unsigned size = op.size, ss = static_cast<unsigned>(op.imm2 >> 8), level = op.imm2 & 31;
  uint64_t mask = ss == 8 ? ~0ull : ss == 4 ? 0xffffffffull : 0xffff;
  auto linear = [&](uint64_t a) { return ss == 8 ? a : (s.seg[kSs].base + a) & 0xffffffffull; };
  uint64_t rsp = (s.gpr[4] - size) & mask, rbp = s.gpr[5];
  cpu.store_slow(linear(rsp), size, rbp, &op);
  uint64_t frame = rsp;
  for (unsigned i = 1; i < level; ++i) {
    rbp = (rbp - size) & mask;
    uint64_t v = cpu.load_slow(linear(rbp), size, &op);
    rsp = (rsp - size) & mask;
    cpu.store_slow(linear(rsp), size, v, &op);
  }
  rsp = (rsp - size) & mask;
  cpu.store_slow(linear(rsp), size, frame, &op);
  slot(cpu, op.d) = frame;  // rSP ends at frame - level * size
}

void emit_enter(Emitter& e) {
  unsigned size = e.osize(), ss = e.stack_size();
  uint64_t alloc = e.op[0].imm.value.u & 0xffff;
  unsigned level = e.op[1].imm.value.u & 31;
  uint32_t frame, rsp;
  if (level == 0) {
    rsp = e.alu_nf(kSub, gpr_offset(4), e.movi(size), ss);
    e.store(e.stack_addr(rsp), gpr_offset(5), size);
    frame = rsp;
  } else {
    frame = e.temp();
    e.helper(helper_enter_nested, frame, 0, 0, 0, static_cast<int64_t>(ss << 8 | level));
    rsp = e.alu_nf(kSub, frame, e.movi(static_cast<uint64_t>(size) * level), ss);
  }
  rsp = e.alu_nf(kSub, rsp, e.movi(alloc), ss);
  e.set_gpr(5, frame, size);
  e.set_gpr(4, rsp, ss);
}

// PUSHA/PUSHAD and POPA/POPAD (legacy and real mode only; #UD in 64-bit mode, where the decoder
// rejects them). imm2 = stack size << 8 | operand size. Every access happens before any register
// changes, so a fault leaves the instruction restartable.
void helper_pusha(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  unsigned ss = static_cast<unsigned>(op.imm2 >> 8), size = op.imm2 & 0xff;
  uint64_t mask = ss == 4 ? 0xffffffffull : 0xffff;
  uint64_t rsp = s.gpr[4], sp = rsp;
  const uint64_t values[8] = {s.gpr[0], s.gpr[1], s.gpr[2], s.gpr[3],
                              rsp,      s.gpr[5], s.gpr[6], s.gpr[7]};
  for (uint64_t v : values) {
    sp = (sp - size) & mask;
    cpu.store_slow((s.seg[kSs].base + sp) & 0xffffffffull, size, v, &op);
  }
  s.gpr[4] = (rsp & ~mask) | sp;
}

void helper_popa(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  unsigned ss = static_cast<unsigned>(op.imm2 >> 8), size = op.imm2 & 0xff;
  uint64_t mask = ss == 4 ? 0xffffffffull : 0xffff;
  uint64_t sp = s.gpr[4];
  uint64_t v[8];
  for (int i = 7; i >= 0; --i) {
    v[i] = cpu.load_slow((s.seg[kSs].base + (sp & mask)) & 0xffffffffull, size, &op);
    sp = (sp & ~mask) | ((sp + size) & mask);
  }
  for (int i = 0; i < 8; ++i) {
    if (i == 4) continue;  // the stored rSP is skipped
    s.gpr[i] = size == 2 ? (s.gpr[i] & ~0xffffull) | (v[i] & 0xffff) : v[i] & 0xffffffffull;
  }
  s.gpr[4] = sp;
}

void require_cpl0(Cpu& cpu, const Op& op) {
  if (cpu.s_.cpl != 0) cpu.raise(kGp, 0, &op);
}

void require_iopl(Cpu& cpu, const Op& op) {
  if (cpu.s_.cpl > ((cpu.s_.rflags >> 12) & 3) && (cpu.s_.cr0 & kCr0Pe)) cpu.raise(kGp, 0, &op);
}

// op.cond selects the flag operation.
void helper_flagop(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  switch (op.cond) {
    case 0:
      require_iopl(cpu, op);
      s.rflags &= ~kFlagIf;
      break;  // cli
    case 1:   // sti
      require_iopl(cpu, op);
      if (!(s.rflags & kFlagIf)) s.interrupt_shadow = 1;
      s.rflags |= kFlagIf;
      break;
    case 2:
      s.rflags &= ~kFlagDf;
      break;
    case 3:
      s.rflags |= kFlagDf;
      break;
    case 4:
      write_arith_flags(s, compute_arith_flags(s) & ~kFlagCf);
      break;
    case 5:
      write_arith_flags(s, compute_arith_flags(s) | kFlagCf);
      break;
    case 6:
      write_arith_flags(s, compute_arith_flags(s) ^ kFlagCf);
      break;
    case 7: {  // lahf
      uint64_t f = read_rflags(s) & 0xd7;
      s.gpr[0] = (s.gpr[0] & ~0xff00ull) | ((f | 2) << 8);
      break;
    }
    default: {  // sahf
      uint64_t ah = (s.gpr[0] >> 8) & 0xd5;
      write_arith_flags(s, (compute_arith_flags(s) & kFlagOf) | ah);
      break;
    }
  }
}

void helper_cpuid(Cpu& cpu, const Op&) {
  do_cpuid(cpu);
}

void helper_rdtsc(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  uint64_t t = cpu.bus_.tsc() + s.tsc_offset;
  s.gpr[0] = t & 0xffffffffull;
  s.gpr[2] = t >> 32;
  if (op.cond) s.gpr[1] = s.tsc_aux & 0xffffffffull;
}

void helper_rdmsr(Cpu& cpu, const Op& op) {
  require_cpl0(cpu, op);
  uint64_t v;
  if (!read_msr(cpu, static_cast<uint32_t>(cpu.s_.gpr[1]), &v)) cpu.raise(kGp, 0, &op);
  cpu.s_.gpr[0] = v & 0xffffffffull;
  cpu.s_.gpr[2] = v >> 32;
}

void helper_wrmsr(Cpu& cpu, const Op& op) {
  require_cpl0(cpu, op);
  uint64_t v = (cpu.s_.gpr[0] & 0xffffffffull) | (cpu.s_.gpr[2] << 32);
  if (!write_msr(cpu, static_cast<uint32_t>(cpu.s_.gpr[1]), v)) cpu.raise(kGp, 0, &op);
}

// op.cond: CR number; imm2: 0 read into d, 1 write from a.
void helper_mov_cr(Cpu& cpu, const Op& op) {
  require_cpl0(cpu, op);
  if (op.imm2)
    write_cr(cpu, op.cond, slot(cpu, op.a) & size_mask(op.size), &op);
  else
    slot(cpu, op.d) = read_cr(cpu, op.cond);
}

void helper_mov_dr(Cpu& cpu, const Op& op) {
  require_cpl0(cpu, op);
  if (op.imm2)
    cpu.s_.dr[op.cond & 7] = slot(cpu, op.a);
  else
    slot(cpu, op.d) = cpu.s_.dr[op.cond & 7] | (op.cond == 6   ? 0xffff0ff0
                                                : op.cond == 7 ? 0x400
                                                               : 0);
}

void helper_load_seg(Cpu& cpu, const Op& op) {
  load_segment(cpu, op.cond, static_cast<uint16_t>(slot(cpu, op.a)), &op);
  if (op.cond == kSs) cpu.s_.interrupt_shadow = 1;
}

// lgdt/lidt: op.a address; cond 0 gdt, 1 idt. sgdt/sidt: cond 2/3.
void helper_desc_table(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  uint64_t addr = slot(cpu, op.a);
  bool is64 = code64(s);
  if (op.cond < 2) {
    require_cpl0(cpu, op);
    uint64_t limit = cpu.load_slow(addr, 2, &op);
    uint64_t base = cpu.load_slow(addr + 2, is64 ? 8 : 4, &op);
    if (!is64 && op.size == 2) base &= 0xffffff;
    if (op.cond == 0) {
      s.gdt_base = base;
      s.gdt_limit = static_cast<uint32_t>(limit);
    } else {
      s.idt_base = base;
      s.idt_limit = static_cast<uint32_t>(limit);
    }
  } else {
    bool gdt = op.cond == 2;
    cpu.store_slow(addr, 2, gdt ? s.gdt_limit : s.idt_limit, &op);
    cpu.store_slow(addr + 2, is64 ? 8 : 4, gdt ? s.gdt_base : s.idt_base, &op);
  }
}

// lldt/ltr (cond 0/1) from a; sldt/str (cond 2/3) into d.
void helper_sys_seg(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  if (op.cond >= 2) {
    slot(cpu, op.d) = op.cond == 2 ? s.ldtr.selector : s.tr.selector;
    return;
  }
  require_cpl0(cpu, op);
  uint16_t sel = static_cast<uint16_t>(slot(cpu, op.a));
  Segment& target = op.cond == 0 ? s.ldtr : s.tr;
  if ((sel & ~3u) == 0) {
    if (op.cond == 1) cpu.raise(kGp, 0, &op);
    target = Segment{0, 0, 0, sel};
    return;
  }
  uint64_t d = read_descriptor(cpu, sel, &op);
  Segment seg = segment_from_descriptor(d, sel);
  if (long_mode_active(s)) {
    uint64_t hi = cpu.load_sys(s.gdt_base + (sel & ~7u) + 8, 8);
    seg.base |= (hi & 0xffffffffull) << 32;
  }
  if (op.cond == 1) {
    // Mark the TSS busy in the GDT (SDM "LTR").
    uint64_t addr = s.gdt_base + (sel & ~7u) + 5;
    uint64_t type = cpu.load_sys(addr, 1);
    cpu.store_sys(addr, 1, type | 2);
    seg.attr |= 2;
  }
  target = seg;
}

void helper_invlpg(Cpu& cpu, const Op& op) {
  require_cpl0(cpu, op);
  cpu.flush_tlb();
}

void helper_priv_nop(Cpu& cpu, const Op& op) {
  require_cpl0(cpu, op);
}

void helper_clts(Cpu& cpu, const Op& op) {
  require_cpl0(cpu, op);
  cpu.s_.cr0 &= ~kCr0Ts;
}

void helper_smsw(Cpu& cpu, const Op& op) {
  slot(cpu, op.d) = cpu.s_.cr0 & 0xffff;
}

void helper_lmsw(Cpu& cpu, const Op& op) {
  require_cpl0(cpu, op);
  // lmsw cannot clear PE (SDM "LMSW").
  uint64_t v = (cpu.s_.cr0 & ~0xeull) | (slot(cpu, op.a) & 0xf) | (cpu.s_.cr0 & kCr0Pe);
  write_cr(cpu, 0, v, &op);
}

// in: d = port a (size); out: port a <- b.
void helper_in(Cpu& cpu, const Op& op) {
  require_iopl(cpu, op);
  slot(cpu, op.d) =
      cpu.bus_.pio_read(static_cast<uint16_t>(slot(cpu, op.a)), op.size) & size_mask(op.size);
}

void helper_out(Cpu& cpu, const Op& op) {
  require_iopl(cpu, op);
  cpu.bus_.pio_write(static_cast<uint16_t>(slot(cpu, op.a)), op.size,
                     slot(cpu, op.b) & size_mask(op.size));
}

void helper_swapgs(Cpu& cpu, const Op& op) {
  if (!code64(cpu.s_)) cpu.raise_no_error(kUd, &op);
  require_cpl0(cpu, op);
  std::swap(cpu.s_.seg[kGs].base, cpu.s_.kernel_gs_base);
}

void helper_push_seg(Cpu& cpu, const Op& op) {
  slot(cpu, op.d) = cpu.s_.seg[op.cond].selector;
}

}  // namespace

bool emit_system(Emitter& e) {
  const auto& in = e.in;
  auto flagop = [&](unsigned which, bool end) {
    e.helper(helper_flagop);
    e.block.ops.back().cond = static_cast<uint8_t>(which);
    if (end) e.exit_to(e.next_pc);
    return true;
  };
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_CLI:
      return flagop(0, false);
    case ZYDIS_MNEMONIC_STI:
      return flagop(1, true);
    case ZYDIS_MNEMONIC_CLD:
      return flagop(2, false);
    case ZYDIS_MNEMONIC_STD:
      return flagop(3, false);
    case ZYDIS_MNEMONIC_CLC:
      return flagop(4, false);
    case ZYDIS_MNEMONIC_STC:
      return flagop(5, false);
    case ZYDIS_MNEMONIC_CMC:
      return flagop(6, false);
    case ZYDIS_MNEMONIC_LAHF:
      return flagop(7, false);
    case ZYDIS_MNEMONIC_SAHF:
      return flagop(8, false);
    case ZYDIS_MNEMONIC_CPUID:
      e.helper(helper_cpuid);
      return true;
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP:
      e.helper(helper_rdtsc);
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_RDTSCP;
      return true;
    case ZYDIS_MNEMONIC_RDMSR:
      e.helper(helper_rdmsr);
      return true;
    case ZYDIS_MNEMONIC_WRMSR:
      e.helper(helper_wrmsr);
      e.exit_to(e.next_pc);  // EFER, FS/GS bases: state the block may have assumed
      return true;
    case ZYDIS_MNEMONIC_MOV: {
      ZydisRegisterClass c0 =
          e.is_reg(0) ? ZydisRegisterGetClass(e.op[0].reg.value) : ZYDIS_REGCLASS_INVALID;
      ZydisRegisterClass c1 =
          e.is_reg(1) ? ZydisRegisterGetClass(e.op[1].reg.value) : ZYDIS_REGCLASS_INVALID;
      if (c0 == ZYDIS_REGCLASS_CONTROL || c0 == ZYDIS_REGCLASS_DEBUG) {
        bool cr = c0 == ZYDIS_REGCLASS_CONTROL;
        int n =
            cr ? e.op[0].reg.value - ZYDIS_REGISTER_CR0 : e.op[0].reg.value - ZYDIS_REGISTER_DR0;
        e.helper(cr ? helper_mov_cr : helper_mov_dr, 0, e.read(1), 0, 0, 1);
        e.block.ops.back().cond = static_cast<uint8_t>(n);
        e.block.ops.back().size = static_cast<uint8_t>(e.opsize(1));
        e.exit_to(e.next_pc);
        return true;
      }
      if (c1 == ZYDIS_REGCLASS_CONTROL || c1 == ZYDIS_REGCLASS_DEBUG) {
        bool cr = c1 == ZYDIS_REGCLASS_CONTROL;
        int n =
            cr ? e.op[1].reg.value - ZYDIS_REGISTER_CR0 : e.op[1].reg.value - ZYDIS_REGISTER_DR0;
        uint32_t d = e.temp();
        e.helper(cr ? helper_mov_cr : helper_mov_dr, d);
        e.block.ops.back().cond = static_cast<uint8_t>(n);
        e.write(0, d, e.opsize(0));
        return true;
      }
      if (c0 == ZYDIS_REGCLASS_SEGMENT) {
        int seg = seg_index(e.op[0].reg.value);
        if (seg == kCs) return false;
        e.helper(helper_load_seg, 0, e.read(1, 2));
        e.block.ops.back().cond = static_cast<uint8_t>(seg);
        e.exit_to(e.next_pc);
        return true;
      }
      if (c1 == ZYDIS_REGCLASS_SEGMENT) {
        uint32_t d = e.temp();
        e.helper(helper_push_seg, d);
        e.block.ops.back().cond = static_cast<uint8_t>(seg_index(e.op[1].reg.value));
        e.write(0, d, e.is_mem(0) ? 2 : e.opsize(0));
        return true;
      }
      return false;
    }
    case ZYDIS_MNEMONIC_PUSH: {
      int seg = seg_index(e.op[0].reg.value);
      if (seg < 0) return false;
      uint32_t d = e.temp();
      e.helper(helper_push_seg, d);
      e.block.ops.back().cond = static_cast<uint8_t>(seg);
      e.push(d, e.osize());
      return true;
    }
    case ZYDIS_MNEMONIC_POP: {
      int seg = seg_index(e.op[0].reg.value);
      if (seg < 0) return false;
      unsigned size = e.osize();
      uint32_t v = e.copy(e.pop_value(size));
      e.helper(helper_load_seg, 0, v);
      e.block.ops.back().cond = static_cast<uint8_t>(seg);
      e.adjust_rsp(size);
      e.exit_to(e.next_pc);
      return true;
    }
    case ZYDIS_MNEMONIC_LGDT:
    case ZYDIS_MNEMONIC_LIDT:
    case ZYDIS_MNEMONIC_SGDT:
    case ZYDIS_MNEMONIC_SIDT: {
      unsigned which = in.mnemonic == ZYDIS_MNEMONIC_LGDT   ? 0
                       : in.mnemonic == ZYDIS_MNEMONIC_LIDT ? 1
                       : in.mnemonic == ZYDIS_MNEMONIC_SGDT ? 2
                                                            : 3;
      e.helper(helper_desc_table, 0, e.ea(e.op[0]));
      e.block.ops.back().cond = static_cast<uint8_t>(which);
      return true;
    }
    case ZYDIS_MNEMONIC_LLDT:
    case ZYDIS_MNEMONIC_LTR:
      e.helper(helper_sys_seg, 0, e.read(0, 2));
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_LTR;
      return true;
    case ZYDIS_MNEMONIC_SLDT:
    case ZYDIS_MNEMONIC_STR: {
      uint32_t d = e.temp();
      e.helper(helper_sys_seg, d);
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_STR ? 3 : 2;
      e.write(0, d);
      return true;
    }
    case ZYDIS_MNEMONIC_VERR:
    case ZYDIS_MNEMONIC_VERW:
      e.helper(helper_segment_check, 0, e.read(0, 2));
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_VERW;
      return true;
    case ZYDIS_MNEMONIC_LAR:
    case ZYDIS_MNEMONIC_LSL: {
      uint32_t d = e.temp();
      e.helper(helper_segment_check, d, e.read(1, 2), e.read(0));
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_LSL ? 3 : 2;
      e.write(0, d);
      return true;
    }
    case ZYDIS_MNEMONIC_INVLPG:
      e.helper(helper_invlpg);
      e.exit_to(e.next_pc);
      return true;
    case ZYDIS_MNEMONIC_WBINVD:
    case ZYDIS_MNEMONIC_INVD:
      e.helper(helper_priv_nop);
      return true;
    case ZYDIS_MNEMONIC_CLTS:
      e.helper(helper_clts);
      return true;
    case ZYDIS_MNEMONIC_SMSW: {
      uint32_t d = e.temp();
      e.helper(helper_smsw, d);
      e.write(0, d);
      return true;
    }
    case ZYDIS_MNEMONIC_LMSW:
      e.helper(helper_lmsw, 0, e.read(0, 2));
      e.exit_to(e.next_pc);
      return true;
    case ZYDIS_MNEMONIC_IN: {
      unsigned size = e.opsize(0);
      uint32_t port = e.is_imm(1) ? e.movi(e.op[1].imm.value.u & 0xff) : e.read(1, 2);
      uint32_t d = e.temp();
      e.helper(helper_in, d, port);
      e.block.ops.back().size = static_cast<uint8_t>(size);
      e.write(0, d, size);
      return true;
    }
    case ZYDIS_MNEMONIC_OUT: {
      unsigned size = e.opsize(1);
      uint32_t port = e.is_imm(0) ? e.movi(e.op[0].imm.value.u & 0xff) : e.read(0, 2);
      e.helper(helper_out, 0, port, e.read(1));
      e.block.ops.back().size = static_cast<uint8_t>(size);
      // A device write may raise an interrupt, power off or reset: let the main loop look.
      e.exit_to(e.next_pc);
      return true;
    }
    case ZYDIS_MNEMONIC_SWAPGS:
      e.helper(helper_swapgs);
      return true;
    case ZYDIS_MNEMONIC_ENTER:
      emit_enter(e);
      return true;
    case ZYDIS_MNEMONIC_PUSHA:
    case ZYDIS_MNEMONIC_PUSHAD:
      e.helper(helper_pusha, 0, 0, 0, 0, static_cast<int64_t>(e.stack_size() << 8 | e.osize()));
      return true;
    case ZYDIS_MNEMONIC_POPA:
    case ZYDIS_MNEMONIC_POPAD:
      e.helper(helper_popa, 0, 0, 0, 0, static_cast<int64_t>(e.stack_size() << 8 | e.osize()));
      return true;
    case ZYDIS_MNEMONIC_UD0:
    case ZYDIS_MNEMONIC_UD1:
    case ZYDIS_MNEMONIC_UD2:
      e.helper(helper_raise_ud);
      e.exit_to(e.next_pc);
      return true;
    default:
      return false;
  }
}

}  // namespace corvid::tcg
