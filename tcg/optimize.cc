// IR passes over a translated block, before it first runs. They only remove or merge ops that
// cannot fault, so every op that can fault still runs with the guest state of its own instruction
// (precise exceptions), and the state at the block's end is unchanged.
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

bool is_temp(uint32_t off) {
  return off >= temp_offset(0) && off < temp_offset(kNumTemps);
}

// Producers whose result in d is the full 64-bit value (or, with size 4, already zero-extended
// from 32 bits, which is what a 32-bit register write stores).
bool writes_whole_d(const Op& o, unsigned size) {
  switch (o.kind) {
    case IrKind::kAlu:
      return o.cond != kCmp && o.cond != kTest && o.size == size;
    case IrKind::kUnary:
    case IrKind::kLoad:
    case IrKind::kMul:
      return o.size == size;
    case IrKind::kExtend:  // a zero extension from 1, 2 or 4 bytes fits a 32-bit write
      return size == 8 || (size == 4 && !o.cond);
    case IrKind::kShift:
    case IrKind::kAluNoFlags:
    case IrKind::kMovi:
    case IrKind::kSetcc:
    case IrKind::kCmov:
    case IrKind::kEa:
      return size == 8;
    default:
      return false;
  }
}

bool reads(const Op& o, uint32_t t) {
  return o.a == t || o.b == t || o.c == t || (o.kind == IrKind::kHelper && o.d == t);
}

// Whether o overwrites slot t (without reading it).
bool defines(const Op& o, uint32_t t) {
  if (o.d != t || reads(o, t)) return false;
  switch (o.kind) {
    case IrKind::kAlu:
      return o.cond != kCmp && o.cond != kTest;
    case IrKind::kMovi:
    case IrKind::kMov:
    case IrKind::kGetReg:
    case IrKind::kAluNoFlags:
    case IrKind::kUnary:
    case IrKind::kShift:
    case IrKind::kEa:
    case IrKind::kLoad:
    case IrKind::kExtend:
    case IrKind::kSetcc:
    case IrKind::kCmov:
    case IrKind::kMul:
      return true;
    default:
      return false;
  }
}

// Whether temp t (defined by ops[i]) is read after ops[i], other than by ops[except].
bool read_later(const std::vector<Op>& ops, size_t i, uint32_t t, size_t except) {
  for (size_t j = i + 1; j < ops.size(); ++j) {
    if (j != except && reads(ops[j], t)) return true;
    if (defines(ops[j], t)) return false;
  }
  return false;
}

// "op t = ...; mov reg, t" becomes "op reg = ..." when nothing reads t afterwards: one handler
// call fewer for most register-writing instructions. The producer is the op just before, so no
// op that could fault moves past the register write and exceptions stay precise.
void fold_register_moves(std::vector<Op>& ops) {
  std::vector<Op> out;
  out.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& m = ops[i];
    bool is_move = (m.kind == IrKind::kMov && m.size == 8) ||
                   (m.kind == IrKind::kSetReg && m.size == 4 && !m.cond);
    if (is_move && !out.empty() && is_temp(m.a) && !is_temp(m.d) && out.back().d == m.a &&
        out.back().pc_off == m.pc_off && writes_whole_d(out.back(), m.size) &&
        !read_later(ops, i, m.a, ops.size())) {
      out.back().d = m.d;
      continue;
    }
    out.push_back(m);
  }
  ops.swap(out);
}

bool takes_immediate(const Op& o) {
  switch (o.kind) {
    case IrKind::kAlu:
    case IrKind::kShift:
    case IrKind::kMul:
      return true;
    case IrKind::kAluNoFlags:
      return o.cond != kAdc && o.cond != kSbb && o.cond != kCmp && o.cond != kTest;
    default:
      return false;
  }
}

// "movi t = imm; op d = a, t" becomes "op d = a, imm" (kImmOperand) when t has no other reader.
void fold_immediates(std::vector<Op>& ops) {
  std::vector<bool> dead(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& m = ops[i];
    if (m.kind != IrKind::kMovi || !is_temp(m.d)) continue;
    size_t user = ops.size();
    for (size_t j = i + 1; j < ops.size(); ++j) {
      if (reads(ops[j], m.d)) {
        user = j;
        break;
      }
      if (defines(ops[j], m.d)) break;
    }
    if (user == ops.size()) continue;
    Op& u = ops[user];
    if (!takes_immediate(u) || u.b != m.d || u.a == m.d || u.d == m.d ||
        u.pc_off != m.pc_off || read_later(ops, i, m.d, user))
      continue;
    u.b = kImmOperand;
    u.imm = m.imm;
    dead[i] = true;
  }
  std::vector<Op> out;
  out.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!dead[i]) out.push_back(ops[i]);
  }
  ops.swap(out);
}

// Ops that cannot fault, write all 64 bits of d and read their first operand only through its
// low `size` bytes.
bool pure_register_op(const Op& o) {
  switch (o.kind) {
    case IrKind::kAlu:
      return o.cond != kCmp && o.cond != kTest;
    case IrKind::kAluNoFlags:
    case IrKind::kShift:
    case IrKind::kMul:
    case IrKind::kUnary:
      return true;
    default:
      return false;
  }
}

// "mov r1, r2; op r1 = r1, x" becomes "op r1 = r2, x" (the copy feeding a two-operand
// instruction). Neither op can fault, so no exception can observe the skipped intermediate r1.
void propagate_copies(std::vector<Op>& ops) {
  std::vector<Op> out;
  out.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& m = ops[i];
    unsigned width = m.kind == IrKind::kMov                             ? 8
                     : m.kind == IrKind::kSetReg && !m.cond && m.size == 4 ? 4
                                                                           : 0;
    if (width && i + 1 < ops.size() && !is_temp(m.d)) {
      Op& n = ops[i + 1];
      if (pure_register_op(n) && n.d == m.d && n.a == m.d && n.b != m.d && n.size <= width &&
          m.a != m.d) {
        n.a = m.a;
        continue;
      }
    }
    out.push_back(m);
  }
  ops.swap(out);
}

// "ea t = a + (c << s) + disp; load/store [t]" becomes a load/store that computes the address
// itself (kEaInline), for 64-bit addresses without a segment base, when every reader of t is
// such a load or store and nothing between rewrites a or c.
void inline_addresses(std::vector<Op>& ops) {
  std::vector<bool> dead(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& e = ops[i];
    if (e.kind != IrKind::kEa || e.b != 0 || e.size != 8 || !is_temp(e.d)) continue;
    std::vector<size_t> users;
    bool ok = true;
    for (size_t j = i + 1; j < ops.size() && ok; ++j) {
      const Op& o = ops[j];
      if (reads(o, e.d)) {
        ok = (o.kind == IrKind::kLoad || o.kind == IrKind::kStore) && o.cond == 0 && o.a == e.d &&
             o.b != e.d && o.c != e.d && o.imm2 == 0;
        users.push_back(j);
      }
      if (defines(o, e.d)) break;
      if (o.kind == IrKind::kHelper || (o.kind != IrKind::kStore && (o.d == e.a || o.d == e.c))) {
        // a or c may change: only the readers seen so far could take the address inline.
        for (size_t k = j + 1; k < ops.size() && ok; ++k) {
          if (reads(ops[k], e.d)) ok = false;
          if (defines(ops[k], e.d)) break;
        }
        break;
      }
    }
    if (!ok || users.empty()) continue;
    for (size_t j : users) {
      Op& u = ops[j];
      u.a = e.a;
      u.c = e.c;
      u.imm = e.imm;
      u.imm2 = e.imm2 | kEaInline;
    }
    dead[i] = true;
  }
  std::vector<Op> out;
  out.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!dead[i]) out.push_back(ops[i]);
  }
  ops.swap(out);
}

// Lazy flags written by an op and overwritten by a later op before anything reads them are dead:
// that op becomes its flagless form (or disappears, for cmp/test). Flags are live at the block's
// end and at every op that may fault or call out (exception frames and helpers see RFLAGS).
void drop_dead_flags(std::vector<Op>& ops) {
  bool live = true;
  std::vector<bool> dead(ops.size());
  for (size_t i = ops.size(); i-- > 0;) {
    Op& o = ops[i];
    switch (o.kind) {
      case IrKind::kMovi:
      case IrKind::kMov:
      case IrKind::kGetReg:
      case IrKind::kSetReg:
      case IrKind::kEa:
      case IrKind::kExtend:
      case IrKind::kAluNoFlags:
        break;
      case IrKind::kAlu:
        if (o.cond == kAdc || o.cond == kSbb) {
          live = true;
        } else if (!live) {
          if (o.cond == kCmp || o.cond == kTest) {
            dead[i] = true;
          } else {
            o.kind = IrKind::kAluNoFlags;
          }
        } else {
          live = false;
        }
        break;
      case IrKind::kMul:
        if (!live) o.cond = 1;
        live = false;
        break;
      case IrKind::kShift: {
        if (o.b != kImmOperand) {
          live = true;
          break;
        }
        unsigned count = static_cast<uint64_t>(o.imm) & (o.size == 8 ? 63 : 31);
        if (count == 0) break;  // neither value nor flags change
        bool lazy = o.cond == kShl || o.cond == kSal || o.cond == kShr || o.cond == kSar;
        if (!lazy || count >= o.size * 8u) {
          live = true;  // rotates and oversized counts merge into the old flags
          break;
        }
        if (!live) {
          o.kind = IrKind::kAluNoFlags;
          o.cond = o.cond == kShr ? kShrNf : o.cond == kSar ? kSarNf : kShlNf;
          o.imm = count;
        }
        live = false;
        break;
      }
      case IrKind::kUnary:
        if (o.cond == kNot) break;
        if (!live) {
          o.kind = IrKind::kAluNoFlags;
          if (o.cond == kNeg) {
            o.cond = kSub;
            o.b = o.a;
            o.a = kZeroSlot;
          } else {
            o.cond = o.cond == kInc ? kAdd : kSub;
            o.b = kImmOperand;
            o.imm = 1;
          }
          break;  // no longer reads the old CF
        }
        live = o.cond != kNeg;  // inc/dec keep CF
        break;
      default:
        live = true;
        break;
    }
  }
  std::vector<Op> out;
  out.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!dead[i]) out.push_back(ops[i]);
  }
  ops.swap(out);
}

// "cmp/test/sub/... ; jcc" at the block's end becomes one kAluJcc op.
void fuse_branch(std::vector<Op>& ops) {
  size_t n = ops.size();
  if (n < 2 || ops[n - 1].kind != IrKind::kJcc || ops[n - 2].kind != IrKind::kAlu) return;
  const Op& a = ops[n - 2];
  const Op& j = ops[n - 1];
  if (a.cond == kAdc || a.cond == kSbb) return;
  uint32_t b = a.b, c = a.cond;
  if (a.b == kImmOperand) {
    uint64_t v = static_cast<uint64_t>(a.imm);
    bool fits = a.size == 8 ? static_cast<int64_t>(v) == static_cast<int32_t>(v) : v <= ~0u;
    if (!fits) return;
    b = static_cast<uint32_t>(v);
    c |= kAluJccImm;
  }
  Op f = j;
  f.kind = IrKind::kAluJcc;
  f.d = a.d;
  f.a = a.a;
  f.b = b;
  f.c = c;
  f.size = a.size;
  f.pc_off = a.pc_off;
  f.ilen = a.ilen;
  ops.pop_back();
  ops.back() = f;
}

}  // namespace

void optimize_block(Block& b) {
  std::vector<Op>& ops = b.ops;
  fold_register_moves(ops);
  fold_immediates(ops);
  propagate_copies(ops);
  inline_addresses(ops);
  drop_dead_flags(ops);
  fuse_branch(ops);
  for (Op& o : ops) o.fn = select_handler(o);
}

}  // namespace corvid::tcg
