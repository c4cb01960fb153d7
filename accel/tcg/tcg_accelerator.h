// The translator as an accelerator (corvid's own x86-64 system emulator, tcg/). It owns the
// userspace interrupt controllers and the PIT (hw/intc, hw/timer), registers them on the buses
// it is given, and is the machine's InterruptSink.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "accel/accelerator.h"
#include "hw/intc/ioapic.h"
#include "hw/intc/lapic.h"
#include "hw/intc/pic.h"
#include "hw/timer/pit.h"
#include "tcg/code_pages.h"

namespace corvid::accel {

class TcgVcpu;

class TcgAccelerator : public Accelerator, public hw::InterruptSink {
 public:
  explicit TcgAccelerator(const AccelOptions& options);
  ~TcgAccelerator() override;

  AccelKind kind() const override { return AccelKind::kTcg; }
  Result<> attach(const MachineBuses& buses) override;
  Result<std::unique_ptr<Vcpu>> create_vcpu(int index) override;
  hw::InterruptSink* interrupts() override { return this; }
  Result<> add_ioeventfd(hw::IoSpace, uint64_t, unsigned, int) override {
    return make_error(ENOTSUP, "tcg: ioeventfd is not needed (devices see writes on the bus)");
  }
  std::string describe() const override;

  // hw::InterruptSink
  void set_irq(uint32_t gsi, bool level) override;
  void signal_msi(uint64_t address, uint32_t data) override;

  // For the vCPUs.
  uint64_t now_ns() const;
  unsigned vcpu_count() const { return vcpu_count_; }
  const MachineBuses& buses() const { return buses_; }
  tcg::CodePages& code_pages() { return code_pages_; }
  hw::Pic& pic() { return pic_; }
  // Polls the PIT (raising IRQ0 when due); returns ns until its next expiry.
  uint64_t poll_timers() { return pit_.poll(); }
  void deliver(uint32_t dest, bool logical, uint8_t vector, bool level);
  // A LAPIC EOI of a level-triggered vector: the IOAPIC clears remote IRR for the pins on that
  // vector and re-delivers those whose line is still high (the EOI broadcast, SDM 11.8.5).
  void eoi(uint8_t vector) { ioapic_.eoi(vector); }
  void ipi(int from, uint32_t dest, uint32_t shorthand, hw::Lapic::DeliveryMode mode,
           uint8_t vector, bool logical);
  void vcpu_gone(TcgVcpu* v);

  // Parking: a vCPU that only INIT/SIPI can wake (waiting for SIPI, or HLT with IF=0) parks.
  // Once every vCPU is parked with no INIT/SIPI pending, nothing can run again (NMIs are not
  // modelled): the guest is done and every vCPU reports a halt. park() kicks them all then.
  void park();
  // Leaves the parked state when `wake` (run under the same lock as park's census, so a vCPU
  // that has taken its SIPI is never counted as parked) returns true.
  bool unpark_if(const std::function<bool()>& wake);
  void unpark();
  bool all_parked() const { return all_parked_; }

 private:
  void check_all_parked_locked();

  MachineBuses buses_{};
  // Declared before anything that could hold a vCPU: the vCPUs detach from it when they go.
  tcg::CodePages code_pages_;
  unsigned vcpu_count_;
  std::chrono::steady_clock::time_point start_;
  hw::Ioapic ioapic_;
  hw::Pic pic_;
  hw::Pit pit_;
  std::mutex vcpus_mutex_;
  std::vector<TcgVcpu*> vcpus_;
  int parked_ = 0;
  std::atomic<bool> all_parked_{false};
};

// ENOTSUP-free: the translator is always available.
Result<std::unique_ptr<Accelerator>> create_tcg_accelerator(const AccelOptions& options);

}  // namespace corvid::accel
