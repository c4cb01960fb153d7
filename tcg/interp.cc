// The interpreter: one small handler per (IR kind, size). A handler does its op's work and returns
// the next op; block-ending handlers follow chained links or the jump cache straight into the next
// block, checking for interrupts and stop requests at every block entry.
#include "tcg/interp.h"

#include <array>
#include <utility>

#include "tcg/atomic.h"
#include "tcg/flags.h"
#include "tcg/interp_dispatch.h"
#include "tcg/softmmu_inline.h"

namespace corvid::tcg {
namespace {

using namespace interp;

const Op* h_movi(Cpu& cpu, const Op* op) {
  R(cpu, op->d) = op->imm;
  return next_op(cpu, op);
}
const Op* h_mov(Cpu& cpu, const Op* op) {
  R(cpu, op->d) = R(cpu, op->a);
  return next_op(cpu, op);
}

template <unsigned N, bool Hi>
const Op* h_getreg(Cpu& cpu, const Op* op) {
  uint64_t v = R(cpu, op->a);
  R(cpu, op->d) = Hi ? (v >> 8) & 0xff : v & size_mask(N);
  return next_op(cpu, op);
}

template <unsigned N, bool Hi>
const Op* h_setreg(Cpu& cpu, const Op* op) {
  uint64_t& r = R(cpu, op->d);
  uint64_t v = R(cpu, op->a);
  if (Hi) {
    r = (r & ~0xff00ull) | ((v & 0xff) << 8);
  } else if (N == 1) {
    r = (r & ~0xffull) | (v & 0xff);
  } else if (N == 2) {
    r = (r & ~0xffffull) | (v & 0xffff);
  } else if (N == 4) {
    r = v & 0xffffffffull;
  } else {
    r = v;
  }
  return next_op(cpu, op);
}

// CF without the general flag computation for the producers adc/sbb chains see (add, sub, adc,
// sbb, logic ops), else the general path.
inline uint64_t fast_carry(const CpuState& s) {
  uint32_t kind = s.cc_op >> 2;
  uint64_t m = size_mask(1u << (s.cc_op & 3));
  uint64_t dst = s.cc_dst & m, src = s.cc_src & m;
  switch (kind) {
    case kCcAdd:
      return dst < src;
    case kCcSub:
      return ((dst + src) & m) < src;
    case kCcAdc:
      return (s.cc_src2 & 1) ? dst <= src : dst < src;
    case kCcSbb: {
      uint64_t src1 = (dst + src + (s.cc_src2 & 1)) & m;
      return (s.cc_src2 & 1) ? src1 <= src : src1 < src;
    }
    case kCcLogic:
      return 0;
    default:
      return carry_flag(s);
  }
}

// The second operand: a slot, or the op's immediate (kImmOperand, see ir.h).
template <bool Imm>
inline uint64_t operand_b(Cpu& cpu, const Op* op) {
  return Imm ? static_cast<uint64_t>(op->imm) : R(cpu, op->b);
}

template <unsigned N, AluOp A, bool Imm = false>
const Op* h_alu(Cpu& cpu, const Op* op) {
  CpuState& s = cpu.s_;
  uint64_t a = R(cpu, op->a), b = operand_b<Imm>(cpu, op), r;
  constexpr uint64_t m = size_mask(N);
  switch (A) {
    case kAdd:
      r = (a + b) & m;
      s.cc_op = make_cc_op(kCcAdd, N);
      break;
    case kAdc: {
      uint64_t c = fast_carry(s);
      r = (a + b + c) & m;
      s.cc_src2 = c;
      s.cc_op = make_cc_op(kCcAdc, N);
      break;
    }
    case kSbb: {
      uint64_t c = fast_carry(s);
      r = (a - b - c) & m;
      s.cc_src2 = c;
      s.cc_op = make_cc_op(kCcSbb, N);
      break;
    }
    case kSub:
    case kCmp:
      r = (a - b) & m;
      s.cc_op = make_cc_op(kCcSub, N);
      break;
    case kAnd:
    case kTest:
      r = a & b & m;
      s.cc_op = make_cc_op(kCcLogic, N);
      break;
    case kOr:
      r = (a | b) & m;
      s.cc_op = make_cc_op(kCcLogic, N);
      break;
    default:
      r = (a ^ b) & m;
      s.cc_op = make_cc_op(kCcLogic, N);
      break;
  }
  s.cc_dst = r;
  s.cc_src = b;
  if (A != kCmp && A != kTest) R(cpu, op->d) = r;
  return next_op(cpu, op);
}

template <unsigned N, AluOp A, bool Imm>
const Op* h_alu_nf(Cpu& cpu, const Op* op) {
  uint64_t a = R(cpu, op->a), b = operand_b<Imm>(cpu, op), r;
  switch (A) {
    case kAdd:
      r = a + b;
      break;
    case kSub:
      r = a - b;
      break;
    case kAnd:
      r = a & b;
      break;
    case kOr:
      r = a | b;
      break;
    case kXor:
      r = a ^ b;
      break;
    case kShlNf:
      r = a << (b & 63);
      break;
    case kShrNf:
      r = (a & size_mask(N)) >> (b & 63);
      break;
    default:  // kSarNf
      r = static_cast<uint64_t>(sign_extend(a, N) >> (b & 63));
      break;
  }
  R(cpu, op->d) = r & size_mask(N);
  return next_op(cpu, op);
}

// imul r, r/m[, imm] (SDM Vol. 2 "IMUL"): CF = OF = the signed product does not fit.
template <unsigned N, bool Flags, bool Imm>
const Op* h_mul(Cpu& cpu, const Op* op) {
  uint64_t a = R(cpu, op->a), b = operand_b<Imm>(cpu, op), lo;
  bool ovf;
  if (N == 8) {
    int64_t p;
    ovf = __builtin_mul_overflow(static_cast<int64_t>(a), static_cast<int64_t>(b), &p);
    lo = static_cast<uint64_t>(p);
  } else {
    int64_t p = sign_extend(a, N) * sign_extend(b, N);
    lo = static_cast<uint64_t>(p) & size_mask(N);
    ovf = sign_extend(lo, N) != p;
  }
  if (Flags) {
    CpuState& s = cpu.s_;
    s.cc_dst = lo;
    s.cc_src = ovf;
    s.cc_op = make_cc_op(kCcMul, N);
  }
  R(cpu, op->d) = lo;
  return next_op(cpu, op);
}

template <unsigned N, UnaryOp U>
const Op* h_unary(Cpu& cpu, const Op* op) {
  CpuState& s = cpu.s_;
  uint64_t a = R(cpu, op->a), r;
  constexpr uint64_t m = size_mask(N);
  switch (U) {
    case kInc:
      s.cc_src2 = compute_arith_flags(s);
      r = (a + 1) & m;
      s.cc_op = make_cc_op(kCcInc, N);
      s.cc_dst = r;
      break;
    case kDec:
      s.cc_src2 = compute_arith_flags(s);
      r = (a - 1) & m;
      s.cc_op = make_cc_op(kCcDec, N);
      s.cc_dst = r;
      break;
    case kNeg:
      r = (0 - a) & m;
      s.cc_op = make_cc_op(kCcSub, N);
      s.cc_dst = r;
      s.cc_src = a;
      break;
    default:
      r = ~a & m;
      break;
  }
  R(cpu, op->d) = r;
  return next_op(cpu, op);
}

// SHL/SHR/SAR with lazy flags (the common case); counts at or beyond the width of an 8/16-bit
// operand take the general path.
template <unsigned N, ShiftOp S, bool Imm = false>
const Op* h_shift_lazy(Cpu& cpu, const Op* op) {
  constexpr unsigned bits = N * 8;
  CpuState& s = cpu.s_;
  unsigned count = operand_b<Imm>(cpu, op) & (N == 8 ? 63 : 31);
  uint64_t a = R(cpu, op->a) & size_mask(N);
  if (count == 0) {
    R(cpu, op->d) = a;
    return next_op(cpu, op);
  }
  if (count >= bits) {
    R(cpu, op->d) = shift_value(s, S, N, a, count);
    return next_op(cpu, op);
  }
  uint64_t r;
  if (S == kShl) {
    r = (a << count) & size_mask(N);
    s.cc_src = (a >> (bits - count)) & 1;
    s.cc_op = make_cc_op(kCcShl, N);
  } else if (S == kShr) {
    r = a >> count;
    s.cc_src = (a >> (count - 1)) & 1;
    s.cc_src2 = a;
    s.cc_op = make_cc_op(kCcShr, N);
  } else {
    int64_t sa = sign_extend(a, N);
    r = static_cast<uint64_t>(sa >> count) & size_mask(N);
    s.cc_src = (sa >> (count - 1)) & 1;
    s.cc_op = make_cc_op(kCcSar, N);
  }
  s.cc_dst = r;
  R(cpu, op->d) = r;
  return next_op(cpu, op);
}

template <ShiftOp S, bool Imm>
Handler shift_lazy(unsigned n) {
  return n == 1   ? h_shift_lazy<1, S, Imm>
         : n == 2 ? h_shift_lazy<2, S, Imm>
         : n == 4 ? h_shift_lazy<4, S, Imm>
                  : h_shift_lazy<8, S, Imm>;
}

template <bool Imm>
const Op* h_shift(Cpu& cpu, const Op* op) {
  R(cpu, op->d) = shift_value(cpu.s_, op->cond, op->size, R(cpu, op->a), operand_b<Imm>(cpu, op));
  return next_op(cpu, op);
}

template <bool Seg>
const Op* h_ea(Cpu& cpu, const Op* op) {
  uint64_t v = R(cpu, op->a) + (R(cpu, op->c) << op->imm2) + op->imm;
  v &= size_mask(op->size);
  if (Seg) v = (v + R(cpu, op->b)) & (op->cond ? ~0ull : 0xffffffffull);
  R(cpu, op->d) = v;
  return next_op(cpu, op);
}

template <bool Inline>
inline uint64_t address(Cpu& cpu, const Op* op) {
  if (!Inline) return R(cpu, op->a);
  return R(cpu, op->a) + (R(cpu, op->c) << (op->imm2 & 3)) + op->imm;
}

// The TLB-miss/MMIO/page-crossing paths of h_load/h_store live out of line and are tail-called:
// with the slow call inlined, every load paid a stack frame and a saved register for it.
template <unsigned N>
[[gnu::noinline]] const Op* h_load_slow(Cpu& cpu, const Op* op, uint64_t va) {
  R(cpu, op->d) = cpu.load_slow(va, N, op);
  return next_op(cpu, op);
}

template <unsigned N>
[[gnu::noinline]] const Op* h_store_slow(Cpu& cpu, const Op* op, uint64_t va) {
  cpu.store_slow(va, N, R(cpu, op->b), op);
  if (__builtin_expect(cpu.smc_hit_, 0)) return smc_redirect(cpu, op);
  return next_op(cpu, op);
}

template <unsigned N, bool Inline = false>
const Op* h_load(Cpu& cpu, const Op* op) {
  uint64_t va = address<Inline>(cpu, op);
  const TlbEntry& e = cpu.tlb_[cpu.mmu_index_][(va >> 12) & (kTlbSize - 1)];
  if (__builtin_expect(e.read == (va & ~0xfffull) && (va & 0xfff) <= 4096 - N, 1)) {
    uint64_t v = 0;
    std::memcpy(&v, reinterpret_cast<const void*>(va + e.addend), N);
    R(cpu, op->d) = v;
    return next_op(cpu, op);
  }
  return h_load_slow<N>(cpu, op, va);
}

template <unsigned N, bool Inline = false>
const Op* h_store(Cpu& cpu, const Op* op) {
  uint64_t va = address<Inline>(cpu, op);
  const TlbEntry& e = cpu.tlb_[cpu.mmu_index_][(va >> 12) & (kTlbSize - 1)];
  if (__builtin_expect(e.write == (va & ~0xfffull) && (va & 0xfff) <= 4096 - N, 1)) {
    uint64_t v = R(cpu, op->b);
    std::memcpy(reinterpret_cast<void*>(va + e.addend), &v, N);
    if (__builtin_expect(cpu.smc_hit_, 0)) return smc_redirect(cpu, op);
    return next_op(cpu, op);
  }
  return h_store_slow<N>(cpu, op, va);
}

const Op* h_probe_write(Cpu& cpu, const Op* op) {
  uint64_t va = R(cpu, op->a);
  const TlbEntry& e = cpu.tlb_[cpu.mmu_index_][(va >> 12) & (kTlbSize - 1)];
  if (e.write == (va & ~0xfffull) && (va & 0xfff) <= 4096u - op->size) return next_op(cpu, op);
  cpu.translate(va, Cpu::Access::kWrite, false, op);
  cpu.translate(va + op->size - 1, Cpu::Access::kWrite, false, op);
  return next_op(cpu, op);
}

template <unsigned N, bool Signed>
const Op* h_extend(Cpu& cpu, const Op* op) {
  uint64_t a = R(cpu, op->a);
  R(cpu, op->d) = Signed ? static_cast<uint64_t>(sign_extend(a, N)) : a & size_mask(N);
  return next_op(cpu, op);
}

Handler extend_handler(unsigned n, bool sign) {
  switch (n) {
    case 1:
      return sign ? h_extend<1, true> : h_extend<1, false>;
    case 2:
      return sign ? h_extend<2, true> : h_extend<2, false>;
    case 4:
      return sign ? h_extend<4, true> : h_extend<4, false>;
    default:
      return sign ? h_extend<8, true> : h_extend<8, false>;
  }
}

// setcc/cmov/jcc have one handler per condition code (tables below h_jcc): with the condition
// a constant, eval_condition's inline paths shrink to the one comparison it needs.
template <unsigned Cond>
[[gnu::flatten]] const Op* h_setcc(Cpu& cpu, const Op* op) {
  R(cpu, op->d) = eval_condition(cpu.s_, Cond);
  return next_op(cpu, op);
}

template <unsigned Cond>
[[gnu::flatten]] const Op* h_cmov(Cpu& cpu, const Op* op) {
  R(cpu, op->d) = eval_condition(cpu.s_, Cond) ? R(cpu, op->b) : R(cpu, op->a);
  return next_op(cpu, op);
}

const Op* h_helper(Cpu& cpu, const Op* op) {
  reinterpret_cast<HelperFn>(op->imm)(cpu, *op);
  if (__builtin_expect(cpu.smc_hit_, 0)) return smc_redirect(cpu, op);
  return next_op(cpu, op);
}

template <unsigned C>
struct SetccH {
  static constexpr Handler fn = h_setcc<C>;
};
template <unsigned C>
struct CmovH {
  static constexpr Handler fn = h_cmov<C>;
};

template <unsigned N, bool Imm>
Handler nf_handler(unsigned a) {
  static constexpr Handler table[] = {
      h_alu_nf<N, kAdd, Imm>,   h_alu_nf<N, kOr, Imm>,   nullptr, nullptr, h_alu_nf<N, kAnd, Imm>,
      h_alu_nf<N, kSub, Imm>,   h_alu_nf<N, kXor, Imm>,  nullptr, nullptr, h_alu_nf<N, kShlNf, Imm>,
      h_alu_nf<N, kShrNf, Imm>, h_alu_nf<N, kSarNf, Imm>};
  return table[a];
}

template <bool Imm>
Handler nf_sized(unsigned n, unsigned a) {
  return n == 1   ? nf_handler<1, Imm>(a)
         : n == 2 ? nf_handler<2, Imm>(a)
         : n == 4 ? nf_handler<4, Imm>(a)
                  : nf_handler<8, Imm>(a);
}

template <bool Flags, bool Imm>
Handler mul_sized(unsigned n) {
  return n == 1   ? h_mul<1, Flags, Imm>
         : n == 2 ? h_mul<2, Flags, Imm>
         : n == 4 ? h_mul<4, Flags, Imm>
                  : h_mul<8, Flags, Imm>;
}

template <template <unsigned> class F>
Handler by_size(unsigned size) {
  switch (size) {
    case 1:
      return F<1>::fn;
    case 2:
      return F<2>::fn;
    case 4:
      return F<4>::fn;
    default:
      return F<8>::fn;
  }
}
template <unsigned N>
struct LoadH {
  static constexpr Handler fn = h_load<N>;
};
template <unsigned N>
struct StoreH {
  static constexpr Handler fn = h_store<N>;
};
template <unsigned N>
struct LoadEaH {
  static constexpr Handler fn = h_load<N, true>;
};
template <unsigned N>
struct StoreEaH {
  static constexpr Handler fn = h_store<N, true>;
};
template <unsigned N>
struct GetH {
  static constexpr Handler fn = h_getreg<N, false>;
};
template <unsigned N>
struct SetH {
  static constexpr Handler fn = h_setreg<N, false>;
};

template <unsigned N, bool Imm = false>
Handler alu_handler(unsigned a) {
  static constexpr Handler table[] = {
      h_alu<N, kAdd, Imm>, h_alu<N, kOr, Imm>,  h_alu<N, kAdc, Imm>,
      h_alu<N, kSbb, Imm>, h_alu<N, kAnd, Imm>, h_alu<N, kSub, Imm>,
      h_alu<N, kXor, Imm>, h_alu<N, kCmp, Imm>, h_alu<N, kTest, Imm>};
  return table[a];
}
template <bool Imm>
Handler alu_sized(unsigned n, unsigned a) {
  return n == 1   ? alu_handler<1, Imm>(a)
         : n == 2 ? alu_handler<2, Imm>(a)
         : n == 4 ? alu_handler<4, Imm>(a)
                  : alu_handler<8, Imm>(a);
}
template <unsigned N>
Handler unary_handler(unsigned u) {
  static constexpr Handler table[] = {h_unary<N, kInc>, h_unary<N, kDec>, h_unary<N, kNeg>,
                                      h_unary<N, kNot>};
  return table[u];
}

}  // namespace

uint64_t shift_value(CpuState& s, unsigned op, unsigned size, uint64_t a, uint64_t count_in) {
  unsigned bits = size * 8;
  uint64_t m = size_mask(size), sb = sign_bit(size);
  unsigned count = count_in & (size == 8 ? 63 : 31);
  a &= m;
  if (count == 0) return a;
  uint64_t f = compute_arith_flags(s);
  uint64_t r;
  auto set = [&](uint64_t flag, bool on) { f = on ? (f | flag) : (f & ~flag); };
  auto szp = [&](uint64_t v) {
    set(kFlagZf, v == 0);
    set(kFlagSf, v & sb);
    set(kFlagPf, !(__builtin_popcount(v & 0xff) & 1));
    f &= ~kFlagAf;
  };
  switch (op) {
    case kRol: {
      unsigned c = count % bits;
      r = c ? ((a << c) | (a >> (bits - c))) & m : a;
      set(kFlagCf, r & 1);
      set(kFlagOf, ((r & sb) != 0) != ((r & 1) != 0));
      break;
    }
    case kRor: {
      unsigned c = count % bits;
      r = c ? ((a >> c) | (a << (bits - c))) & m : a;
      set(kFlagCf, r & sb);
      set(kFlagOf, ((r & sb) != 0) != ((r & (sb >> 1)) != 0));
      break;
    }
    case kRcl:
    case kRcr: {
      unsigned c = count % (bits + 1);
      unsigned __int128 cf = (f & kFlagCf) ? 1 : 0;
      unsigned __int128 wide = static_cast<unsigned __int128>(a) | (cf << bits);  // bits+1 wide
      unsigned __int128 wmask = (static_cast<unsigned __int128>(1) << (bits + 1)) - 1;
      if (op == kRcr) c = (bits + 1 - c) % (bits + 1);
      if (c) wide = ((wide << c) | (wide >> (bits + 1 - c))) & wmask;
      r = static_cast<uint64_t>(wide) & m;
      bool new_cf = (wide >> bits) & 1;
      set(kFlagCf, new_cf);
      if (op == kRcl) {
        set(kFlagOf, ((r & sb) != 0) != new_cf);
      } else {
        set(kFlagOf, ((r & sb) != 0) != ((r & (sb >> 1)) != 0));
      }
      break;
    }
    case kShl:
    case kSal:
      r = count < bits ? (a << count) & m : 0;
      set(kFlagCf, count <= bits ? (a >> (bits - count)) & 1 : 0);
      set(kFlagOf, ((r & sb) != 0) != ((f & kFlagCf) != 0));
      szp(r);
      break;
    case kShr:
      r = count < bits ? a >> count : 0;
      set(kFlagCf, count <= bits ? (a >> (count - 1)) & 1 : 0);
      set(kFlagOf, a & sb);
      szp(r);
      break;
    default: {  // sar
      int64_t sa = sign_extend(a, size);
      unsigned c = count < bits ? count : bits - 1;
      r = static_cast<uint64_t>(sa >> c) & m;
      set(kFlagCf, (sa >> (c - (count < bits ? 1 : 0))) & 1);
      if (count >= bits) set(kFlagCf, sa < 0);
      set(kFlagOf, false);
      szp(r);
      break;
    }
  }
  write_arith_flags(s, f);
  return r;
}

Handler select_handler(const Op& op) {
  unsigned n = op.size;
  switch (op.kind) {
    case IrKind::kMovi:
      return h_movi;
    case IrKind::kMov:
      return h_mov;
    case IrKind::kGetReg:
      return op.cond ? h_getreg<1, true> : by_size<GetH>(n);
    case IrKind::kSetReg:
      return op.cond ? h_setreg<1, true> : by_size<SetH>(n);
    case IrKind::kAlu:
      return op.b == kImmOperand ? alu_sized<true>(n, op.cond) : alu_sized<false>(n, op.cond);
    case IrKind::kAluNoFlags:
      return op.b == kImmOperand ? nf_sized<true>(n, op.cond) : nf_sized<false>(n, op.cond);
    case IrKind::kMul:
      if (op.b == kImmOperand)
        return op.cond ? mul_sized<false, true>(n) : mul_sized<true, true>(n);
      return op.cond ? mul_sized<false, false>(n) : mul_sized<true, false>(n);
    case IrKind::kUnary:
      return n == 1   ? unary_handler<1>(op.cond)
             : n == 2 ? unary_handler<2>(op.cond)
             : n == 4 ? unary_handler<4>(op.cond)
                      : unary_handler<8>(op.cond);
    case IrKind::kShift: {
      bool imm = op.b == kImmOperand;
      if (op.cond == kShl || op.cond == kSal)
        return imm ? shift_lazy<kShl, true>(n) : shift_lazy<kShl, false>(n);
      if (op.cond == kShr) return imm ? shift_lazy<kShr, true>(n) : shift_lazy<kShr, false>(n);
      if (op.cond == kSar) return imm ? shift_lazy<kSar, true>(n) : shift_lazy<kSar, false>(n);
      return imm ? h_shift<true> : h_shift<false>;
    }
    case IrKind::kEa:
      return op.b ? h_ea<true> : h_ea<false>;
    case IrKind::kLoad:
      if (op.cond) return locked_load_handler(n);
      return (op.imm2 & kEaInline) ? by_size<LoadEaH>(n) : by_size<LoadH>(n);
    case IrKind::kStore:
      if (op.cond) return locked_store_handler(n);
      return (op.imm2 & kEaInline) ? by_size<StoreEaH>(n) : by_size<StoreH>(n);
    case IrKind::kProbeWrite:
      return h_probe_write;
    case IrKind::kExtend:
      return extend_handler(n, op.cond);
    case IrKind::kSetcc:
      return cond_handler<SetccH>(op.cond);
    case IrKind::kCmov:
      return cond_handler<CmovH>(op.cond);
    case IrKind::kHelper:
      return h_helper;
    case IrKind::kAluJcc:
    case IrKind::kJmp:
    case IrKind::kJcc:
    case IrKind::kJmpInd:
    case IrKind::kExit:
    case IrKind::kCheckIrq:
      break;
  }
  return control_handler(op);
}

}  // namespace corvid::tcg
