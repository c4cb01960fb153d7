// KvmVm (the Accelerator) and KvmVcpu: internal to accel/kvm.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "accel/accelerator.h"
#include "base/mapping.h"
#include "base/unique_fd.h"

namespace corvid::accel::kvm {

class KvmVm;

// Delivers device interrupts to the in-kernel irqchip.
class KvmInterrupts final : public hw::InterruptSink {
 public:
  explicit KvmInterrupts(int vm_fd) : vm_fd_(vm_fd) {}
  void set_irq(uint32_t gsi, bool level) override;
  void signal_msi(uint64_t address, uint32_t data) override;

 private:
  int vm_fd_;
};

class KvmVm final : public Accelerator {
 public:
  KvmVm(UniqueFd kvm, UniqueFd vm, int vcpus, int run_size, std::vector<kvm_cpuid_entry2> cpuid,
        std::vector<uint32_t> msr_index)
      : kvm_(std::move(kvm)),
        vm_(std::move(vm)),
        vcpus_(vcpus),
        run_size_(run_size),
        cpuid_(std::move(cpuid)),
        msr_index_(std::move(msr_index)),
        interrupts_(vm_.get()) {}

  AccelKind kind() const override { return AccelKind::kKvm; }
  Result<> attach(const MachineBuses& buses) override;
  Result<std::unique_ptr<Vcpu>> create_vcpu(int index) override;
  hw::InterruptSink* interrupts() override { return &interrupts_; }
  Result<> add_ioeventfd(hw::IoSpace space, uint64_t addr, unsigned size, int eventfd) override;
  Result<> remove_ioeventfd(hw::IoSpace space, uint64_t addr, unsigned size, int eventfd) override;
  Result<> add_irqfd(uint32_t gsi, int eventfd) override;
  std::string describe() const override;

  // Creates the in-kernel irqchip and PIT; called once by create_kvm_accelerator.
  Result<> setup_platform();

  const MachineBuses& buses() const { return buses_; }
  int vcpu_count() const { return vcpus_; }
  bool supports_msr(uint32_t index) const;

 private:
  UniqueFd kvm_, vm_;
  int vcpus_;
  int run_size_;
  std::vector<kvm_cpuid_entry2> cpuid_;
  std::vector<uint32_t> msr_index_;
  KvmInterrupts interrupts_;
  MachineBuses buses_{};
};

class KvmVcpu final : public Vcpu {
 public:
  KvmVcpu(KvmVm* vm, int index, UniqueFd fd, Mapping run)
      : vm_(vm), index_(index), fd_(std::move(fd)), run_map_(std::move(run)) {}

  int index() const override { return index_; }
  Result<> set_boot_state(const BootState& state) override;
  VcpuExit run() override;
  void request_stop() override;

  // Sets CPUID, MSRs and the FPU to their reset values; called once after creation.
  Result<> configure(std::vector<kvm_cpuid_entry2> cpuid);

 private:
  kvm_run* run_state() const { return reinterpret_cast<kvm_run*>(run_map_.data()); }
  void handle_io();
  void handle_mmio();
  Result<> set_msrs();
  void log_state(const char* why);

  KvmVm* vm_;
  int index_;
  UniqueFd fd_;
  Mapping run_map_;
  std::atomic<bool> stop_{false};
  // The thread inside run(), for request_stop()'s kick; guarded by kick_mutex_.
  std::mutex kick_mutex_;
  bool running_ = false;
  pthread_t thread_{};
};

}  // namespace corvid::accel::kvm
