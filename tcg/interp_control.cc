// The interpreter's block-ending handlers: direct and conditional jumps (also fused with the
// ALU op that sets their flags), indirect jumps through the jump cache, exits to the main loop,
// and the self-modifying-code tail. Straight-line handlers are in interp.cc.
#include <iterator>

#include "tcg/flags.h"
#include "tcg/interp.h"
#include "tcg/interp_dispatch.h"

namespace corvid::tcg {
namespace {

using namespace interp;

const Op* h_jmp(Cpu& cpu, const Op* op) {
  cpu.s_.rip = op->imm;
  if (const Op* next = chain(cpu, link_or_cached(cpu, op->link, op->imm))) return next;
  cpu.link_from_ = op;
  cpu.link_slot_ = 0;
  return nullptr;
}

// Per condition code like h_setcc (the out-of-line eval_condition with a jump table over the
// condition was ~3 % of a Linux boot).
template <unsigned Cond>
[[gnu::flatten]] const Op* h_jcc(Cpu& cpu, const Op* op) {
  bool taken = eval_condition(cpu.s_, Cond);
  uint64_t rip = taken ? op->imm : op->imm2;
  cpu.s_.rip = rip;
  if (const Op* next = chain(cpu, link_or_cached(cpu, taken ? op->link : op->link2, rip)))
    return next;
  cpu.link_from_ = op;
  cpu.link_slot_ = taken ? 0 : 1;
  return nullptr;
}

template <unsigned C>
struct JccH {
  static constexpr Handler fn = h_jcc<C>;
};

// The condition `cond` after `r = a <A> b` of N bytes (SDM Vol. 1 Appendix B), straight from the
// operands instead of through the lazy-flag state.
template <unsigned N, AluOp A>
inline bool alu_condition(uint64_t a, uint64_t b, uint64_t r, unsigned cond) {
  constexpr uint64_t sb = sign_bit(N);
  constexpr bool sub = A == kSub || A == kCmp;
  constexpr bool add = A == kAdd;
  bool res;
  switch (cond >> 1) {
    case 0:  // O
      res = sub ? ((a ^ b) & (a ^ r) & sb) : add ? (~(a ^ b) & (a ^ r) & sb) : false;
      break;
    case 1:  // B
      res = sub ? a < b : add ? r < a : false;
      break;
    case 2:  // E
      res = r == 0;
      break;
    case 3:  // BE
      res = sub ? a <= b : add ? (r < a || r == 0) : r == 0;
      break;
    case 4:  // S
      res = r & sb;
      break;
    case 5:  // P
      res = !(__builtin_popcount(r & 0xff) & 1);
      break;
    case 6:  // L
      if (sub) {
        res = sign_extend(a, N) < sign_extend(b, N);
      } else {
        bool of = add && (~(a ^ b) & (a ^ r) & sb);
        res = ((r & sb) != 0) != of;
      }
      break;
    default:  // LE
      if (sub) {
        res = sign_extend(a, N) <= sign_extend(b, N);
      } else {
        bool of = add && (~(a ^ b) & (a ^ r) & sb);
        res = r == 0 || (((r & sb) != 0) != of);
      }
      break;
  }
  return res ^ (cond & 1);
}

// kAluJcc: a flag-setting ALU op and the jcc that reads its flags, in one dispatch. The flags are
// still recorded (the successor block may read them).
template <unsigned N, AluOp A, bool Imm>
const Op* h_alu_jcc(Cpu& cpu, const Op* op) {
  CpuState& s = cpu.s_;
  constexpr uint64_t m = size_mask(N);
  uint64_t a = R(cpu, op->a) & m;
  uint64_t b =
      Imm ? (N == 8 ? static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(op->b)))
                    : op->b)
          : R(cpu, op->b);
  b &= m;
  uint64_t r;
  switch (A) {
    case kAdd:
      r = (a + b) & m;
      s.cc_op = make_cc_op(kCcAdd, N);
      break;
    case kSub:
    case kCmp:
      r = (a - b) & m;
      s.cc_op = make_cc_op(kCcSub, N);
      break;
    case kAnd:
    case kTest:
      r = a & b;
      s.cc_op = make_cc_op(kCcLogic, N);
      break;
    case kOr:
      r = a | b;
      s.cc_op = make_cc_op(kCcLogic, N);
      break;
    default:
      r = a ^ b;
      s.cc_op = make_cc_op(kCcLogic, N);
      break;
  }
  s.cc_dst = r;
  s.cc_src = b;
  if (A != kCmp && A != kTest) R(cpu, op->d) = r;
  bool taken = alu_condition<N, A>(a, b, r, op->cond);
  uint64_t rip = taken ? op->imm : op->imm2;
  s.rip = rip;
  if (const Op* next = chain(cpu, link_or_cached(cpu, taken ? op->link : op->link2, rip)))
    return next;
  cpu.link_from_ = op;
  cpu.link_slot_ = taken ? 0 : 1;
  return nullptr;
}

template <unsigned N, bool Imm>
Handler alu_jcc_handler(unsigned a) {
  switch (a) {
    case kAdd:
      return h_alu_jcc<N, kAdd, Imm>;
    case kOr:
      return h_alu_jcc<N, kOr, Imm>;
    case kAnd:
      return h_alu_jcc<N, kAnd, Imm>;
    case kSub:
      return h_alu_jcc<N, kSub, Imm>;
    case kXor:
      return h_alu_jcc<N, kXor, Imm>;
    case kCmp:
      return h_alu_jcc<N, kCmp, Imm>;
    default:
      return h_alu_jcc<N, kTest, Imm>;
  }
}

template <bool Imm>
Handler alu_jcc_sized(unsigned n, unsigned a) {
  return n == 1   ? alu_jcc_handler<1, Imm>(a)
         : n == 2 ? alu_jcc_handler<2, Imm>(a)
         : n == 4 ? alu_jcc_handler<4, Imm>(a)
                  : alu_jcc_handler<8, Imm>(a);
}

const Op* h_jmp_ind(Cpu& cpu, const Op* op) {
  uint64_t rip = R(cpu, op->a) & size_mask(op->size);
  cpu.s_.rip = rip;
  return chain(cpu, cached_block(cpu, rip));
}

const Op* h_exit(Cpu& cpu, const Op* op) {
  if (op->cond == 0) cpu.s_.rip = op->imm;
  return nullptr;
}

}  // namespace

const Op* smc_redirect(Cpu& cpu, const Op* op) {
  // The running block was invalidated by its own store: finish this instruction from a copy of
  // its remaining ops, then leave at the next instruction (which is re-translated).
  cpu.smc_hit_ = false;
  Block* b = cpu.cur_block_;
  const Op* end = b->ops.data() + b->ops.size();
  const Op* p = op + 1;
  unsigned n = 0;
  while (p < end && p->pc_off == op->pc_off && n + 1 < std::size(cpu.smc_tail_)) {
    cpu.smc_tail_[n++] = *p++;
  }
  uint32_t next_off = b->length;
  for (uint32_t off : b->insn_offsets) {
    if (off > op->pc_off) {
      next_off = off;
      break;
    }
  }
  Op exit_op;
  exit_op.fn = h_exit;
  exit_op.kind = IrKind::kExit;
  exit_op.pc_off = op->pc_off;
  exit_op.imm = static_cast<int64_t>(b->vaddr + next_off);
  cpu.smc_tail_[n] = exit_op;
  for (unsigned i = 0; i < n; ++i) {
    cpu.smc_tail_[i].link = cpu.smc_tail_[i].link2 = nullptr;
  }
  return cpu.smc_tail_;
}

Handler control_handler(const Op& op) {
  switch (op.kind) {
    case IrKind::kAluJcc:
      return (op.c & kAluJccImm) ? alu_jcc_sized<true>(op.size, op.c & 0xff)
                                 : alu_jcc_sized<false>(op.size, op.c & 0xff);
    case IrKind::kJmp:
      return h_jmp;
    case IrKind::kJcc:
      return cond_handler<JccH>(op.cond);
    case IrKind::kJmpInd:
      return h_jmp_ind;
    default:
      return h_exit;  // kExit, kCheckIrq
  }
}

}  // namespace corvid::tcg
