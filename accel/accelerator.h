// The accelerator interface: KVM, Xen and corvid's translator implement it; the machine does not
// know which one it runs on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "hw/core/guest_memory.h"
#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"

namespace corvid::accel {

enum class AccelKind { kKvm, kXen, kTcg };
std::string_view accel_name(AccelKind kind);

// Why Vcpu::run() returned. PIO and MMIO accesses are dispatched by the backend itself through
// the IoBus it was given, so they do not appear here; only events the machine must act on do.
enum class ExitReason {
  kHalt,           // HLT with interrupts disabled and nothing pending: the vCPU is parked
  kShutdown,       // triple fault / shutdown
  kReset,          // reset requested (i8042, 0xcf9, ACPI)
  kPowerOff,       // the guest powered off (ACPI S5, debug-exit)
  kStopRequested,  // Vcpu::request_stop() was called from another thread
  kInternalError,  // the backend failed; message says why
};

struct VcpuExit {
  ExitReason reason = ExitReason::kInternalError;
  int status = 0;  // the guest's status for kPowerOff (debug-exit value)
  std::string message;
};

// x86 register state at the boot entry point, as the loaders need it.
struct BootState {
  enum class Mode { kProtected32Flat, kLong64 } mode = Mode::kProtected32Flat;
  uint64_t rip = 0, rsp = 0, rsi = 0, rbx = 0, rdi = 0;
  uint64_t rax = 0;  // multiboot: the 0x2BADB002 magic
  uint64_t cr0 = 0x11, cr3 = 0, cr4 = 0, efer = 0;
  uint64_t gdt_base = 0;
  uint16_t gdt_limit = 0;
  uint16_t code_selector = 0x08, data_selector = 0x10;
};

class Vcpu {
 public:
  virtual ~Vcpu() = default;
  virtual int index() const = 0;
  virtual Result<> set_boot_state(const BootState& state) = 0;
  // Runs guest code until something the machine must handle happens.
  virtual VcpuExit run() = 0;
  // Makes run() return kStopRequested soon; safe from any thread.
  virtual void request_stop() = 0;
};

struct MachineBuses {
  hw::GuestMemory* memory;
  hw::IoBus* pio;
  hw::IoBus* mmio;
};

class Accelerator {
 public:
  virtual ~Accelerator() = default;
  virtual AccelKind kind() const = 0;
  // Makes guest RAM visible to the guest (after GuestMemory::add_ram) and records the buses that
  // PIO/MMIO exits are dispatched to.
  virtual Result<> attach(const MachineBuses& buses) = 0;
  virtual Result<std::unique_ptr<Vcpu>> create_vcpu(int index) = 0;
  // Where devices raise interrupts.
  virtual hw::InterruptSink* interrupts() = 0;
  // Optional fast path: signal eventfd when the guest writes `value` (any value if match_value is
  // false) of `size` bytes at MMIO/PIO `addr`, without a vCPU exit. ENOTSUP when not available;
  // the device then sees the write through the IoBus.
  virtual Result<> add_ioeventfd(hw::IoSpace space, uint64_t addr, unsigned size, int eventfd) = 0;
  // Undoes add_ioeventfd (same space, addr, size and eventfd), e.g. when the guest moves the BAR
  // that held the address. ENOTSUP where add_ioeventfd is not available.
  virtual Result<> remove_ioeventfd(hw::IoSpace space, uint64_t addr, unsigned size, int eventfd) {
    (void)space, (void)addr, (void)size, (void)eventfd;
    return make_error(ENOTSUP, "ioeventfd is not supported by this accelerator");
  }
  // Optional fast path: signalling eventfd raises (edge) GSI `gsi` without a trip through the
  // VMM. ENOTSUP when not available; devices then call interrupts()->set_irq.
  virtual Result<> add_irqfd(uint32_t gsi, int eventfd) {
    (void)gsi, (void)eventfd;
    return make_error(ENOTSUP, "irqfd is not supported by this accelerator");
  }
  // One line for logs and `corvid run -v`: "kvm (API 12, in-kernel irqchip)".
  virtual std::string describe() const { return std::string(accel_name(kind())); }
};

struct AccelOptions {
  std::string requested = "auto";  // kvm | xen | tcg | auto
  int vcpus = 1;
  std::string kvm_device = "/dev/kvm";  // tests point this elsewhere to exercise the errors
};

// Creates the requested accelerator. "auto" tries KVM, then Xen, then the translator and logs
// (info) which one it picked and why the others were passed over.
Result<std::unique_ptr<Accelerator>> create_accelerator(const AccelOptions& options);

}  // namespace corvid::accel
