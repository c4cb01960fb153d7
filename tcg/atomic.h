// Locked read-modify-write across vCPU threads (tcg/ internal). Every vCPU is a host thread, so
// a LOCK-prefixed instruction (and XCHG with memory) must be one atomic host operation on guest
// RAM, also with respect to the other vCPUs' plain stores: a spinlock released with `movb $0`
// while another CPU's failed `lock cmpxchg` writes the old value back would stay locked forever.
//
// Plain RAM within one page gets a host atomic (QEMU's approach: compare-and-swap on the host
// page). MMIO, pages holding translated code and page-crossing operands fall back to load +
// store, which is atomic only with respect to this vCPU.
#pragma once

#include <cstdint>

#include "tcg/cpu.h"

namespace corvid::tcg {

// Handlers for a locked instruction's memory load and store (kLoad/kStore with cond = 1). The
// store is a compare-and-swap against what the load saw; when another vCPU wrote in between,
// the instruction runs again from its start (the emitters order a locked instruction's memory
// store before its register writes, so nothing of it has been committed yet).
Handler locked_load_handler(unsigned size);
Handler locked_store_handler(unsigned size);

// Compare-and-exchange of 1, 2, 4 or 8 bytes at va: returns the old value and stores `desired`
// only when it equalled `expected`.
uint64_t atomic_cmpxchg(Cpu& cpu, uint64_t va, unsigned size, uint64_t expected, uint64_t desired,
                        const Op* op);
// cmpxchg8b/16b: `half` is 4 or 8. On success stores new_lo/new_hi; on failure loads lo/hi.
bool atomic_cmpxchg_double(Cpu& cpu, uint64_t va, unsigned half, uint64_t* lo, uint64_t* hi,
                           uint64_t new_lo, uint64_t new_hi, const Op* op);
// bts (1) / btr (2) / btc (3) of `mask` at va; returns the old value.
uint64_t atomic_bit_op(Cpu& cpu, uint64_t va, unsigned size, unsigned which, uint64_t mask,
                       const Op* op);

}  // namespace corvid::tcg
