// Machine-wide record of which guest-physical pages hold translated code, and for which vCPUs.
// Each vCPU keeps its own block cache; this is what lets a store by one vCPU (or a device's DMA)
// reach the caches of the others: the writer's slow path calls notify_write, every other vCPU with
// blocks on the page gets the page queued for invalidation and a kick, and drops those blocks at
// its next block boundary (before it takes the IPI that Linux's text_poke sends to serialise).
// When a vCPU starts translating code on a page, the others are asked to send their stores to that
// page through the slow path from then on (QEMU's tlb_protect_code across CPUs).
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace corvid::tcg {

class Cpu;

class CodePages {
 public:
  void attach(Cpu* cpu);
  void detach(Cpu* cpu);
  // True when some vCPU holds blocks on the physical page (any thread).
  bool has_code(uint64_t ppage) const;
  // `cpu` translated its first block on ppage / dropped its last one there.
  void add(int cpu, uint64_t ppage);
  void remove(int cpu, uint64_t ppage);
  // [paddr, paddr + len) was written by vCPU `writer` (-1: a device). Every other vCPU with code
  // there is told to drop it; returns whether any was.
  bool notify_write(uint64_t paddr, uint64_t len, int writer);

 private:
  // One bit per vCPU index; indexes from 63 up share bit 63 (those are all told).
  static uint64_t bit(int cpu) { return 1ull << (cpu < 63 ? cpu : 63); }

  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, uint64_t> owners_;  // physical page -> vCPU bits
  std::vector<Cpu*> cpus_;
};

}  // namespace corvid::tcg
