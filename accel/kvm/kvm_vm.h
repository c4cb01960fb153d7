// KvmVm (the Accelerator) and KvmVcpu: internal to accel/kvm.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
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
  KvmVm(UniqueFd kvm, UniqueFd vm, int vcpus, int run_size)
      : kvm_(std::move(kvm)),
        vm_(std::move(vm)),
        vcpus_(vcpus),
        run_size_(run_size),
        interrupts_(vm_.get()) {}

  AccelKind kind() const override { return AccelKind::kKvm; }
  ~KvmVm() override;

  // Registers guest RAM on a helper thread: each memory slot waits for an SRCU grace period
  // (4-6 ms on nested hosts), which then overlaps with loading the kernel and creating the
  // vCPUs. Every vCPU waits for it (wait_for_memory) before it first enters the guest.
  Result<> attach(const MachineBuses& buses) override;
  Result<> wait_for_memory();
  Result<std::unique_ptr<Vcpu>> create_vcpu(int index) override;
  hw::InterruptSink* interrupts() override { return &interrupts_; }
  Result<> add_ioeventfd(hw::IoSpace space, uint64_t addr, unsigned size, int eventfd) override;
  Result<> remove_ioeventfd(hw::IoSpace space, uint64_t addr, unsigned size, int eventfd) override;
  Result<> add_irqfd(uint32_t gsi, int eventfd) override;
  std::string describe() const override;

  // Creates the in-kernel irqchip; called once by create_kvm_accelerator.
  Result<> setup_platform();
  // Creates the in-kernel PIT unless it exists; any thread. It is made on the guest's first
  // access to its ports (see kvm_pit.cc): tearing a PIT down costs several SRCU grace periods
  // and a kthread (~14 ms on nested hosts), which guests that never use it need not pay.
  Result<> ensure_pit();
  bool pit_created() const { return pit_created_.load(std::memory_order_acquire); }

  const MachineBuses& buses() const { return buses_; }
  int vcpu_count() const { return vcpus_; }
  bool supports_msr(uint32_t index) const;

 private:
  UniqueFd kvm_, vm_;
  int vcpus_;
  int run_size_;
  mutable std::mutex host_model_mutex_;
  bool host_model_loaded_ = false;
  std::vector<kvm_cpuid_entry2> cpuid_;  // guarded by host_model_mutex_ until loaded
  std::vector<uint32_t> msr_index_;
  KvmInterrupts interrupts_;
  MachineBuses buses_{};
  Result<> register_memory();
  // KVM_GET_SUPPORTED_CPUID (~0.6 ms when nested: every host CPUID traps) and the MSR list, asked
  // at the first vCPU's creation, while the memory slots' grace period is still running.
  Result<> load_host_model();

  std::mutex memory_mutex_;
  std::condition_variable memory_ready_;
  std::thread memory_thread_;
  std::optional<Result<>> memory_result_;  // set once the helper is joined
  std::mutex pit_mutex_;
  std::atomic<bool> pit_created_{false};
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
  // An exit for a PIT port: creates the in-kernel PIT and has the guest repeat the access there
  // (kvm_pit.cc). False: not a PIT access this path handles; dispatch it normally.
  Result<bool> route_to_in_kernel_pit();
  Result<uint64_t> out_instruction_start(const kvm_regs& regs, uint16_t port, unsigned size);
  Result<> set_msrs();
  void log_state(const char* why);

  KvmVm* vm_;
  int index_;
  UniqueFd fd_;
  Mapping run_map_;
  std::atomic<bool> stop_{false};
  // The RIP of the last PIT access repeated here, so an access the kernel somehow still does
  // not claim is dispatched to the IoBus instead of being repeated forever.
  uint64_t pit_replayed_rip_ = UINT64_MAX;
  bool memory_ready_ = false;  // KvmVm::wait_for_memory() succeeded
  // The thread inside run(), for request_stop()'s kick; guarded by kick_mutex_.
  std::mutex kick_mutex_;
  bool running_ = false;
  pthread_t thread_{};
};

}  // namespace corvid::accel::kvm
