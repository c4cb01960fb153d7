// The translator as an accelerator (corvid's own x86-64 system emulator, tcg/). It owns the
// userspace interrupt controllers and the PIT (hw/intc, hw/timer), registers them on the buses
// it is given, and is the machine's InterruptSink.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "accel/accelerator.h"
#include "hw/intc/ioapic.h"
#include "hw/intc/lapic.h"
#include "hw/intc/pic.h"
#include "hw/timer/pit.h"

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
  const MachineBuses& buses() const { return buses_; }
  hw::Pic& pic() { return pic_; }
  // Polls the PIT (raising IRQ0 when due); returns ns until its next expiry.
  uint64_t poll_timers() { return pit_.poll(); }
  void deliver(uint32_t dest, bool logical, uint8_t vector, bool level);
  void ipi(int from, uint32_t dest, uint32_t shorthand, hw::Lapic::DeliveryMode mode,
           uint8_t vector, bool logical);
  void vcpu_gone(TcgVcpu* v);

 private:
  MachineBuses buses_{};
  std::chrono::steady_clock::time_point start_;
  hw::Ioapic ioapic_;
  hw::Pic pic_;
  hw::Pit pit_;
  std::mutex vcpus_mutex_;
  std::vector<TcgVcpu*> vcpus_;
};

// ENOTSUP-free: the translator is always available.
Result<std::unique_ptr<Accelerator>> create_tcg_accelerator(const AccelOptions& options);

}  // namespace corvid::accel
