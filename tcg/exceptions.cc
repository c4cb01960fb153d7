// Exception and interrupt delivery through the IDT (SDM Vol. 3 §6.12 and §6.14), IRET, and the
// segment loads and far transfers they share.
#include "tcg/flags.h"
#include "tcg/system.h"

namespace corvid::tcg {
namespace {

constexpr uint64_t kTssRsp0 = 4, kTssIst1 = 36;

uint32_t desc_dpl(uint64_t d) {
  return (d >> 45) & 3;
}
bool desc_present(uint64_t d) {
  return (d >> 47) & 1;
}

void push_sys(Cpu& cpu, uint64_t& sp, unsigned size, uint64_t v, uint64_t ss_base) {
  sp -= size;
  if (size != 8) sp &= 0xffffffffull;
  cpu.store_sys(ss_base + sp, size, v);
}

uint64_t pop_stack(Cpu& cpu, uint64_t& sp, unsigned size, const Op* op) {
  uint64_t addr = code64(cpu.s_) ? sp : (cpu.s_.seg[kSs].base + sp) & 0xffffffffull;
  uint64_t v = cpu.load_slow(addr, size, op);
  sp += size;
  return v;
}

void deliver_real_mode(Cpu& cpu, uint8_t vector, uint64_t next_rip) {
  CpuState& s = cpu.s_;
  uint64_t entry = cpu.load_sys(s.idt_base + vector * 4u, 4);
  uint64_t sp = s.gpr[4] & 0xffff;
  uint64_t base = s.seg[kSs].base;
  auto push16 = [&](uint64_t v) {
    sp = (sp - 2) & 0xffff;
    cpu.store_sys(base + sp, 2, v);
  };
  push16(read_rflags(s));
  push16(s.seg[kCs].selector);
  push16(next_rip);
  s.gpr[4] = (s.gpr[4] & ~0xffffull) | sp;
  s.rflags &= ~(kFlagIf | kFlagTf | kFlagAc);
  s.seg[kCs].selector = static_cast<uint16_t>(entry >> 16);
  s.seg[kCs].base = (entry >> 16) << 4;
  s.rip = entry & 0xffff;
}

}  // namespace

uint64_t read_descriptor(Cpu& cpu, uint16_t selector, const Op* op) {
  CpuState& s = cpu.s_;
  bool ldt = selector & 4;
  uint64_t base = ldt ? s.ldtr.base : s.gdt_base;
  uint32_t limit = ldt ? s.ldtr.limit : s.gdt_limit;
  uint32_t off = selector & ~7u;
  if (off + 7 > limit) cpu.raise(kGp, selector & ~3u, op);
  return cpu.load_sys(base + off, 8);
}

Segment segment_from_descriptor(uint64_t d, uint16_t selector) {
  Segment seg;
  seg.selector = selector;
  seg.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
  uint32_t limit = (d & 0xffff) | (((d >> 48) & 0xf) << 16);
  if ((d >> 55) & 1) limit = (limit << 12) | 0xfff;
  seg.limit = limit;
  seg.attr = static_cast<uint32_t>((d >> 40) & 0xf0ff);
  return seg;
}

void load_segment(Cpu& cpu, int seg, uint16_t selector, const Op* op) {
  CpuState& s = cpu.s_;
  if (!(s.cr0 & kCr0Pe)) {
    s.seg[seg].selector = selector;
    s.seg[seg].base = static_cast<uint64_t>(selector) << 4;
    return;
  }
  if ((selector & ~3u) == 0) {
    if (seg == kSs && !(code64(s) && s.cpl < 3)) cpu.raise(kGp, 0, op);
    s.seg[seg].selector = selector;
    s.seg[seg].attr = 0;  // unusable
    if (seg != kFs && seg != kGs) s.seg[seg].base = 0;
    return;
  }
  uint64_t d = read_descriptor(cpu, selector, op);
  if (!desc_present(d)) cpu.raise(seg == kSs ? kSsFault : kNp, selector & ~3u, op);
  Segment ns = segment_from_descriptor(d, selector);
  if (seg == kFs || seg == kGs) {
    s.seg[seg] = ns;  // 64-bit code then sets the full base through the MSRs
  } else {
    s.seg[seg] = ns;
  }
}

void write_rflags(Cpu& cpu, uint64_t value, uint64_t mask) {
  CpuState& s = cpu.s_;
  unsigned iopl = (s.rflags >> 12) & 3;
  if (s.cpl > 0) mask &= ~(3ull << 12);
  if (s.cpl > iopl) mask &= ~kFlagIf;
  mask &= ~(kFlagVm | (1ull << 19) | (1ull << 20));  // no virtual-8086 support
  uint64_t f = (read_rflags(s) & ~mask) | (value & mask);
  s.rflags = (f & ~0x8028ull) | 2;
  s.cc_op = kCcEflags;
}

void Cpu::deliver(uint8_t vector, bool has_error, uint32_t error, bool software,
                  uint64_t next_rip) {
  CpuState& s = s_;
  uint64_t return_rip = software ? next_rip : s.rip;
  if (!(s.cr0 & kCr0Pe)) {
    deliver_real_mode(*this, vector, return_rip);
    return;
  }
  bool lm = long_mode_active(s);
  unsigned gate_size = lm ? 16 : 8;
  uint32_t gate_err = vector * 8u + 2;
  if (vector * gate_size + gate_size - 1 > s.idt_limit) throw GuestFault{kGp, true, gate_err};
  uint64_t lo = load_sys(s.idt_base + vector * gate_size, 8);
  uint64_t hi = lm ? load_sys(s.idt_base + vector * gate_size + 8, 8) : 0;
  unsigned type = (lo >> 40) & 0xf;
  if (software && desc_dpl(lo) < s.cpl) throw GuestFault{kGp, true, gate_err};
  if (!desc_present(lo)) throw GuestFault{kNp, true, gate_err};
  if (type != 0xe && type != 0xf) throw GuestFault{kGp, true, gate_err};
  uint64_t offset = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull);
  if (lm) offset |= hi << 32;
  uint16_t sel = static_cast<uint16_t>(lo >> 16);
  if ((sel & ~3u) == 0) throw GuestFault{kGp, true, 0};
  uint64_t cs_desc = read_descriptor(*this, sel, nullptr);
  if (!desc_present(cs_desc)) throw GuestFault{kNp, true, sel & ~3u};
  unsigned new_cpl = desc_dpl(cs_desc);
  if (new_cpl > s.cpl) throw GuestFault{kGp, true, sel & ~3u};

  uint64_t old_rflags = read_rflags(s);
  // Faults push RF = 1 so that returning to the faulting instruction does not re-trigger an
  // instruction breakpoint (SDM Vol. 3 §17.3.1.1); traps (#DB, #BP, #OF), NMI, #MC and
  // interrupts push RF as it is.
  if (!software && vector < 32 && vector != kDb && vector != kNmi && vector != kBp &&
      vector != kOf && vector != 18 /* #MC */)
    old_rflags |= kFlagRf;
  uint16_t old_ss = s.seg[kSs].selector, old_cs = s.seg[kCs].selector;
  uint64_t old_rsp = s.gpr[4];
  Segment new_ss = s.seg[kSs];
  uint64_t sp = old_rsp;
  unsigned ist = lm ? (lo >> 32) & 7 : 0;
  bool stack_switch = new_cpl < s.cpl;
  if (lm) {
    if (ist) {
      sp = load_sys(s.tr.base + kTssIst1 + 8 * (ist - 1), 8);
    } else if (stack_switch) {
      sp = load_sys(s.tr.base + kTssRsp0 + 8 * new_cpl, 8);
    }
    if (stack_switch) {
      new_ss = Segment{0, 0xffffffff, 0, static_cast<uint16_t>(new_cpl)};
    }
    sp &= ~15ull;
    uint64_t frame[6];
    int n = 0;
    frame[n++] = old_ss;
    frame[n++] = old_rsp;
    frame[n++] = old_rflags;
    frame[n++] = old_cs;
    frame[n++] = return_rip;
    if (has_error) frame[n++] = error;
    // Supervisor writes: the new stack belongs to the handler's privilege level.
    for (int i = 0; i < n; ++i) push_sys(*this, sp, 8, frame[i], 0);
  } else {
    uint64_t ss_base = s.seg[kSs].base;
    if (stack_switch) {
      sp = load_sys(s.tr.base + 4 + 8 * new_cpl, 4);
      uint16_t ss_sel = static_cast<uint16_t>(load_sys(s.tr.base + 8 + 8 * new_cpl, 2));
      new_ss = segment_from_descriptor(read_descriptor(*this, ss_sel, nullptr), ss_sel);
      ss_base = new_ss.base;
      push_sys(*this, sp, 4, old_ss, ss_base);
      push_sys(*this, sp, 4, old_rsp, ss_base);
    } else if (!(s.seg[kSs].attr & kSegAttrDb)) {
      sp &= 0xffff;
    }
    push_sys(*this, sp, 4, old_rflags, ss_base);
    push_sys(*this, sp, 4, old_cs, ss_base);
    push_sys(*this, sp, 4, return_rip, ss_base);
    if (has_error) push_sys(*this, sp, 4, error, ss_base);
  }
  s.seg[kSs] = new_ss;
  s.gpr[4] = lm ? sp
                : (s.seg[kSs].attr & kSegAttrDb ? sp & 0xffffffffull
                                                : (old_rsp & ~0xffffull) | (sp & 0xffff));
  s.seg[kCs] = segment_from_descriptor(cs_desc, static_cast<uint16_t>((sel & ~3u) | new_cpl));
  set_cpl(new_cpl);
  s.rflags = (old_rflags & ~(kFlagTf | kFlagNt | kFlagRf | kFlagVm)) | 2;
  s.cc_op = 0;
  if (type == 0xe) s.rflags &= ~kFlagIf;
  s.rip = offset;
  s.interrupt_shadow = 0;
}

void interrupt_return(Cpu& cpu, unsigned size, const Op* op) {
  CpuState& s = cpu.s_;
  // IRET unblocks NMIs even when it then faults (SDM Vol. 3 §6.7.1); a held NMI is taken at the
  // next instruction boundary the main loop sees.
  if (s.nmi_blocked) {
    s.nmi_blocked = 0;
    if (cpu.nmi_pending()) cpu.kick();
  }
  uint64_t sp = s.gpr[4];
  if (!(s.cr0 & kCr0Pe)) {
    uint64_t ip = pop_stack(cpu, sp, 2, op), cs = pop_stack(cpu, sp, 2, op);
    uint64_t fl = pop_stack(cpu, sp, 2, op);
    s.gpr[4] = (s.gpr[4] & ~0xffffull) | (sp & 0xffff);
    s.seg[kCs].selector = static_cast<uint16_t>(cs);
    s.seg[kCs].base = cs << 4;
    write_rflags(cpu, fl, 0xffff);
    s.rip = ip;
    return;
  }
  if (s.rflags & kFlagNt && !long_mode_active(s)) cpu.raise(kGp, 0, op);  // task return
  bool lm64 = code64(s);
  uint64_t rip = pop_stack(cpu, sp, size, op);
  uint16_t cs = static_cast<uint16_t>(pop_stack(cpu, sp, size, op));
  uint64_t fl = pop_stack(cpu, sp, size, op);
  unsigned new_cpl = cs & 3;
  if (new_cpl < s.cpl || (cs & ~3u) == 0) cpu.raise(kGp, cs & ~3u, op);
  uint64_t cs_desc = read_descriptor(cpu, cs, op);
  if (!desc_present(cs_desc)) cpu.raise(kNp, cs & ~3u, op);
  Segment new_cs = segment_from_descriptor(cs_desc, cs);
  uint64_t new_rsp = sp;
  Segment new_ss = s.seg[kSs];
  if (lm64 || new_cpl > s.cpl) {
    new_rsp = pop_stack(cpu, sp, size, op);
    uint16_t ss = static_cast<uint16_t>(pop_stack(cpu, sp, size, op));
    if ((ss & ~3u) == 0) {
      if (!(lm64 && (new_cs.attr & kSegAttrL) && new_cpl < 3)) cpu.raise(kGp, 0, op);
      new_ss = Segment{0, 0xffffffff, 0, ss};
    } else {
      new_ss = segment_from_descriptor(read_descriptor(cpu, ss, op), ss);
    }
  }
  // RF only suppresses instruction breakpoints for the instruction IRET returns to, and the CPU
  // clears it once that retires (SDM Vol. 3 §17.3.1.1); corvid has no instruction breakpoints,
  // so RF is dropped at once (a fault's handler returns with the RF its frame holds).
  uint64_t mask = size == 2 ? 0xffff : 0x257fd5 & ~kFlagRf;
  write_rflags(cpu, fl, mask);
  s.seg[kCs] = new_cs;
  s.seg[kSs] = new_ss;
  bool to64 = long_mode_active(s) && (new_cs.attr & kSegAttrL);
  s.gpr[4] = to64 || size == 8 ? new_rsp : new_rsp & 0xffffffffull;
  cpu.set_cpl(new_cpl);
  s.rip = to64 ? rip : rip & 0xffffffffull;
  if (new_cpl > 0) {
    // Data segments the new privilege level may not use become null (SDM "IRET" pseudocode).
    for (int seg : {kEs, kDs, kFs, kGs}) {
      uint32_t dpl = (s.seg[seg].attr >> 5) & 3;
      bool code_conforming = (s.seg[seg].attr & 0x1c) == 0x1c;
      if ((s.seg[seg].selector & ~3u) && dpl < new_cpl && !code_conforming) {
        s.seg[seg].selector = 0;
        s.seg[seg].attr = 0;
      }
    }
  }
}

void far_jump(Cpu& cpu, uint16_t selector, uint64_t offset, const Op* op) {
  CpuState& s = cpu.s_;
  if (!(s.cr0 & kCr0Pe)) {
    s.seg[kCs].selector = selector;
    s.seg[kCs].base = static_cast<uint64_t>(selector) << 4;
    s.rip = offset & 0xffff;
    return;
  }
  if ((selector & ~3u) == 0) cpu.raise(kGp, 0, op);
  uint64_t d = read_descriptor(cpu, selector, op);
  if (!((d >> 43) & 1)) cpu.raise(kGp, selector & ~3u, op);  // not a code segment (no call gates)
  if (!desc_present(d)) cpu.raise(kNp, selector & ~3u, op);
  s.seg[kCs] = segment_from_descriptor(d, static_cast<uint16_t>((selector & ~3u) | s.cpl));
  s.rip = code64(s) ? offset : offset & 0xffffffffull;
}

void far_call(Cpu& cpu, uint16_t selector, uint64_t offset, unsigned size, uint64_t next_rip,
              const Op* op) {
  CpuState& s = cpu.s_;
  uint64_t sp = s.gpr[4];
  uint64_t base = code64(s) ? 0 : s.seg[kSs].base;
  uint16_t old_cs = s.seg[kCs].selector;
  // Check the target first so a bad selector faults with the stack untouched.
  if (s.cr0 & kCr0Pe) read_descriptor(cpu, selector, op);
  sp -= size;
  cpu.store_slow(base + sp, size, old_cs, op);
  sp -= size;
  cpu.store_slow(base + sp, size, next_rip, op);
  far_jump(cpu, selector, offset, op);
  s.gpr[4] = size == 8 || code64(s) ? sp : sp & 0xffffffffull;
}

void far_return(Cpu& cpu, unsigned size, uint64_t pop_extra, const Op* op) {
  CpuState& s = cpu.s_;
  uint64_t sp = s.gpr[4];
  uint64_t rip = pop_stack(cpu, sp, size, op);
  uint16_t cs = static_cast<uint16_t>(pop_stack(cpu, sp, size, op));
  sp += pop_extra;
  if ((s.cr0 & kCr0Pe) && (cs & 3) > s.cpl) {
    // Return to an outer privilege level: also pops SS:RSP.
    uint64_t new_sp = pop_stack(cpu, sp, size, op);
    uint16_t ss = static_cast<uint16_t>(pop_stack(cpu, sp, size, op));
    uint64_t d = read_descriptor(cpu, cs, op);
    s.seg[kCs] = segment_from_descriptor(d, cs);
    cpu.set_cpl(cs & 3);
    load_segment(cpu, kSs, ss, op);
    s.gpr[4] = new_sp + pop_extra;
    s.rip = rip;
    return;
  }
  far_jump(cpu, cs, rip, op);
  s.gpr[4] = code64(s) ? sp : sp & 0xffffffffull;
}

void do_syscall(Cpu& cpu, uint64_t next_rip, const Op* op) {
  CpuState& s = cpu.s_;
  if (!(s.efer & kEferSce)) cpu.raise_no_error(kUd, op);
  uint16_t sel = static_cast<uint16_t>((s.star >> 32) & 0xfffc);
  bool from64 = code64(s);
  if (long_mode_active(s)) {
    s.gpr[1] = next_rip;
    s.gpr[11] = read_rflags(s) & ~kFlagRf;
    s.rflags = (read_rflags(s) & ~s.sfmask & ~kFlagRf) | 2;
    s.cc_op = 0;
    s.seg[kCs] = Segment{0, 0xffffffff, 0xa09b, sel};
    s.seg[kSs] = Segment{0, 0xffffffff, 0xc093, static_cast<uint16_t>(sel + 8)};
    s.rip = from64 ? s.lstar : s.cstar;
  } else {
    s.gpr[1] = next_rip & 0xffffffffull;
    s.rflags &= ~(kFlagVm | kFlagIf | kFlagRf);
    s.seg[kCs] = Segment{0, 0xffffffff, 0xc09b, sel};
    s.seg[kSs] = Segment{0, 0xffffffff, 0xc093, static_cast<uint16_t>(sel + 8)};
    s.rip = s.star & 0xffffffffull;
  }
  cpu.set_cpl(0);
}

void do_sysret(Cpu& cpu, unsigned size, const Op* op) {
  CpuState& s = cpu.s_;
  if (!(s.efer & kEferSce)) cpu.raise_no_error(kUd, op);
  if (s.cpl != 0 || !long_mode_active(s)) cpu.raise(kGp, 0, op);
  uint16_t base = static_cast<uint16_t>((s.star >> 48) & 0xfffc);
  if (size == 8) {
    uint64_t rip = s.gpr[1];
    // Intel raises #GP in ring 0 for a non-canonical RCX (the known SYSRET erratum).
    if (static_cast<uint64_t>(static_cast<int64_t>(rip << 16) >> 16) != rip) cpu.raise(kGp, 0, op);
    s.seg[kCs] = Segment{0, 0xffffffff, 0xa0fb, static_cast<uint16_t>((base + 16) | 3)};
    s.rip = rip;
  } else {
    s.seg[kCs] = Segment{0, 0xffffffff, 0xc0fb, static_cast<uint16_t>(base | 3)};
    s.rip = s.gpr[1] & 0xffffffffull;
  }
  s.seg[kSs] = Segment{0, 0xffffffff, 0xc0f3, static_cast<uint16_t>((base + 8) | 3)};
  s.rflags = (s.gpr[11] & 0x3c7fd7) | 2;
  s.cc_op = 0;
  cpu.set_cpl(3);
}

}  // namespace corvid::tcg
