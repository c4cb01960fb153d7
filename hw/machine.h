// The x86 machine: guest RAM, the buses, the board's devices, the kernel, the vCPU threads and
// one I/O thread, on whichever accelerator the factory picks. Built from MachineOptions (the
// tools translate config::VmConfig into them); run() returns when the guest powers off, resets,
// or something fails.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "accel/accelerator.h"
#include "base/event_loop.h"
#include "fdt/machine_description.h"
#include "hw/char/char_backend.h"
#include "hw/core/guest_memory.h"
#include "hw/core/io_bus.h"
#include "hw/machine_events.h"
#include "hw/machine_options.h"

namespace corvid::hw {

struct RunResult {
  enum class Kind { kPowerOff, kReset, kHalted, kQuit, kError } kind = Kind::kError;
  int status = 0;       // debug-exit value for kPowerOff, signal number for kQuit
  std::string message;  // for kError and kHalted
};

class Machine final : public MachineEvents {
 public:
  // memory: RAM kept from a previous boot (reset keeps RAM, as a PC does), or null to allocate.
  // serial: the COM1 backend (not owned; it outlives resets so the terminal stays raw).
  static Result<std::unique_ptr<Machine>> create(const MachineOptions& options,
                                                 std::unique_ptr<GuestMemory> memory,
                                                 CharBackend* serial);
  ~Machine() override;

  // Runs the vCPUs and the I/O thread until the VM stops; callable once.
  RunResult run();
  // After run(): the guest RAM, for the next boot after a reset.
  std::unique_ptr<GuestMemory> take_memory() { return std::move(memory_); }

  const fdt::MachineDescription& description() const { return desc_; }
  const std::vector<uint8_t>& device_tree() const { return dtb_; }
  std::string accel_description() const { return accel_->describe(); }
  accel::AccelKind accel_kind() const { return accel_->kind(); }

  // MachineEvents (any thread).
  void request_power_off(int status) override;
  void request_reset() override;
  // Stops the VM from the host side (signal, QMP quit).
  void request_quit(int signal);
  // Presses the ACPI power button (any thread): the GED raises its event and interrupt; a guest
  // that handles it (Linux's ACPI button driver + userspace, tests/guest/power_button) enters S5
  // and run() returns kPowerOff with status 0. ECANCELED once the VM has stopped.
  Result<> request_power_button();
  // Pauses/resumes every vCPU; pause returns once all of them are out of guest code.
  void pause();
  void resume();
  bool paused() const;
  // Linux thread IDs of the vCPU threads (index = vCPU index; 0 before run() started them).
  std::vector<int> vcpu_thread_ids() const;

 private:
  struct Impl;
  explicit Machine(const MachineOptions& options);
  Result<> build(std::unique_ptr<GuestMemory> memory, CharBackend* serial);
  Result<> build_devices(CharBackend* serial);
  Result<> load(const std::string& kernel_path);
  void vcpu_thread(int index);
  // While a pause is requested, counts this vCPU thread parked and waits; false once finished.
  bool park_while_paused();
  void finish(RunResult result);
  void stop_vcpus();

  MachineOptions options_;
  std::unique_ptr<GuestMemory> memory_;
  IoBus pio_{IoSpace::kPio}, mmio_{IoSpace::kMmio};
  std::unique_ptr<accel::Accelerator> accel_;
  std::vector<std::unique_ptr<accel::Vcpu>> vcpus_;
  std::unique_ptr<EventLoop> loop_;
  CharBackend* serial_ = nullptr;
  std::unique_ptr<Impl> impl_;  // devices
  fdt::MachineDescription desc_;
  std::vector<uint8_t> dtb_;
  accel::BootState boot_state_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool finished_ = false;
  RunResult result_;
  bool pause_requested_ = false;
  int vcpus_parked_ = 0;
  int vcpus_halted_ = 0;
  std::vector<int> vcpu_tids_;
};

}  // namespace corvid::hw
