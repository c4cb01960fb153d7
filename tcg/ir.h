// corvid's translator IR: typed three-address ops over virtual registers. A virtual register is a
// byte offset into CpuState: guest registers and block temporaries share one address space, so a
// host code generator can map every operand to [base + offset] or a host register.
//
// Each op also carries the interpreter's handler, so executing a block is a chain of indirect
// calls with no central decode switch (Bochs-style handler chaining); a code generator would read
// `kind` and ignore `fn`.
#pragma once

#include <cstdint>
#include <vector>

namespace corvid::tcg {

class Cpu;
struct Op;
struct Block;

// Returns the next op to run, or nullptr to leave the block (CpuState.rip is then exact).
using Handler = const Op* (*)(Cpu& cpu, const Op* op);
// Complex instructions (cpuid, far transfers, string ops, ...) run as helpers the IR calls.
using HelperFn = void (*)(Cpu& cpu, const Op& op);

enum class IrKind : uint8_t {
  kMovi,        // d = imm
  kMov,         // d = a
  kGetReg,      // d = zext(gpr a [size, cond=1: high byte])
  kSetReg,      // gpr d = a with x86 merge rules (8/16 merge, 32 zero-extends)
  kAlu,         // d = a <cond:AluOp> b, lazy flags
  kAluNoFlags,  // d = a <cond:AluOp> b, flags untouched (address arithmetic)
  kUnary,       // d = <cond:UnaryOp> a with flags (inc/dec/neg/not)
  kShift,       // d = a <cond:ShiftOp> b, flags computed eagerly
  kEa,          // d = a + (c << imm2) + imm, truncated to the address size, plus segment base b
  kLoad,        // d = zext(mem[a]) of size
  kStore,       // mem[a] = b of size
  kProbeWrite,  // fault now if mem[a] of size is not writable (keeps RMW instructions precise)
  kExtend,      // d = cond ? sext(a from size) : zext(a from size)
  kSetcc,       // d = condition cond holds
  kCmov,        // d = condition cond holds ? b : a
  kHelper,      // calls helper imm with the op (operands in d/a/b/c)
  kJmp,         // leave or chain to the block at imm (same page only)
  kJcc,         // condition cond ? imm : imm2
  kJmpInd,      // rip = a, through the per-vCPU jump cache
  kExit,        // rip = imm, back to the main loop (mode may have changed)
  kCheckIrq,    // block entry: leave if an interrupt or stop request is pending
  // Produced by the passes of tcg/optimize.cc (never by the emitters):
  kMul,     // d = a * b signed (imul r, r/m[, imm]); cond=1: flags dead, skip them
  kAluJcc,  // kAlu (AluOp in c & 0xff) then jcc on its flags: cond, imm/imm2, link/link2 as kJcc.
            // c & kAluJccImm: the second operand is the 32-bit immediate in b (sign-extended
            // for size 8), else the slot b.
};

// kAlu, kAluNoFlags, kShift, kMul: b == kImmOperand means the second operand is op.imm (already
// truncated to the operand size, as a kMovi would have held it).
constexpr uint32_t kImmOperand = 0xffffffffu;
constexpr uint32_t kAluJccImm = 0x100;
// kLoad/kStore (not locked) with imm2 & kEaInline: the address is a + (c << (imm2 & 3)) + imm
// (64-bit addressing, no segment base), computed by the op itself instead of a separate kEa.
constexpr uint64_t kEaInline = 0x100;

// kShlNf/kShrNf/kSarNf: kAluNoFlags only (shifts whose flags nobody reads; count < 64).
enum AluOp : uint8_t {
  kAdd = 0, kOr, kAdc, kSbb, kAnd, kSub, kXor, kCmp, kTest, kShlNf, kShrNf, kSarNf
};
enum UnaryOp : uint8_t { kInc = 0, kDec, kNeg, kNot };
enum ShiftOp : uint8_t { kRol = 0, kRor, kRcl, kRcr, kShl, kShr, kSal, kSar };

struct Op {
  Handler fn = nullptr;
  IrKind kind = IrKind::kMovi;
  uint8_t ilen = 0;     // guest instruction length (helpers compute the next rip from it)
  uint8_t size = 8;     // operand size in bytes
  uint8_t cond = 0;     // sub-operation or condition code
  uint32_t pc_off = 0;  // guest instruction's offset from the block's first byte
  uint32_t d = 0, a = 0, b = 0, c = 0;  // CpuState offsets
  int64_t imm = 0;
  uint64_t imm2 = 0;
  mutable Block* link = nullptr;  // kJmp/kJcc: chained successor (imm / imm2 path)
  mutable Block* link2 = nullptr;
};

struct Block {
  uint64_t vaddr = 0;       // guest virtual address of the first byte
  uint64_t paddr = 0;       // guest physical address of the first byte
  uint64_t paddr2 = ~0ull;  // second physical page when the block straddles a page
  uint32_t mode = 0;        // mode bits that change decoding (see Cpu::mode_bits)
  uint32_t length = 0;      // guest bytes covered
  uint32_t insn_count = 0;
  bool valid = true;
  uint64_t exec_count = 0;  // times entered (the guest profile)
  std::vector<Op> ops;
  // pc_off of each instruction's first op, for precise self-modifying-code restarts.
  std::vector<uint32_t> insn_offsets;
};

}  // namespace corvid::tcg
