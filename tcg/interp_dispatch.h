// The interpreter's shared dispatch pieces (internal to tcg/interp*.cc): guest-register access,
// the tail-called next op, block chaining and the jump cache, and per-condition handler tables.
#pragma once

#include <array>
#include <atomic>
#include <utility>

#include "tcg/cpu.h"

namespace corvid::tcg {

// The handler of a block-ending op (kJmp, kJcc, kAluJcc, kJmpInd, kExit, kCheckIrq; anything
// else exits to the main loop): tcg/interp_control.cc.
Handler control_handler(const Op& op);

namespace interp {

inline uint64_t& R(Cpu& cpu, uint32_t off) {
  return *reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(&cpu.s_) + off);
}

// Runs the next op of the block as a tail call: the compiler makes it one indirect jump per
// handler (better predicted than a single shared call site, and no call/return pair). Only
// straight-line ops do this, so even without tail-call optimisation the native stack grows by at
// most one block's ops; block-ending ops return to the loop in Cpu::execute_block.
inline const Op* next_op(Cpu& cpu, const Op* op) {
  ++op;
  return op->fn(cpu, op);
}

// The jump cache's block for `rip`, if it was translated for the running block's mode.
inline Block* cached_block(Cpu& cpu, uint64_t rip) {
  Block* b = cpu.jump_cache_[(rip ^ (rip >> 12)) & (kJumpCacheSize - 1)];
  return b && b->vaddr == rip && b->mode == cpu.cur_block_->mode ? b : nullptr;
}

// Follows a chained link when nothing asks the main loop to look (QEMU's goto_tb + the
// interrupt check at TB entry).
inline const Op* chain(Cpu& cpu, Block* target) {
  if (target && target->valid && cpu.exit_request_.load(std::memory_order_relaxed) == 0 &&
      cpu.budget_ > 0 && cpu.slice_ > 0) {
    --cpu.budget_;
    --cpu.slice_;
    ++cpu.stats_.blocks_executed;
    ++target->exec_count;
    cpu.cur_block_ = target;
    return target->ops.data();
  }
  return nullptr;
}

// A direct jump whose target is not linked (another page, or not translated when the link was
// made) still avoids the main loop when the jump cache knows the target: the cache is keyed by
// virtual address and dropped with the TLB, so it stays true to the current mapping.
inline Block* link_or_cached(Cpu& cpu, Block* link, uint64_t rip) {
  if (link && link->valid) return link;
  return cached_block(cpu, rip);
}

// Handler tables indexed by condition code: H<C>::fn for C = 0..15.
template <template <unsigned> class H, unsigned... C>
constexpr std::array<Handler, sizeof...(C)> cond_table(std::integer_sequence<unsigned, C...>) {
  return {H<C>::fn...};
}

template <template <unsigned> class H>
Handler cond_handler(unsigned cond) {
  static constexpr auto table = cond_table<H>(std::make_integer_sequence<unsigned, 16>{});
  return table[cond & 15];
}

}  // namespace interp
}  // namespace corvid::tcg
