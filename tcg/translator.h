// The translator's internals: one Emitter per guest instruction turns Zydis's decoded form into IR
// ops. Instruction families live in emit_*.cc, each exporting one `bool emit_<family>(Emitter&)`
// that returns false when the mnemonic is not its own.
#pragma once

#include <Zydis/Zydis.h>

#include <cstdint>

#include "tcg/cpu.h"
#include "tcg/flags.h"
#include "tcg/interp.h"

namespace corvid::tcg {

// Translates the block starting at the current CpuState.rip (already known to map to paddr).
// Raises guest faults (instruction fetch) like any access.
Block* translate_block(Cpu& cpu, uint64_t vaddr, uint64_t paddr, uint32_t mode);
// The IR passes (tcg/optimize.cc): folds moves, immediates and copies into their users, drops
// dead lazy flags and fuses a block-ending compare with its jcc. Reselects every handler.
void optimize_block(Block& block);

constexpr uint32_t kZeroSlot = temp_offset(kNumTemps - 1);  // always 0: "no base/index"

struct Emitter {
  Cpu& cpu;
  Block& block;
  const ZydisDecodedInstruction& in;
  const ZydisDecodedOperand* op;  // in.operand_count entries, visible ones first
  uint64_t pc = 0, next_pc = 0;
  uint32_t pc_off = 0;
  bool code64 = false;
  bool end_block = false;  // the instruction ended the block (jump, mode change, ...)
  int next_temp = 0;
  uint32_t mem_addr = 0;  // linear address temp of the memory operand, once computed
  bool has_mem_addr = false;
  // LOCK prefix, or XCHG with memory: the memory operand's load and store become atomic.
  bool locked = false;

  unsigned osize() const { return in.operand_width / 8; }
  unsigned asize() const { return in.address_width / 8; }
  unsigned stack_size() const { return code64 ? 8 : (cpu.s_.seg[kSs].attr & kSegAttrDb) ? 4 : 2; }
  unsigned opsize(int i) const { return op[i].size / 8; }

  uint32_t temp();
  void emit(Op o);
  uint32_t movi(uint64_t v);
  uint32_t get_gpr(int reg, unsigned size, bool hi = false);
  void set_gpr(int reg, uint32_t t, unsigned size, bool hi = false);
  // Memory operand -> linear address temp (segment base included).
  uint32_t ea(const ZydisDecodedOperand& m, bool with_segment = true);
  uint32_t seg_base_slot(ZydisRegister seg) const;
  // Loads operand i into a temp (zero-extended to 64 bits; immediates sign-extended then
  // masked to `size`), or stores a temp into it. size 0 means the operand's own size.
  uint32_t read(int i, unsigned size = 0);
  void write(int i, uint32_t t, unsigned size = 0);
  // Faults now (before any state changes) if operand i is memory that cannot be written.
  void probe_write(int i);
  uint32_t load(uint32_t addr, unsigned size);
  void store(uint32_t addr, uint32_t value, unsigned size);
  uint32_t alu(AluOp a, uint32_t x, uint32_t y, unsigned size);
  uint32_t alu_nf(AluOp a, uint32_t x, uint32_t y, unsigned size = 8);
  uint32_t extend(uint32_t x, unsigned from_size, bool sign);
  uint32_t copy(uint32_t x);
  // Stack helpers honouring the stack width.
  void push(uint32_t value, unsigned size);
  uint32_t pop_value(unsigned size);  // loads [rsp] without moving rsp
  void adjust_rsp(int64_t delta);
  uint32_t stack_addr(uint32_t rsp_temp);
  void helper(HelperFn fn, uint32_t d = 0, uint32_t a = 0, uint32_t b = 0, uint32_t c = 0,
              int64_t imm2 = 0);
  void jump(uint64_t target);
  void exit_to(uint64_t rip);  // leave the block at rip (after a state change)
  void exit_rip_set();         // leave the block; a helper already set rip
  bool is_mem(int i) const { return op[i].type == ZYDIS_OPERAND_TYPE_MEMORY; }
  bool is_reg(int i) const { return op[i].type == ZYDIS_OPERAND_TYPE_REGISTER; }
  bool is_imm(int i) const { return op[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE; }
};

// Maps a Zydis general-purpose register to (index 0..15, size, high byte). False if not a GPR.
bool gpr_of(ZydisRegister r, int* index, unsigned* size, bool* hi);
int xmm_of(ZydisRegister r);

bool emit_alu(Emitter& e);
bool emit_bits(Emitter& e);
bool emit_control(Emitter& e);
bool emit_string(Emitter& e);
bool emit_system(Emitter& e);
bool emit_sse2(Emitter& e);  // SSE/SSE2 float and SSE2 integer (tcg/emit_sse2_int.cc)
bool emit_sse(Emitter& e);
bool emit_sse_convert(Emitter& e);
bool emit_sse_state(Emitter& e);
bool emit_x87(Emitter& e);

inline uint64_t& slot(Cpu& cpu, uint32_t off) {
  return *reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(&cpu.s_) + off);
}

// Helpers shared between families.
void helper_raise_ud(Cpu& cpu, const Op& op);

}  // namespace corvid::tcg
