// The translator's vCPU: a tcg::Cpu wired to the machine's buses and to its own userspace LAPIC.
// HLT with interrupts enabled sleeps on a condition variable until the LAPIC (or PIC) has
// something, the next timer deadline passes, or a stop is requested.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "accel/accelerator.h"
#include "hw/intc/lapic.h"
#include "tcg/cpu.h"

namespace corvid::accel {

class TcgAccelerator;

class TcgVcpu : public Vcpu, public tcg::SystemBus, public tcg::InterruptController {
 public:
  TcgVcpu(TcgAccelerator* accel, int index);
  ~TcgVcpu() override;

  int index() const override { return index_; }
  Result<> set_boot_state(const BootState& state) override;
  VcpuExit run() override;
  void request_stop() override;

  hw::Lapic& lapic() { return *lapic_; }
  void kick();
  // An NMI for this CPU (LAPIC NMI delivery mode); dropped while the LAPIC is disabled, and one
  // that arrived in wait-for-SIPI is dropped at SIPI (SDM Vol. 3 §8.4.1).
  void post_nmi();
  const tcg::Statistics& stats() const { return cpu_->stats(); }

  // tcg::SystemBus
  uint8_t* ram_page(uint64_t gpa) override;
  uint64_t mmio_read(uint64_t gpa, unsigned size) override;
  void mmio_write(uint64_t gpa, unsigned size, uint64_t value) override;
  uint64_t pio_read(uint16_t port, unsigned size) override;
  void pio_write(uint16_t port, unsigned size, uint64_t value) override;
  uint64_t tsc() override;
  uint64_t tsc_hz() override { return 1000000000; }
  unsigned cpu_count() override;

  // tcg::InterruptController
  bool has_interrupt() override;
  int acknowledge() override;
  uint64_t apic_base() override { return lapic_->apic_base(); }
  void set_apic_base(uint64_t v) override { lapic_->set_apic_base(v); }
  void set_tsc_deadline(uint64_t v) override { lapic_->set_tsc_deadline(v); }
  uint64_t tsc_deadline() override { return lapic_->tsc_deadline(); }
  int tpr() override { return lapic_->enabled() ? static_cast<int>(lapic_->tpr()) : -1; }
  void set_tpr(uint8_t v) override {
    if (lapic_->enabled()) lapic_->set_tpr(v);
  }

 private:
  void write_profile(const std::string& prefix);
  bool wait_for_wakeup();  // false when a stop was requested
  // Parked (see TcgAccelerator::park): waiting for SIPI, or halted with IF=0 until INIT.
  enum class Unparked { kStarted, kInit, kNmi, kStop, kAllParked };
  Unparked wait_parked(bool for_sipi);
  void reset_to_sipi(uint8_t vector);

  TcgAccelerator* accel_;
  int index_;
  std::unique_ptr<hw::Lapic> lapic_;
  std::unique_ptr<tcg::Cpu> cpu_;
  bool started_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
};

}  // namespace corvid::accel
