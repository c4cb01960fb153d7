// The translation driver: fetches guest bytes through the code TLB, decodes them with Zydis and
// hands each instruction to the family emitters (emit_*.cc).
#include <cstring>
#include <memory>

#include "base/log.h"
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

constexpr int kMaxBlockInsns = 64;

void unimplemented(Cpu& cpu, const Op& op) {
  (void)cpu;
  (void)op;
  helper_raise_ud(cpu, op);
}

}  // namespace

void helper_raise_ud(Cpu& cpu, const Op& op) {
  cpu.raise_no_error(kUd, &op);
}

bool gpr_of(ZydisRegister r, int* index, unsigned* size, bool* hi) {
  *hi = false;
  if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL) {
    *index = r - ZYDIS_REGISTER_AL;
    *size = 1;
  } else if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
    *index = r - ZYDIS_REGISTER_AH;
    *size = 1;
    *hi = true;
  } else if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_R15B) {
    *index = r - ZYDIS_REGISTER_SPL + 4;
    *size = 1;
  } else if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W) {
    *index = r - ZYDIS_REGISTER_AX;
    *size = 2;
  } else if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D) {
    *index = r - ZYDIS_REGISTER_EAX;
    *size = 4;
  } else if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15) {
    *index = r - ZYDIS_REGISTER_RAX;
    *size = 8;
  } else {
    return false;
  }
  return true;
}

int xmm_of(ZydisRegister r) {
  if (r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15) return r - ZYDIS_REGISTER_XMM0;
  return -1;
}

uint32_t Emitter::temp() {
  // The last temp is the constant-zero slot.
  if (next_temp >= kNumTemps - 1) next_temp = 0;
  return temp_offset(next_temp++);
}

void Emitter::emit(Op o) {
  o.pc_off = pc_off;
  o.ilen = in.length;
  o.fn = select_handler(o);
  block.ops.push_back(o);
}

uint32_t Emitter::movi(uint64_t v) {
  Op o;
  o.kind = IrKind::kMovi;
  o.d = temp();
  o.imm = static_cast<int64_t>(v);
  emit(o);
  return o.d;
}

uint32_t Emitter::get_gpr(int reg, unsigned size, bool hi) {
  if (!hi) return gpr_offset(reg);  // consumers mask to their operand size
  Op o;
  o.kind = IrKind::kGetReg;
  o.d = temp();
  o.a = gpr_offset(reg);
  o.size = 1;
  o.cond = 1;
  emit(o);
  (void)size;
  return o.d;
}

void Emitter::set_gpr(int reg, uint32_t t, unsigned size, bool hi) {
  Op o;
  o.kind = size == 8 && !hi ? IrKind::kMov : IrKind::kSetReg;
  o.d = gpr_offset(reg);
  o.a = t;
  o.size = size;
  o.cond = hi;
  if (o.kind == IrKind::kMov && o.d == o.a) return;
  emit(o);
}

uint32_t Emitter::seg_base_slot(ZydisRegister seg) const {
  int idx;
  switch (seg) {
    case ZYDIS_REGISTER_ES:
      idx = kEs;
      break;
    case ZYDIS_REGISTER_CS:
      idx = kCs;
      break;
    case ZYDIS_REGISTER_SS:
      idx = kSs;
      break;
    case ZYDIS_REGISTER_FS:
      idx = kFs;
      break;
    case ZYDIS_REGISTER_GS:
      idx = kGs;
      break;
    default:
      idx = kDs;
      break;
  }
  if (code64 && idx != kFs && idx != kGs) return 0;
  return offsetof(CpuState, seg) + idx * sizeof(Segment) + offsetof(Segment, base);
}

uint32_t Emitter::ea(const ZydisDecodedOperand& m, bool with_segment) {
  Op o;
  o.kind = IrKind::kEa;
  o.size = asize();
  o.imm = m.mem.disp.has_displacement ? m.mem.disp.value : 0;
  o.a = kZeroSlot;
  o.c = kZeroSlot;
  int idx;
  unsigned sz;
  bool hi;
  if (m.mem.base == ZYDIS_REGISTER_RIP || m.mem.base == ZYDIS_REGISTER_EIP) {
    o.imm += static_cast<int64_t>(next_pc);
  } else if (m.mem.base != ZYDIS_REGISTER_NONE && gpr_of(m.mem.base, &idx, &sz, &hi)) {
    o.a = gpr_offset(idx);
  }
  if (m.mem.index != ZYDIS_REGISTER_NONE && gpr_of(m.mem.index, &idx, &sz, &hi)) {
    o.c = gpr_offset(idx);
    o.imm2 = m.mem.scale == 8 ? 3 : m.mem.scale == 4 ? 2 : m.mem.scale == 2 ? 1 : 0;
  }
  o.b = with_segment ? seg_base_slot(m.mem.segment) : 0;
  o.cond = code64;
  if (o.b == 0 && o.c == kZeroSlot && o.imm == 0 && o.size == 8 && o.a != kZeroSlot) return o.a;
  o.d = temp();
  emit(o);
  return o.d;
}

uint32_t Emitter::load(uint32_t addr, unsigned size) {
  Op o;
  o.kind = IrKind::kLoad;
  o.d = temp();
  o.a = addr;
  o.size = size;
  o.cond = locked && has_mem_addr && addr == mem_addr;
  emit(o);
  return o.d;
}

void Emitter::store(uint32_t addr, uint32_t value, unsigned size) {
  Op o;
  o.kind = IrKind::kStore;
  o.a = addr;
  o.b = value;
  o.size = size;
  o.cond = locked && has_mem_addr && addr == mem_addr;
  emit(o);
}

uint32_t Emitter::read(int i, unsigned size) {
  const ZydisDecodedOperand& x = op[i];
  if (!size) size = x.size / 8;
  switch (x.type) {
    case ZYDIS_OPERAND_TYPE_REGISTER: {
      int idx;
      unsigned sz;
      bool hi;
      if (gpr_of(x.reg.value, &idx, &sz, &hi)) return get_gpr(idx, sz, hi);
      return movi(0);
    }
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
      return movi(x.imm.value.u & size_mask(size));
    case ZYDIS_OPERAND_TYPE_MEMORY:
      if (!has_mem_addr) {
        mem_addr = ea(x);
        has_mem_addr = true;
      }
      return load(mem_addr, size);
    default:
      return movi(0);
  }
}

void Emitter::write(int i, uint32_t t, unsigned size) {
  const ZydisDecodedOperand& x = op[i];
  if (!size) size = x.size / 8;
  if (x.type == ZYDIS_OPERAND_TYPE_REGISTER) {
    int idx;
    unsigned sz;
    bool hi;
    if (gpr_of(x.reg.value, &idx, &sz, &hi)) set_gpr(idx, t, sz, hi);
  } else if (x.type == ZYDIS_OPERAND_TYPE_MEMORY) {
    if (!has_mem_addr) {
      mem_addr = ea(x);
      has_mem_addr = true;
    }
    store(mem_addr, t, size);
  }
}

void Emitter::probe_write(int i) {
  if (!is_mem(i)) return;
  if (!has_mem_addr) {
    mem_addr = ea(op[i]);
    has_mem_addr = true;
  }
  Op o;
  o.kind = IrKind::kProbeWrite;
  o.a = mem_addr;
  o.size = op[i].size / 8;
  emit(o);
}

uint32_t Emitter::alu(AluOp a, uint32_t x, uint32_t y, unsigned size) {
  Op o;
  o.kind = IrKind::kAlu;
  o.cond = a;
  o.d = temp();
  o.a = x;
  o.b = y;
  o.size = size;
  emit(o);
  return o.d;
}

uint32_t Emitter::alu_nf(AluOp a, uint32_t x, uint32_t y, unsigned size) {
  Op o;
  o.kind = IrKind::kAluNoFlags;
  o.cond = a;
  o.d = temp();
  o.a = x;
  o.b = y;
  o.size = size;
  emit(o);
  return o.d;
}

uint32_t Emitter::extend(uint32_t x, unsigned from_size, bool sign) {
  Op o;
  o.kind = IrKind::kExtend;
  o.d = temp();
  o.a = x;
  o.size = from_size;
  o.cond = sign;
  emit(o);
  return o.d;
}

uint32_t Emitter::copy(uint32_t x) {
  Op o;
  o.kind = IrKind::kMov;
  o.d = temp();
  o.a = x;
  emit(o);
  return o.d;
}

uint32_t Emitter::stack_addr(uint32_t rsp_temp) {
  if (code64) return rsp_temp;
  Op o;
  o.kind = IrKind::kEa;
  o.size = stack_size();
  o.a = rsp_temp;
  o.c = kZeroSlot;
  o.b = seg_base_slot(ZYDIS_REGISTER_SS);
  o.d = temp();
  emit(o);
  return o.d;
}

void Emitter::push(uint32_t value, unsigned size) {
  uint32_t rsp = alu_nf(kSub, gpr_offset(4), movi(size), stack_size());
  store(stack_addr(rsp), value, size);
  set_gpr(4, rsp, stack_size());
}

uint32_t Emitter::pop_value(unsigned size) {
  uint32_t rsp = code64 ? gpr_offset(4) : alu_nf(kAdd, gpr_offset(4), kZeroSlot, stack_size());
  return load(stack_addr(rsp), size);
}

void Emitter::adjust_rsp(int64_t delta) {
  uint32_t rsp = alu_nf(kAdd, gpr_offset(4), movi(static_cast<uint64_t>(delta)), stack_size());
  set_gpr(4, rsp, stack_size());
}

void Emitter::helper(HelperFn fn, uint32_t d, uint32_t a, uint32_t b, uint32_t c, int64_t imm2) {
  Op o;
  o.kind = IrKind::kHelper;
  o.imm = reinterpret_cast<int64_t>(fn);
  o.d = d;
  o.a = a;
  o.b = b;
  o.c = c;
  o.imm2 = static_cast<uint64_t>(imm2);
  o.size = in.operand_width / 8;
  emit(o);
}

void Emitter::jump(uint64_t target) {
  Op o;
  o.kind = IrKind::kJmp;
  o.imm = static_cast<int64_t>(target);
  emit(o);
  end_block = true;
}

void Emitter::exit_to(uint64_t rip) {
  Op o;
  o.kind = IrKind::kExit;
  o.imm = static_cast<int64_t>(rip);
  emit(o);
  end_block = true;
}

void Emitter::exit_rip_set() {
  Op o;
  o.kind = IrKind::kExit;
  o.cond = 1;
  emit(o);
  end_block = true;
}

Block* translate_block(Cpu& cpu, uint64_t vaddr, uint64_t paddr, uint32_t mode) {
  auto block = std::make_unique<Block>();
  block->vaddr = vaddr;
  block->paddr = paddr;
  block->mode = mode;
  bool is64 = code64(cpu.s_);
  bool d32 = cpu.s_.seg[kCs].attr & kSegAttrDb;
  ZydisDecoder decoder;
  ZydisMachineMode mm = is64                     ? ZYDIS_MACHINE_MODE_LONG_64
                        : !(cpu.s_.cr0 & kCr0Pe) ? ZYDIS_MACHINE_MODE_REAL_16
                        : d32                    ? ZYDIS_MACHINE_MODE_LEGACY_32
                                                 : ZYDIS_MACHINE_MODE_LEGACY_16;
  ZydisStackWidth sw = is64                                  ? ZYDIS_STACK_WIDTH_64
                       : (cpu.s_.seg[kSs].attr & kSegAttrDb) ? ZYDIS_STACK_WIDTH_32
                                                             : ZYDIS_STACK_WIDTH_16;
  ZydisDecoderInit(&decoder, mm, sw);

  uint8_t* page = cpu.bus_.ram_page(paddr & ~0xfffull);
  uint64_t pc = vaddr;
  bool ended = false;
  bool shadow_next = false;
  for (int n = 0; n < kMaxBlockInsns; ++n) {
    uint8_t bytes[32] = {};
    uint64_t in_page = 4096 - (pc & 0xfff);
    size_t avail = in_page < 15 ? in_page : 15;
    std::memcpy(bytes, page + (pc & 0xfff), avail);
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    ZyanStatus st = ZydisDecoderDecodeFull(&decoder, bytes, avail, &insn, ops);
    if (st == ZYDIS_STATUS_NO_MORE_DATA && avail < 15) {
      // The instruction straddles the page: it gets a block of its own, covering both pages.
      if (n > 0) break;
      uint64_t p2 = cpu.translate(pc + avail, Cpu::Access::kExec, false, nullptr) & ~0xfffull;
      uint8_t* page2 = cpu.bus_.ram_page(p2);
      if (!page2) break;
      std::memcpy(bytes + avail, page2, 15 - avail);
      block->paddr2 = p2;
      st = ZydisDecoderDecodeFull(&decoder, bytes, 15, &insn, ops);
    }
    Emitter e{cpu, *block, insn, ops};
    e.pc = pc;
    e.pc_off = static_cast<uint32_t>(pc - vaddr);
    e.code64 = is64;
    e.locked = (insn.attributes & ZYDIS_ATTRIB_HAS_LOCK) ||
               (insn.mnemonic == ZYDIS_MNEMONIC_XCHG && (ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY ||
                                                         ops[1].type == ZYDIS_OPERAND_TYPE_MEMORY));
    block->insn_offsets.push_back(e.pc_off);
    ++block->insn_count;
    if (!ZYAN_SUCCESS(st)) {
      insn.length = 1;
      insn.operand_width = 32;
      e.next_pc = pc + 1;
      e.helper(unimplemented);
      e.exit_to(pc);
      ended = true;
      break;
    }
    e.next_pc = pc + insn.length;
    if (!is64 && !(insn.operand_width)) insn.operand_width = d32 ? 32 : 16;
    bool handled = emit_alu(e) || emit_bits(e) || emit_control(e) || emit_string(e) ||
                   emit_system(e) || emit_sse2(e) || emit_sse(e) || emit_sse_convert(e) ||
                   emit_sse_state(e) || emit_x87(e);
    if (!handled) {
      LOG_DEBUG("tcg: no emitter for {} at {:#x}", ZydisMnemonicGetString(insn.mnemonic), pc);
      e.helper(unimplemented);
      e.exit_to(pc);
    }
    pc = e.next_pc;
    if (shadow_next) {
      e.exit_to(pc);
      ended = true;
      break;
    }
    // sti, mov ss and pop ss block interrupts for one more instruction: end the block after it.
    if (insn.mnemonic == ZYDIS_MNEMONIC_STI ||
        (insn.mnemonic == ZYDIS_MNEMONIC_MOV && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
         ops[0].reg.value == ZYDIS_REGISTER_SS) ||
        (insn.mnemonic == ZYDIS_MNEMONIC_POP && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
         ops[0].reg.value == ZYDIS_REGISTER_SS)) {
      if (!block->ops.empty() && block->ops.back().kind == IrKind::kExit) block->ops.pop_back();
      e.end_block = false;
      shadow_next = true;
    }
    if (e.end_block) {
      ended = true;
      break;
    }
    if (block->paddr2 != ~0ull || ((pc ^ vaddr) & ~0xfffull)) break;
  }
  if (!ended) {
    ZydisDecodedInstruction none{};
    none.length = 0;
    Emitter e{cpu, *block, none, nullptr};
    e.pc_off = static_cast<uint32_t>(pc - vaddr);
    e.jump(pc);
  }
  block->length = static_cast<uint32_t>(pc - vaddr);
  optimize_block(*block);
  return block.release();
}

}  // namespace corvid::tcg
