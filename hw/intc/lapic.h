// The local APIC in xAPIC mode, in userspace (SDM Vol. 3 Chapter 11): IRR/ISR/TMR, TPR/PPR
// priority, EOI, the timer (one-shot, periodic, TSC-deadline) and IPIs through the ICR.
// One per vCPU; the translator's vCPU asks it for interrupts at block boundaries.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>

#include "hw/core/io_bus.h"

namespace corvid::hw {

class Lapic : public IoHandler {
 public:
  static constexpr uint64_t kDefaultBase = 0xfee00000;
  enum class DeliveryMode : uint32_t {
    kFixed = 0,
    kLowest = 1,
    kSmi = 2,
    kNmi = 4,
    kInit = 5,
    kStartup = 6,
    kExtInt = 7
  };

  struct Hooks {
    std::function<uint64_t()> now_ns;  // the timer's clock (1 tick per ns)
    std::function<void()> kick;        // wake / interrupt the owning vCPU
    // An IPI written to the ICR: destination field, shorthand, mode, vector, logical mode.
    std::function<void(uint32_t dest, uint32_t shorthand, DeliveryMode mode, uint8_t vector,
                       bool logical)>
        ipi;
    std::function<void(uint8_t vector)> eoi;  // level-triggered EOI (IOAPIC remote IRR)
  };

  Lapic(uint32_t id, Hooks hooks);

  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

  // Accepts an interrupt for this CPU (from the IOAPIC, an MSI, an IPI or the timer).
  void accept(uint8_t vector, bool level);
  // True when a fixed interrupt beats the processor priority (also fires an expired timer).
  bool has_interrupt();
  // Moves the highest deliverable vector from IRR to ISR; -1 when none.
  int acknowledge();
  // Nanoseconds until the timer fires, or UINT64_MAX when it is not armed.
  uint64_t ns_until_timer();

  // The TPR as CR8 sees it (CR8 = TPR[7:4], SDM Vol. 3 §11.8.6).
  uint32_t tpr();
  void set_tpr(uint32_t v);
  uint32_t id() const { return id_; }
  bool matches_logical(uint32_t dest) const;
  uint64_t apic_base() const { return base_; }
  // IA32_APIC_BASE: clearing bit 11 disables the APIC globally (SDM Vol. 3 §11.4.3): its MMIO
  // page stops decoding, it accepts no interrupts, and its registers return to the power-up state.
  void set_apic_base(uint64_t v);
  bool enabled() const { return base_ & kGlobalEnable; }
  static constexpr uint64_t kGlobalEnable = 1u << 11;
  void set_tsc_deadline(uint64_t tsc_ns);
  uint64_t tsc_deadline() const { return tsc_deadline_; }
  // INIT/SIPI state for application processors.
  bool take_init() { return init_pending_.exchange(false); }
  int take_sipi() { return sipi_vector_.exchange(-1); }
  void post_init() { init_pending_ = true; }
  void post_sipi(uint8_t vector) { sipi_vector_ = vector; }
  bool startup_pending() const { return init_pending_ || sipi_vector_ >= 0; }

 private:
  void fire_timer_locked(uint64_t now);
  void reset_locked();
  uint32_t current_count_locked(uint64_t now) const;
  int highest(const uint32_t* bits) const;
  uint32_t ppr_locked() const;
  void set_bit(uint32_t* bits, uint8_t v) { bits[v >> 5] |= 1u << (v & 31); }
  void clear_bit(uint32_t* bits, uint8_t v) { bits[v >> 5] &= ~(1u << (v & 31)); }

  uint32_t id_;
  Hooks hooks_;
  std::mutex mutex_;
  std::atomic<bool> pending_{false};  // IRR may hold something deliverable
  uint64_t base_ = kDefaultBase | 0x800;
  uint32_t irr_[8] = {}, isr_[8] = {}, tmr_[8] = {};
  uint32_t tpr_ = 0, svr_ = 0xff, ldr_ = 0, dfr_ = 0xffffffff, esr_ = 0;
  uint32_t icr_lo_ = 0, icr_hi_ = 0;
  uint32_t lvt_[7] = {0x10000, 0x10000, 0x10000, 0x10000,
                      0x10000, 0x10000, 0x10000};  // cmci timer thermal perf lint0 lint1 error
  uint32_t initial_count_ = 0, divide_ = 0;
  uint64_t timer_start_ = 0, timer_deadline_ = 0;  // ns; deadline 0 = not armed
  uint64_t tsc_deadline_ = 0;
  std::atomic<bool> init_pending_{false};
  std::atomic<int> sipi_vector_{-1};
};

}  // namespace corvid::hw
