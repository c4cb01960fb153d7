// Bit operations and atomics: bt/bts/btr/btc, bsf/bsr (tzcnt/lzcnt encodings behave as bsf/bsr
// because BMI1/ABM are not advertised), popcnt, xadd, cmpxchg, cmpxchg8b/16b. The memory forms of
// bts/btr/btc and the compare-exchanges are host atomics (tcg/atomic.h), locked or not: atomic is
// always a correct implementation of the unlocked form too.
#include "tcg/atomic.h"
#include "tcg/softmmu_inline.h"
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

void set_cf_only(CpuState& s, bool cf) {
  uint64_t f = compute_arith_flags(s);
  write_arith_flags(s, cf ? (f | kFlagCf) : (f & ~kFlagCf));
}

// op.a: register value or memory base address; op.b: bit offset; cond: 0 bt 1 bts 2 btr 3 btc;
// imm2: 1 for memory. Register results go to op.d.
void helper_bt(Cpu& cpu, const Op& op) {
  unsigned size = op.size, bits = size * 8;
  int64_t offset = static_cast<int64_t>(slot(cpu, op.b));
  uint64_t value, addr = 0;
  unsigned bit;
  if (op.imm2) {
    if (op.c)
      offset = sign_extend(static_cast<uint64_t>(offset), size);  // register offset
    else
      offset &= bits - 1;
    int64_t word = offset >= 0 ? offset / bits : -((-offset + bits - 1) / bits);
    bit = static_cast<unsigned>(offset - word * static_cast<int64_t>(bits));
    addr = slot(cpu, op.a) + word * static_cast<int64_t>(size);
    if (op.cond != 0) {
      uint64_t old = atomic_bit_op(cpu, addr, size, op.cond, 1ull << bit, &op);
      set_cf_only(cpu.s_, (old >> bit) & 1);
      return;
    }
    value = load_sized(cpu, addr, size, &op);
  } else {
    bit = static_cast<unsigned>(offset) & (bits - 1);
    value = slot(cpu, op.a) & size_mask(size);
  }
  bool old = (value >> bit) & 1;
  uint64_t mask = 1ull << bit;
  uint64_t nv = op.cond == 1   ? value | mask
                : op.cond == 2 ? value & ~mask
                : op.cond == 3 ? value ^ mask
                               : value;
  if (op.cond != 0) slot(cpu, op.d) = nv;
  set_cf_only(cpu.s_, old);
}

void helper_bsf_bsr(Cpu& cpu, const Op& op) {
  uint64_t v = slot(cpu, op.a) & size_mask(op.size);
  uint64_t f = compute_arith_flags(cpu.s_) & ~kFlagZf;
  if (v == 0) {
    slot(cpu, op.d) = slot(cpu, op.c);  // destination unchanged
    f |= kFlagZf;
  } else {
    slot(cpu, op.d) = op.cond ? 63 - __builtin_clzll(v) : __builtin_ctzll(v);
  }
  write_arith_flags(cpu.s_, f);
}

void helper_popcnt(Cpu& cpu, const Op& op) {
  uint64_t v = slot(cpu, op.a) & size_mask(op.size);
  slot(cpu, op.d) = __builtin_popcountll(v);
  write_arith_flags(cpu.s_, v == 0 ? kFlagZf : 0);
}

// op.a: memory address (imm2=1) or register slot of the destination; op.b: source value.
void helper_cmpxchg(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  unsigned size = op.size;
  uint64_t m = size_mask(size);
  uint64_t acc = s.gpr[0] & m;
  uint64_t src = slot(cpu, op.b);
  uint64_t dst = op.imm2   ? atomic_cmpxchg(cpu, slot(cpu, op.a), size, acc, src, &op)
                 : op.cond ? (slot(cpu, op.a) >> 8) & 0xff
                           : slot(cpu, op.a) & m;
  s.cc_dst = (acc - dst) & m;
  s.cc_src = dst;
  s.cc_op = make_cc_op(kCcSub, size);
  bool equal = acc == dst;
  uint64_t nv = equal ? src : dst;
  if (!op.imm2 && equal) {
    // Register destination: the merge rules of a normal write (32-bit zero-extends).
    uint64_t& r = slot(cpu, op.a);
    if (size == 1 && op.cond)
      r = (r & ~0xff00ull) | ((nv & 0xff) << 8);
    else if (size == 1)
      r = (r & ~0xffull) | (nv & 0xff);
    else if (size == 2)
      r = (r & ~0xffffull) | (nv & 0xffff);
    else if (size == 4)
      r = nv & 0xffffffffull;
    else
      r = nv;
  }
  if (!equal) {
    uint64_t& r = s.gpr[0];
    if (size == 1)
      r = (r & ~0xffull) | dst;
    else if (size == 2)
      r = (r & ~0xffffull) | dst;
    else
      r = dst;
  }
}

void helper_cmpxchg_double(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  uint64_t addr = slot(cpu, op.a);
  bool wide = op.size == 16;
  if (wide && (addr & 15)) cpu.raise(kGp, 0, &op);
  unsigned half = wide ? 8 : 4;
  uint64_t m = size_mask(half);
  uint64_t lo = s.gpr[0] & m, hi = s.gpr[2] & m;
  bool equal = atomic_cmpxchg_double(cpu, addr, half, &lo, &hi, s.gpr[3] & m, s.gpr[1] & m, &op);
  uint64_t f = compute_arith_flags(s) & ~kFlagZf;
  if (equal) {
    f |= kFlagZf;
  } else {
    s.gpr[0] = lo;
    s.gpr[2] = hi;
  }
  write_arith_flags(s, f);
}

}  // namespace

bool emit_bits(Emitter& e) {
  const auto& in = e.in;
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_BT:
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC: {
      unsigned size = e.opsize(0);
      unsigned which = in.mnemonic == ZYDIS_MNEMONIC_BT    ? 0
                       : in.mnemonic == ZYDIS_MNEMONIC_BTS ? 1
                       : in.mnemonic == ZYDIS_MNEMONIC_BTR ? 2
                                                           : 3;
      uint32_t off = e.read(1, e.is_imm(1) ? 1 : size);
      uint32_t d = e.temp();
      if (e.is_mem(0)) {
        uint32_t addr = e.ea(e.op[0]);
        e.helper(helper_bt, d, addr, off, e.is_imm(1) ? 0 : 1, 1);
      } else {
        e.helper(helper_bt, d, e.read(0), off);
      }
      e.block.ops.back().size = static_cast<uint8_t>(size);
      e.block.ops.back().cond = static_cast<uint8_t>(which);
      if (which && !e.is_mem(0)) e.write(0, d);
      return true;
    }
    case ZYDIS_MNEMONIC_BSF:
    case ZYDIS_MNEMONIC_BSR:
    case ZYDIS_MNEMONIC_TZCNT:
    case ZYDIS_MNEMONIC_LZCNT: {
      uint32_t src = e.read(1);
      uint32_t old = e.read(0);
      uint32_t d = e.temp();
      e.helper(helper_bsf_bsr, d, src, 0, old);
      e.block.ops.back().size = static_cast<uint8_t>(e.opsize(0));
      e.block.ops.back().cond =
          in.mnemonic == ZYDIS_MNEMONIC_BSR || in.mnemonic == ZYDIS_MNEMONIC_LZCNT;
      e.write(0, d);
      return true;
    }
    case ZYDIS_MNEMONIC_POPCNT: {
      uint32_t d = e.temp();
      e.helper(helper_popcnt, d, e.read(1));
      e.block.ops.back().size = static_cast<uint8_t>(e.opsize(0));
      e.write(0, d);
      return true;
    }
    case ZYDIS_MNEMONIC_XADD: {
      unsigned size = e.opsize(0);
      e.probe_write(0);
      uint32_t dst = e.copy(e.read(0));
      uint32_t src = e.read(1);
      uint32_t sum = e.alu(kAdd, dst, src, size);
      if (e.is_mem(0)) {
        e.write(0, sum);
        e.write(1, dst);
      } else {
        e.write(1, dst);
        e.write(0, sum);
      }
      return true;
    }
    case ZYDIS_MNEMONIC_CMPXCHG: {
      unsigned size = e.opsize(0);
      uint32_t src = e.copy(e.read(1));
      bool hi = false;
      if (e.is_mem(0)) {
        e.probe_write(0);
        e.helper(helper_cmpxchg, 0, e.mem_addr, src, 0, 1);
      } else {
        int idx;
        unsigned sz;
        gpr_of(e.op[0].reg.value, &idx, &sz, &hi);
        e.helper(helper_cmpxchg, 0, gpr_offset(idx), src, 0, 0);
      }
      e.block.ops.back().size = static_cast<uint8_t>(size);
      e.block.ops.back().cond = hi;
      return true;
    }
    case ZYDIS_MNEMONIC_CMPXCHG8B:
    case ZYDIS_MNEMONIC_CMPXCHG16B:
      e.helper(helper_cmpxchg_double, 0, e.ea(e.op[0]));
      e.block.ops.back().size = in.mnemonic == ZYDIS_MNEMONIC_CMPXCHG16B ? 16 : 8;
      return true;
    default:
      return false;
  }
}

}  // namespace corvid::tcg
