// MachineControl: VmControl over the x86 board (hw::Machine) and the VmConfig it was built from.
// The launcher's run loop hands it the machine of each boot and reports how each boot ended; this
// class turns that into QMP state and the events the guest or a signal caused (the monitor emits
// the events for the commands it ran itself, see monitor/vm_control.h).
#pragma once

#include <memory>
#include <mutex>

#include "block/stats.h"
#include "config/vm_config.h"
#include "hw/machine.h"
#include "monitor/vm_control.h"

namespace corvid::monitor {

class MachineControl final : public VmControl {
 public:
  explicit MachineControl(config::VmConfig config);

  // The I/O counters of drive `index` of the config (query-blockstats): the launcher hands them
  // to the machine of every boot (hw::DriveOptions::stats), so they survive reboots as QEMU's do.
  std::shared_ptr<block::IoStats> drive_stats(size_t index) const;

  // The sink (the QmpServer) must outlive its use here: set_event_sink(nullptr) before destroying
  // it while a machine may still report.
  void set_event_sink(VmEventSink* sink);
  // The machine of the current boot, or null once its run() returned (before it is destroyed).
  void set_machine(hw::Machine* machine);
  // -S: the first machine starts paused; query-status says "prelaunch" until "cont".
  void set_prelaunch(bool prelaunch);
  // How a boot ended: emits RESET/SHUTDOWN for what the guest or a signal did.
  void report(const hw::RunResult& result, bool rebooting);
  // True when the last kQuit came from QMP "quit" rather than a signal.
  bool quit_requested_by_monitor() const;

  std::string name() const override { return config_.name; }
  std::string uuid() const override { return config_.uuid; }
  bool kvm_enabled() const override;
  bool kvm_present() const override;
  RunState run_state() const override;
  std::vector<CpuInfo> cpus() const override;
  std::vector<BlockInfo> block_devices() const override;
  uint64_t memory_bytes() const override { return config_.memory_bytes; }
  Result<> pause() override;
  Result<> resume() override;
  Result<> reset() override;
  Result<> powerdown() override;
  void quit() override;
  // The serial console's Ctrl-A X: QEMU's mux calls qmp_quit(), so QMP clients see the same
  // SHUTDOWN {"guest": false, "reason": "host-qmp-quit"} as for the "quit" command.
  void console_quit();

 private:
  void emit(VmEvent event);

  const config::VmConfig config_;
  std::vector<std::shared_ptr<block::IoStats>> drive_stats_;  // one per config_.drives
  mutable std::mutex mutex_;
  hw::Machine* machine_ = nullptr;
  VmEventSink* sink_ = nullptr;
  bool started_ = false, ended_ = false, on_kvm_ = false;
  bool host_reset_ = false, host_quit_ = false, prelaunch_ = false;
};

// What query-block needs from an image file without opening it as a block device: the format
// (probed from the qcow2 magic when the config leaves it empty), virtual size and cluster size.
BlockInfo describe_drive(const config::DriveConfig& drive, size_t index);
// QEMU's BlockDeviceStats from the block layer's counters.
BlockStats block_stats(const block::IoStatsSnapshot& s);

}  // namespace corvid::monitor
