// The main loop: interrupts at block boundaries, block lookup (jump cache, then the physical
// block table, then the translator), chaining, and turning guest faults into exception delivery.
#include "tcg/cpu.h"

#include <x86intrin.h>

#include "base/log.h"
#include "tcg/code_pages.h"
#include "tcg/flags.h"
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

// Past this many blocks the whole cache is dropped (Bochs's policy): simple, and it bounds the
// memory that invalidated-but-possibly-linked blocks hold.
constexpr size_t kMaxBlocks = 1 << 16;

inline unsigned jc_hash(uint64_t rip) {
  return (rip ^ (rip >> 12)) & (kJumpCacheSize - 1);
}

}  // namespace

Cpu::Cpu(SystemBus& bus, InterruptController* intc, int index)
    : bus_(bus), intc_(intc), index_(index) {
  // Reset state for a flat 32-bit protected mode entry; loaders overwrite what they need.
  for (auto& seg : s_.seg) seg = Segment{0, 0xffffffff, 0xc093, 0};
  s_.seg[kCs].attr = 0xc09b;
  s_.tr.attr = 0x8b;
  s_.ldtr.attr = 0x82;
  s_.cr0 = kCr0Pe | kCr0Et;
  flush_tlb();
}

Cpu::~Cpu() {
  if (code_pages_) code_pages_->detach(this);
}

void Cpu::set_code_pages(CodePages* pages) {
  if (code_pages_) code_pages_->detach(this);
  code_pages_ = pages;
  if (pages) pages->attach(this);
}

void Cpu::post_code_event(uint64_t ppage, bool invalidate) {
  {
    std::lock_guard lock(events_mutex_);
    events_.push_back(ppage | (invalidate ? 1 : 0));
  }
  has_events_.store(true, std::memory_order_release);
  kick();
}

void Cpu::process_code_events() {
  std::vector<uint64_t> events;
  {
    std::lock_guard lock(events_mutex_);
    events.swap(events_);
    has_events_.store(false, std::memory_order_relaxed);
  }
  for (uint64_t ev : events) {
    if (ev & 1)
      invalidate_code_page(ev & ~0xfffull);
    else
      protect_code_page(ev);
  }
}

void Cpu::code_page_written(uint64_t ppage) {
  invalidate_code_page(ppage);
  if (code_pages_) {
    code_pages_->notify_write(ppage, 4096, index_);
    // Now nobody holds code there (unless a vCPU translated some in between): plain stores.
    if (!code_pages_->has_code(ppage)) {
      for (auto& t : tlb_) {
        for (auto& e : t) {
          if (e.paddr == ppage) e.write &= ~kTlbNotDirty;
        }
      }
    }
  }
}

uint32_t Cpu::mode_bits() const {
  uint32_t m = s_.cpl;
  if (code64(s_)) m |= 1 << 2;
  if (s_.seg[kCs].attr & kSegAttrDb) m |= 1 << 3;
  if (s_.seg[kSs].attr & kSegAttrDb) m |= 1 << 4;
  if (s_.cr0 & kCr0Pe) m |= 1 << 5;
  if (long_mode_active(s_)) m |= 1 << 6;
  return m;
}

void Cpu::state_changed() {
  if (long_mode_active(s_) && !(s_.cr0 & kCr0Pg)) s_.efer &= ~kEferLma;
  set_cpl(s_.cpl);
  flush_tlb();
}

void Cpu::set_cpl(unsigned cpl) {
  s_.cpl = cpl;
  mmu_index_ = cpl == 3 ? 1 : 0;
}

void Cpu::raise(uint8_t vector, uint32_t error_code, const Op* op) {
  if (op && cur_block_) s_.rip = rip_of(op);
  throw GuestFault{vector, true, error_code};
}

void Cpu::raise_no_error(uint8_t vector, const Op* op) {
  if (op && cur_block_) s_.rip = rip_of(op);
  throw GuestFault{vector, false, 0};
}

void Cpu::collect_profile() {
  for (auto& b : all_blocks_) {
    if (b->exec_count) profile_[b->vaddr] += b->exec_count * b->insn_count;
    b->exec_count = 0;
  }
}

std::unordered_map<uint64_t, uint64_t> Cpu::profile() {
  collect_profile();
  return profile_;
}

void Cpu::flush_code() {
  collect_profile();
  if (code_pages_) {
    for (const auto& [page, list] : page_blocks_) code_pages_->remove(index_, page);
  }
  for (auto& b : all_blocks_) b->valid = false;
  blocks_.clear();
  page_blocks_.clear();
  all_blocks_.clear();
  // Refilled entries ask again whether their page holds code (maybe another vCPU's).
  flush_tlb();
  link_from_ = nullptr;
  prev_block_ = nullptr;
}

void Cpu::protect_code_page(uint64_t ppage) {
  // Writes through any mapping of this physical page must now take the slow path.
  for (auto& t : tlb_) {
    for (auto& e : t) {
      if (e.paddr == ppage && !(e.write & kTlbInvalid)) e.write |= kTlbNotDirty;
    }
  }
}

void Cpu::invalidate_code_page(uint64_t ppage) {
  auto it = page_blocks_.find(ppage);
  if (it != page_blocks_.end()) {
    for (Block* b : it->second) {
      if (!b->valid) continue;
      b->valid = false;
      ++stats_.smc_invalidations;
      auto bi = blocks_.find(b->paddr ^ (static_cast<uint64_t>(b->mode) << 52));
      if (bi != blocks_.end() && bi->second == b) blocks_.erase(bi);
      if (b == cur_block_) smc_hit_ = true;
    }
    page_blocks_.erase(it);
    if (code_pages_) code_pages_->remove(index_, ppage);
  }
  // Stores may go fast again unless another vCPU still has code here.
  if (code_pages_ && code_pages_->has_code(ppage)) return;
  for (auto& t : tlb_) {
    for (auto& e : t) {
      if (e.paddr == ppage) e.write &= ~kTlbNotDirty;
    }
  }
}

Block* Cpu::find_block() {
  uint64_t rip = s_.rip;
  uint32_t mode = mode_bits();
  Block*& jc = jump_cache_[jc_hash(rip)];
  if (jc && jc->valid && jc->vaddr == rip && jc->mode == mode) return jc;

  uint64_t linear = code64(s_) ? rip : (s_.seg[kCs].base + rip) & 0xffffffffull;
  TlbEntry* e = &tlb_[mmu_index_][(linear >> 12) & (kTlbSize - 1)];
  if (e->code != (linear & ~0xfffull)) e = &tlb_fill(linear, Access::kExec, false, nullptr);
  if (e->code & kTlbMmio) {
    throw GuestFault{kGp, true, 0};  // executing from MMIO is not supported
  }
  uint64_t paddr = e->paddr | (linear & 0xfff);
  uint64_t key = paddr ^ (static_cast<uint64_t>(mode) << 52);
  auto it = blocks_.find(key);
  Block* b = nullptr;
  if (it != blocks_.end() && it->second->valid && it->second->vaddr == rip) {
    b = it->second;
    // A block straddling two pages is only reusable while the second page maps the same.
    if (b->paddr2 != ~0ull &&
        (translate((linear | 0xfff) + 1, Access::kExec, false, nullptr) & ~0xfffull) != b->paddr2) {
      b = nullptr;
    }
  }
  if (!b) {
    if (all_blocks_.size() >= kMaxBlocks) flush_code();
    b = translate_block(*this, rip, paddr, mode);
    ++stats_.blocks_translated;
    all_blocks_.emplace_back(b);
    blocks_[key] = b;
    for (uint64_t page : {static_cast<uint64_t>(paddr & ~0xfffull), b->paddr2}) {
      if (page == ~0ull) continue;
      auto& list = page_blocks_[page];
      if (list.empty()) {
        protect_code_page(page);
        if (code_pages_) code_pages_->add(index_, page);
      }
      list.push_back(b);
    }
  }
  jc = b;
  return b;
}

void Cpu::inject_interrupt(uint8_t vector) {
  deliver(vector, false, 0, false, s_.rip);
}

void Cpu::check_interrupts(bool kicked) {
  // The shadowed instruction already retired: sti/mov ss end their block one instruction later.
  s_.interrupt_shadow = 0;
  // NMI beats maskable interrupts and ignores IF; it is held while a previous NMI's handler has
  // not yet executed IRET (SDM Vol. 3 §6.7.1, §6.9 priorities).
  if (!s_.nmi_blocked && nmi_pending_.load(std::memory_order_acquire)) {
    nmi_pending_.store(false, std::memory_order_relaxed);
    halted_ = false;
    link_from_ = nullptr;  // the handler is no successor of the block left last
    ++stats_.interrupts;
    deliver(kNmi, false, 0, false, s_.rip);
    s_.nmi_blocked = 1;
    return;
  }
  bool if_set = s_.rflags & kFlagIf;
  bool if_rose = if_set && !if_was_set_;
  if_was_set_ = if_set;
  if (!intc_ || !if_set) return;
  // Asking the interrupt controller takes locks and reads the clock. Whatever raises an interrupt
  // kicks this CPU (IPIs, device lines, LAPIC register writes); only timers expire silently, so
  // between kicks they are polled about every 50 us of host time, and whenever IF comes back on.
  uint64_t now = __rdtsc();
  if (!kicked && !if_rose && now < next_poll_) return;
  next_poll_ = now + kPollCycles;
  ++stats_.interrupt_polls;
  if (!intc_->has_interrupt()) return;
  int v = intc_->acknowledge();
  if (v < 0) return;
  halted_ = false;
  // The last block's exit must not be chained to the handler: that link would jump into the
  // handler without an interrupt frame every time the block runs again.
  link_from_ = nullptr;
  ++stats_.interrupts;
  deliver(static_cast<uint8_t>(v), false, 0, false, s_.rip);
}

void Cpu::handle_fault(uint8_t vector, bool has_error, uint32_t error, uint64_t rip) {
  ++stats_.exceptions;
  s_.rip = rip;
  try {
    deliver(vector, has_error, error, false, rip);
  } catch (const GuestFault& second) {
    // SDM Vol. 3 §6.15 Table 6-5: a contributory fault (#DE, #TS, #NP, #SS, #GP) while delivering
    // a contributory fault or #PF, or a #PF while delivering #PF, is a double fault; any other
    // pair (e.g. a #PF while delivering #NP) is handled serially. A fault while delivering #DF
    // shuts the CPU down.
    if (vector == kDf) {
      shutdown_ = true;
      return;
    }
    auto contributory = [](uint8_t v) {
      return v == kDe || v == kTs || v == kNp || v == kSsFault || v == kGp;
    };
    bool first_pf = vector == kPf;
    if (!(contributory(second.vector) && (contributory(vector) || first_pf)) &&
        !(first_pf && second.vector == kPf)) {
      handle_fault(second.vector, second.has_error, second.error, rip);
      return;
    }
    try {
      deliver(kDf, true, 0, false, rip);
    } catch (const GuestFault&) {
      shutdown_ = true;
    }
    (void)second;
  }
}

void Cpu::execute_block(Block* block) {
  cur_block_ = block;
  smc_hit_ = false;
  link_from_ = nullptr;
  ++stats_.blocks_executed;
  ++block->exec_count;
  const Op* op = block->ops.data();
  while (op) op = op->fn(*this, op);
}

CpuExit Cpu::run(uint64_t budget) {
  budget_ = budget;
  next_poll_ = 0;  // back from a halt or a stop: look at once
  for (;;) {
    if (stop_request_.exchange(false, std::memory_order_acq_rel)) {
      exit_request_.store(0, std::memory_order_relaxed);
      return {CpuExitReason::kStop, {}};
    }
    bool kicked = exit_request_.exchange(0, std::memory_order_acq_rel) != 0;
    if (has_events_.load(std::memory_order_acquire)) process_code_events();
    if (shutdown_) {
      shutdown_ = false;
      return {CpuExitReason::kShutdown, "triple fault"};
    }
    try {
      check_interrupts(kicked);
    } catch (const GuestFault& f) {
      link_from_ = nullptr;
      handle_fault(f.vector, f.has_error, f.error, s_.rip);
      continue;
    }
    if (halted_) return {CpuExitReason::kHalt, {}};
    if (budget_ == 0) return {CpuExitReason::kBudget, {}};
    --budget_;
    ++stats_.main_loops;
    slice_ = 1024;
    uint64_t rip = s_.rip;
    cur_block_ = nullptr;
    try {
      Block* b = find_block();
      // Chain the block we just left to this one when both lie on the same guest page.
      if (prev_block_ && prev_block_->valid && link_from_ && b->paddr2 == ~0ull &&
          prev_block_->paddr2 == ~0ull && ((prev_block_->vaddr ^ b->vaddr) & ~0xfffull) == 0) {
        if (link_slot_ == 0)
          link_from_->link = b;
        else
          link_from_->link2 = b;
      }
      link_from_ = nullptr;
      execute_block(b);
      prev_block_ = cur_block_;
    } catch (const GuestFault& f) {
      prev_block_ = nullptr;
      link_from_ = nullptr;
      if (!cur_block_) s_.rip = rip;
      handle_fault(f.vector, f.has_error, f.error, s_.rip);
    }
  }
}

}  // namespace corvid::tcg
