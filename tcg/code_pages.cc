#include "tcg/code_pages.h"

#include <algorithm>

#include "tcg/cpu.h"

namespace corvid::tcg {

void CodePages::attach(Cpu* cpu) {
  std::lock_guard lock(mutex_);
  cpus_.push_back(cpu);
}

void CodePages::detach(Cpu* cpu) {
  std::lock_guard lock(mutex_);
  cpus_.erase(std::remove(cpus_.begin(), cpus_.end(), cpu), cpus_.end());
  for (auto it = owners_.begin(); it != owners_.end();) {
    // Only the bit of a vCPU alone on bit 63 can be cleared safely; others there keep theirs.
    if (cpu->index() < 63) it->second &= ~bit(cpu->index());
    it = it->second ? std::next(it) : owners_.erase(it);
  }
}

bool CodePages::has_code(uint64_t ppage) const {
  std::lock_guard lock(mutex_);
  return owners_.count(ppage) != 0;
}

void CodePages::add(int cpu, uint64_t ppage) {
  std::lock_guard lock(mutex_);
  uint64_t& bits = owners_[ppage];
  if (bits & bit(cpu)) return;
  bits |= bit(cpu);
  for (Cpu* other : cpus_) {
    if (other->index() != cpu) other->post_code_event(ppage, false);
  }
}

void CodePages::remove(int cpu, uint64_t ppage) {
  if (cpu >= 63) return;  // shared bit: cleared only when a write tells everyone
  std::lock_guard lock(mutex_);
  auto it = owners_.find(ppage);
  if (it == owners_.end()) return;
  it->second &= ~bit(cpu);
  if (!it->second) owners_.erase(it);
}

bool CodePages::notify_write(uint64_t paddr, uint64_t len, int writer) {
  if (len == 0) return false;
  bool any = false;
  std::lock_guard lock(mutex_);
  if (owners_.empty()) return false;
  for (uint64_t page = paddr & ~0xfffull; page < paddr + len; page += 4096) {
    auto it = owners_.find(page);
    if (it == owners_.end()) continue;
    uint64_t bits = it->second;
    if (writer >= 0 && writer < 63) bits &= ~bit(writer);
    if (!bits) continue;
    for (Cpu* c : cpus_) {
      if (c->index() != writer && (bits & bit(c->index()))) {
        c->post_code_event(page, true);
        any = true;
      }
    }
    // Their blocks are as good as gone: the page stops counting as code once the writer's own
    // bit (if any) is dropped too.
    it->second &= ~bits;
    if (!it->second) owners_.erase(it);
  }
  return any;
}

}  // namespace corvid::tcg
