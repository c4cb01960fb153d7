// The x87 FPU (SDM Vol. 1 ch. 8). Every arithmetic, transfer, comparison, transcendental and
// stack-control instruction runs as itself on the host's x87 unit over the guest's state
// (tcg/x87_host.h); the status/control-word stores, initialisation and the environment images
// (whose layout depends on the guest's mode) are done here.
#include "tcg/mmx.h"
#include "tcg/sse_common.h"
#include "tcg/x87_host.h"

namespace corvid::tcg {
namespace {

// The generic helper's op.imm2: stub index, memory operand bytes and properties, FOP.
constexpr unsigned kMemShift = 16;
constexpr uint64_t kMemRead = 1ull << 24, kMemWrite = 1ull << 25, kSetsFlags = 1ull << 26,
                   kReadsFlags = 1ull << 27, kWaits = 1ull << 28;
constexpr unsigned kSegShift = 29, kFopShift = 32;

void helper_x87(Cpu& cpu, const Op& op) {
  uint64_t k = op.imm2;
  CpuState& s = cpu.s_;
  x87_check(cpu, op, k & kWaits);
  unsigned size = (k >> kMemShift) & 0xff;
  alignas(16) uint8_t mem[16] = {};
  uint64_t addr = 0;
  if (size) {
    addr = slot(cpu, op.a);
    if (k & kMemRead) {
      load_mem(cpu, op, addr, size, false, mem);
    } else {
      // Fault before any state changes.
      cpu.translate(addr, Cpu::Access::kWrite, false, &op);
      cpu.translate(addr + size - 1, Cpu::Access::kWrite, false, &op);
    }
  }
  uint64_t flags = (k & kReadsFlags) ? compute_arith_flags(s) : 0;
  X87Result r = x87_run(s, k & 0xffff, mem, flags, (k & kMemWrite) ? size : 0);
  if ((k & kMemWrite) && r.stored) store_mem(cpu, op, addr, size, false, mem);
  // fcomi/fucomi: ZF, PF, CF from the comparison; OF, SF, AF cleared.
  if (k & kSetsFlags) write_arith_flags(s, r.rflags & kArithFlags);
  bool no_selectors = x87_selectors_deprecated();
  if (r.ip_updated) {
    s.fip = cpu.rip_of(&op);
    s.fcs = no_selectors ? 0 : s.seg[kCs].selector;
  }
  if (r.fop_updated) s.fop = (k >> kFopShift) & 0x7ff;
  if (r.dp_updated && size) {
    unsigned seg = (k >> kSegShift) & 7;
    bool flat = code64(s) && seg != kFs && seg != kGs;
    uint64_t off = addr - (flat ? 0 : s.seg[seg].base);
    s.fdp = op.cond == 8 ? off : off & (op.cond == 4 ? 0xffffffffull : 0xffffull);
    s.fds = no_selectors ? 0 : s.seg[seg].selector;
  }
}

void helper_fninit(Cpu& cpu, const Op& op) {
  x87_check(cpu, op, false);
  CpuState& s = cpu.s_;
  s.fcw = 0x37f;
  s.fsw = 0;
  s.ftw = 0;
  s.fop = 0;
  s.fip = s.fdp = 0;
  s.fcs = s.fds = 0;
}

void helper_fnclex(Cpu& cpu, const Op& op) {
  x87_check(cpu, op, false);
  cpu.s_.fsw &= 0x7f00;  // exception flags, SF, ES and B
}

// d = status (cond 0) or control (cond 1) word.
void helper_fnst(Cpu& cpu, const Op& op) {
  x87_check(cpu, op, false);
  slot(cpu, op.d) = op.cond ? cpu.s_.fcw : cpu.s_.fsw;
}

void helper_fwait(Cpu& cpu, const Op& op) {
  // WAIT: #NM only when CR0.MP and CR0.TS are both set (SDM Vol. 3 Table 2-2).
  const CpuState& s = cpu.s_;
  if ((s.cr0 & (kCr0Mp | kCr0Ts)) == (kCr0Mp | kCr0Ts)) cpu.raise_no_error(kNm, &op);
  if ((s.cr0 & kCr0Ne) && (s.fsw & ~s.fcw & kFswExceptions)) cpu.raise_no_error(kMf, &op);
}

int seg_index(ZydisRegister r) {
  switch (r) {
    case ZYDIS_REGISTER_ES:
      return kEs;
    case ZYDIS_REGISTER_CS:
      return kCs;
    case ZYDIS_REGISTER_SS:
      return kSs;
    case ZYDIS_REGISTER_FS:
      return kFs;
    case ZYDIS_REGISTER_GS:
      return kGs;
    default:
      return kDs;
  }
}

int mem_operand(const Emitter& e) {
  for (int i = 0; i < e.in.operand_count_visible; ++i) {
    if (e.is_mem(i)) return i;
  }
  return -1;
}

}  // namespace

bool emit_x87(Emitter& e) {
  // MMX shares the x87 registers, and SSE3/SSSE3 share MMX's lane arithmetic: their emitters
  // are reached through this one (the last in translate.cc's chain).
  if (emit_mmx(e) || emit_sse3(e)) return true;
  const auto& in = e.in;
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_FNINIT:
      e.helper(helper_fninit);
      return true;
    case ZYDIS_MNEMONIC_FNCLEX:
      e.helper(helper_fnclex);
      return true;
    case ZYDIS_MNEMONIC_FNSTSW:
    case ZYDIS_MNEMONIC_FNSTCW: {
      e.probe_write(0);
      uint32_t d = e.temp();
      e.helper(helper_fnst, d);
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_FNSTCW;
      e.write(0, d, 2);
      return true;
    }
    case ZYDIS_MNEMONIC_FWAIT:
      e.helper(helper_fwait);
      return true;
    case ZYDIS_MNEMONIC_FNSTENV:
    case ZYDIS_MNEMONIC_FLDENV:
    case ZYDIS_MNEMONIC_FNSAVE:
    case ZYDIS_MNEMONIC_FRSTOR:
      e.helper(x87_helper_env, 0, e.ea(e.op[0]));
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_FNSTENV  ? 0
                                : in.mnemonic == ZYDIS_MNEMONIC_FLDENV ? 1
                                : in.mnemonic == ZYDIS_MNEMONIC_FNSAVE ? 2
                                                                       : 3;
      return true;
    default:
      break;
  }
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY ||
      in.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT || in.opcode < 0xd8 || in.opcode > 0xdf)
    return false;
  unsigned modrm = (in.raw.modrm.mod << 6) | (in.raw.modrm.reg << 3) | in.raw.modrm.rm;
  uint64_t k = x87_stub_index(in.opcode, modrm);
  k |= static_cast<uint64_t>(((in.opcode & 7) << 8) | modrm) << kFopShift;
  // The 8087 leftovers fneni/fndisi/fnsetpm are no-wait no-ops.
  if (in.mnemonic != ZYDIS_MNEMONIC_FENI8087_NOP && in.mnemonic != ZYDIS_MNEMONIC_FDISI8087_NOP &&
      in.mnemonic != ZYDIS_MNEMONIC_FSETPM287_NOP)
    k |= kWaits;
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_FCOMI:
    case ZYDIS_MNEMONIC_FCOMIP:
    case ZYDIS_MNEMONIC_FUCOMI:
    case ZYDIS_MNEMONIC_FUCOMIP:
      k |= kSetsFlags;
      break;
    case ZYDIS_MNEMONIC_FCMOVB:
    case ZYDIS_MNEMONIC_FCMOVBE:
    case ZYDIS_MNEMONIC_FCMOVE:
    case ZYDIS_MNEMONIC_FCMOVNB:
    case ZYDIS_MNEMONIC_FCMOVNBE:
    case ZYDIS_MNEMONIC_FCMOVNE:
    case ZYDIS_MNEMONIC_FCMOVNU:
    case ZYDIS_MNEMONIC_FCMOVU:
      k |= kReadsFlags;
      break;
    default:
      break;
  }
  uint32_t addr = 0;
  int m = mem_operand(e);
  if (m >= 0) {
    const ZydisDecodedOperand& mo = e.op[m];
    unsigned bytes = mo.size / 8;
    if (bytes == 0 || bytes > 16) return false;
    k |= static_cast<uint64_t>(bytes) << kMemShift;
    k |= (mo.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) ? kMemWrite : kMemRead;
    k |= static_cast<uint64_t>(seg_index(mo.mem.segment)) << kSegShift;
    addr = e.ea(mo);
  }
  e.helper(helper_x87, 0, addr, 0, 0, static_cast<int64_t>(k));
  e.block.ops.back().cond = static_cast<uint8_t>(e.asize());
  return true;
}

}  // namespace corvid::tcg
