#include "hw/intc/lapic.h"

namespace corvid::hw {
namespace {

// Register offsets (SDM Vol. 3 Table 11-1).
constexpr uint64_t kId = 0x20, kVersion = 0x30, kTpr = 0x80, kPpr = 0xa0, kEoi = 0xb0, kLdr = 0xd0,
                   kDfr = 0xe0, kSvr = 0xf0, kIsr = 0x100, kTmr = 0x180, kIrr = 0x200, kEsr = 0x280,
                   kLvtCmci = 0x2f0, kIcrLo = 0x300, kIcrHi = 0x310, kLvtTimer = 0x320,
                   kLvtError = 0x370, kInitialCount = 0x380, kCurrentCount = 0x390, kDivide = 0x3e0;
constexpr uint32_t kMasked = 1u << 16;
constexpr int kTimerLvt = 1;

int lvt_index(uint64_t off) {
  if (off == kLvtCmci) return 0;
  if (off >= kLvtTimer && off <= kLvtError) return 1 + static_cast<int>((off - kLvtTimer) / 0x10);
  return -1;
}

}  // namespace

Lapic::Lapic(uint32_t id, Hooks hooks) : id_(id), hooks_(std::move(hooks)) {
  if (id == 0) base_ |= 0x100;  // BSP
}

int Lapic::highest(const uint32_t* bits) const {
  for (int i = 7; i >= 0; --i) {
    if (bits[i]) return i * 32 + 31 - __builtin_clz(bits[i]);
  }
  return -1;
}

uint32_t Lapic::ppr_locked() const {
  int isr = highest(isr_);
  uint32_t isrv = isr < 0 ? 0 : static_cast<uint32_t>(isr) & 0xf0;
  return (tpr_ & 0xf0) >= isrv ? tpr_ : isrv;
}

bool Lapic::matches_logical(uint32_t dest) const {
  uint32_t ldr = ldr_ >> 24;
  if ((dfr_ >> 28) == 0xf) return (ldr & dest) != 0;         // flat model
  return ((ldr >> 4) == (dest >> 4)) && (ldr & dest & 0xf);  // cluster model
}

uint32_t Lapic::tpr() {
  std::lock_guard lock(mutex_);
  return tpr_;
}

void Lapic::set_tpr(uint32_t v) {
  {
    std::lock_guard lock(mutex_);
    tpr_ = v & 0xff;
    pending_ = true;
  }
  if (hooks_.kick) hooks_.kick();  // a lower TPR may unmask a pending interrupt
}

void Lapic::set_apic_base(uint64_t v) {
  std::lock_guard lock(mutex_);
  bool was_enabled = enabled();
  base_ = (v & ~0x6ffull) | (id_ == 0 ? 0x100 : 0);
  if (was_enabled && !enabled()) reset_locked();
}

void Lapic::reset_locked() {
  for (int i = 0; i < 8; ++i) irr_[i] = isr_[i] = tmr_[i] = 0;
  tpr_ = 0;
  svr_ = 0xff;
  ldr_ = 0;
  dfr_ = 0xffffffff;
  esr_ = 0;
  icr_lo_ = icr_hi_ = 0;
  for (auto& l : lvt_) l = kMasked;
  initial_count_ = divide_ = 0;
  timer_start_ = timer_deadline_ = 0;
  pending_ = false;
}

void Lapic::accept(uint8_t vector, bool level) {
  {
    std::lock_guard lock(mutex_);
    if (!enabled() || !(svr_ & 0x100)) return;  // a disabled APIC drops fixed interrupts
    set_bit(irr_, vector);
    if (level)
      set_bit(tmr_, vector);
    else
      clear_bit(tmr_, vector);
    pending_ = true;
  }
  if (hooks_.kick) hooks_.kick();
}

uint32_t Lapic::current_count_locked(uint64_t now) const {
  if (!timer_deadline_ || initial_count_ == 0) return 0;
  uint64_t shift = ((divide_ & 3) | ((divide_ >> 1) & 4)) + 1;
  uint64_t period = static_cast<uint64_t>(initial_count_) << (shift & 7);
  uint64_t elapsed = now - timer_start_;
  if (elapsed >= period) return 0;
  return static_cast<uint32_t>((period - elapsed) >> (shift & 7));
}

void Lapic::fire_timer_locked(uint64_t now) {
  uint32_t lvt = lvt_[kTimerLvt];
  uint32_t mode = (lvt >> 17) & 3;
  if (!(lvt & kMasked) && (svr_ & 0x100)) {
    set_bit(irr_, static_cast<uint8_t>(lvt & 0xff));
    clear_bit(tmr_, static_cast<uint8_t>(lvt & 0xff));
    pending_ = true;
  }
  if (mode == 1 && initial_count_) {
    // Periodic: re-arm from the ideal expiry so the rate does not drift.
    uint64_t shift = ((divide_ & 3) | ((divide_ >> 1) & 4)) + 1;
    uint64_t period = static_cast<uint64_t>(initial_count_) << (shift & 7);
    timer_start_ = timer_deadline_;
    timer_deadline_ += period;
    if (timer_deadline_ <= now) {
      timer_start_ = now;
      timer_deadline_ = now + period;
    }
  } else {
    timer_deadline_ = 0;
  }
}

bool Lapic::has_interrupt() {
  uint64_t now = hooks_.now_ns ? hooks_.now_ns() : 0;
  std::lock_guard lock(mutex_);
  if (!enabled()) return false;
  if (timer_deadline_ && now >= timer_deadline_) fire_timer_locked(now);
  if (!pending_) return false;
  int irr = highest(irr_);
  if (irr < 0) {
    pending_ = false;
    return false;
  }
  return (static_cast<uint32_t>(irr) & 0xf0) > (ppr_locked() & 0xf0);
}

int Lapic::acknowledge() {
  std::lock_guard lock(mutex_);
  int irr = highest(irr_);
  if (irr < 0 || (static_cast<uint32_t>(irr) & 0xf0) <= (ppr_locked() & 0xf0)) return -1;
  clear_bit(irr_, static_cast<uint8_t>(irr));
  set_bit(isr_, static_cast<uint8_t>(irr));
  return irr;
}

uint64_t Lapic::ns_until_timer() {
  uint64_t now = hooks_.now_ns ? hooks_.now_ns() : 0;
  std::lock_guard lock(mutex_);
  if (!timer_deadline_) return UINT64_MAX;
  return timer_deadline_ > now ? timer_deadline_ - now : 0;
}

void Lapic::set_tsc_deadline(uint64_t tsc_ns) {
  std::lock_guard lock(mutex_);
  tsc_deadline_ = tsc_ns;
  if (((lvt_[kTimerLvt] >> 17) & 3) == 2) timer_deadline_ = tsc_ns;
}

uint64_t Lapic::io_read(uint64_t off, unsigned size) {
  (void)size;
  uint64_t now = hooks_.now_ns ? hooks_.now_ns() : 0;
  std::lock_guard lock(mutex_);
  off &= 0xff0;
  if (off >= kIsr && off < kIsr + 0x80) return isr_[(off - kIsr) >> 4];
  if (off >= kTmr && off < kTmr + 0x80) return tmr_[(off - kTmr) >> 4];
  if (off >= kIrr && off < kIrr + 0x80) return irr_[(off - kIrr) >> 4];
  int lvt = lvt_index(off);
  if (lvt >= 0) return lvt_[lvt];
  switch (off) {
    case kId:
      return static_cast<uint64_t>(id_) << 24;
    case kVersion:
      return 0x00050014;  // version 0x14, 6 LVT entries (max LVT index 5)
    case kTpr:
      return tpr_;
    case kPpr:
      return ppr_locked();
    case kLdr:
      return ldr_;
    case kDfr:
      return dfr_;
    case kSvr:
      return svr_;
    case kEsr:
      return esr_;
    case kIcrLo:
      return icr_lo_ & ~(1u << 12);  // delivery status: always idle
    case kIcrHi:
      return icr_hi_;
    case kInitialCount:
      return initial_count_;
    case kCurrentCount:
      return current_count_locked(now);
    case kDivide:
      return divide_;
    default:
      return 0;
  }
}

void Lapic::io_write(uint64_t off, unsigned size, uint64_t value) {
  (void)size;
  uint32_t v = static_cast<uint32_t>(value);
  uint64_t now = hooks_.now_ns ? hooks_.now_ns() : 0;
  off &= 0xff0;
  std::unique_lock lock(mutex_);
  int lvt = lvt_index(off);
  if (lvt >= 0) {
    if (!(svr_ & 0x100)) v |= kMasked;
    lvt_[lvt] = v;
    if (lvt == kTimerLvt && ((v >> 17) & 3) == 2) timer_deadline_ = tsc_deadline_;
    return;
  }
  switch (off) {
    case kTpr:
      tpr_ = v & 0xff;
      pending_ = true;
      break;
    case kEoi: {
      int isr = highest(isr_);
      if (isr < 0) break;
      bool level = tmr_[isr >> 5] & (1u << (isr & 31));
      clear_bit(isr_, static_cast<uint8_t>(isr));
      pending_ = true;
      lock.unlock();
      if (level && hooks_.eoi) hooks_.eoi(static_cast<uint8_t>(isr));
      if (hooks_.kick) hooks_.kick();
      return;
    }
    case kLdr:
      ldr_ = v & 0xff000000u;
      break;
    case kDfr:
      dfr_ = v | 0x0fffffffu;
      break;
    case kSvr:
      svr_ = v & 0x3ff;
      if (!(svr_ & 0x100)) {
        for (auto& l : lvt_) l |= kMasked;
      }
      break;
    case kEsr:
      esr_ = 0;
      break;
    case kIcrHi:
      icr_hi_ = v;
      break;
    case kIcrLo: {
      icr_lo_ = v;
      uint32_t dest = icr_hi_ >> 24;
      auto mode = static_cast<DeliveryMode>((v >> 8) & 7);
      uint32_t shorthand = (v >> 18) & 3;
      bool logical = v & (1u << 11);
      bool level_deassert = mode == DeliveryMode::kInit && !(v & (1u << 14));
      lock.unlock();
      if (level_deassert) return;  // INIT level de-assert: no action on modern CPUs
      if (hooks_.ipi) hooks_.ipi(dest, shorthand, mode, static_cast<uint8_t>(v & 0xff), logical);
      return;
    }
    case kInitialCount:
      initial_count_ = v;
      if (((lvt_[kTimerLvt] >> 17) & 3) != 2) {
        uint64_t shift = ((divide_ & 3) | ((divide_ >> 1) & 4)) + 1;
        timer_start_ = now;
        timer_deadline_ = v ? now + (static_cast<uint64_t>(v) << (shift & 7)) : 0;
      }
      break;
    case kDivide:
      divide_ = v & 0xb;
      break;
    default:
      break;
  }
  lock.unlock();
  if (hooks_.kick) hooks_.kick();
}

}  // namespace corvid::hw
