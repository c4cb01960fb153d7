#include "monitor/machine_control.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/endian.h"
#include "base/unique_fd.h"

namespace corvid::monitor {

BlockInfo describe_drive(const config::DriveConfig& drive, size_t index) {
  BlockInfo b;
  b.device = drive.id.empty() ? fmt::format("virtio{}", index) : drive.id;
  b.node_name = fmt::format("#block{}", index);
  b.qdev = fmt::format("/machine/peripheral-anon/device[{}]", index);
  b.file = drive.file;
  b.cache = drive.cache;
  b.read_only = drive.read_only;
  b.format = drive.format;
  // qcow2 header (docs/interop/qcow2.txt "Header"): magic at 0, cluster_bits at 20, size at 24,
  // incompatible features at 72 (v3), bit 0 of compatible features at 80 is lazy refcounts.
  uint8_t header[88] = {};
  UniqueFd fd(::open(drive.file.c_str(), O_RDONLY | O_CLOEXEC));
  ssize_t got = fd ? ::pread(fd.get(), header, sizeof header, 0) : -1;
  bool qcow2 = got >= 32 && load_be32(header) == 0x514649fb;
  if (b.format.empty()) b.format = qcow2 ? "qcow2" : "raw";
  if (b.format == "qcow2" && qcow2) {
    uint32_t cluster_bits = load_be32(header + 20);
    b.cluster_size = cluster_bits < 64 ? 1ull << cluster_bits : 0;
    b.virtual_size = load_be64(header + 24);
    const bool v3 = got >= 88 && load_be32(header + 4) >= 3;
    b.lazy_refcounts = v3 && (load_be64(header + 80) & 1);
    // Incompatible feature bit 0, what QEMU's query-block reports as "dirty-flag".
    b.dirty = v3 && (load_be64(header + 72) & 1);
  } else {
    struct stat st {};
    if (fd && ::fstat(fd.get(), &st) == 0) b.virtual_size = static_cast<uint64_t>(st.st_size);
  }
  return b;
}

BlockStats block_stats(const block::IoStatsSnapshot& s) {
  using block::IoKind;
  const auto& rd = s[IoKind::kRead];
  const auto& wr = s[IoKind::kWrite];
  const auto& fl = s[IoKind::kFlush];
  const auto& un = s[IoKind::kUnmap];
  BlockStats b;
  b.rd_bytes = rd.bytes;
  b.wr_bytes = wr.bytes;
  b.unmap_bytes = un.bytes;
  b.rd_operations = rd.operations;
  b.wr_operations = wr.operations;
  b.flush_operations = fl.operations;
  b.unmap_operations = un.operations;
  b.failed_rd_operations = rd.failed;
  b.failed_wr_operations = wr.failed;
  b.failed_flush_operations = fl.failed;
  b.failed_unmap_operations = un.failed;
  b.invalid_rd_operations = rd.invalid;
  b.invalid_wr_operations = wr.invalid;
  b.invalid_flush_operations = fl.invalid;
  b.invalid_unmap_operations = un.invalid;
  b.rd_total_time_ns = rd.total_time_ns;
  b.wr_total_time_ns = wr.total_time_ns;
  b.flush_total_time_ns = fl.total_time_ns;
  b.unmap_total_time_ns = un.total_time_ns;
  b.wr_highest_offset = s.wr_highest_offset;
  b.idle_time_ns = s.idle_time_ns;
  return b;
}

MachineControl::MachineControl(config::VmConfig config) : config_(std::move(config)) {
  for (size_t i = 0; i < config_.drives.size(); ++i)
    drive_stats_.push_back(std::make_shared<block::IoStats>());
}

std::shared_ptr<block::IoStats> MachineControl::drive_stats(size_t index) const {
  return index < drive_stats_.size() ? drive_stats_[index] : nullptr;
}

void MachineControl::set_event_sink(VmEventSink* sink) {
  std::lock_guard lock(mutex_);
  sink_ = sink;
}

void MachineControl::set_machine(hw::Machine* machine) {
  std::lock_guard lock(mutex_);
  machine_ = machine;
  if (!machine) return;
  started_ = true;
  on_kvm_ = machine->accel_kind() == accel::AccelKind::kKvm;
  // A quit that arrived between two boots.
  if (host_quit_) machine->request_quit(0);
}

void MachineControl::emit(VmEvent event) {
  std::lock_guard lock(mutex_);
  if (sink_) sink_->vm_event(event);
}

void MachineControl::report(const hw::RunResult& r, bool rebooting) {
  bool host_reset, host_quit;
  {
    std::lock_guard lock(mutex_);
    host_reset = std::exchange(host_reset_, false);
    host_quit = host_quit_;
    if (!rebooting) ended_ = true;
  }
  using Kind = hw::RunResult::Kind;
  switch (r.kind) {
    case Kind::kReset:
      if (!host_reset) emit({VmEvent::Kind::kReset, true, "guest-reset"});
      // QEMU with -no-reboot (on_reboot=destroy) turns the reset into a shutdown.
      if (!rebooting)
        emit({VmEvent::Kind::kShutdown, !host_reset,
              host_reset ? "host-qmp-system-reset" : "guest-reset"});
      break;
    case Kind::kPowerOff:
      emit({VmEvent::Kind::kShutdown, true, "guest-shutdown"});
      break;
    case Kind::kQuit:
      if (!host_quit) emit({VmEvent::Kind::kShutdown, false, "host-signal"});
      break;
    case Kind::kHalted:
    case Kind::kError:
      break;
  }
}

bool MachineControl::quit_requested_by_monitor() const {
  std::lock_guard lock(mutex_);
  return host_quit_;
}

bool MachineControl::kvm_enabled() const {
  std::lock_guard lock(mutex_);
  return on_kvm_;
}

bool MachineControl::kvm_present() const {
  return ::access("/dev/kvm", R_OK | W_OK) == 0;
}

RunState MachineControl::run_state() const {
  std::lock_guard lock(mutex_);
  if (ended_) return RunState::kShutdown;
  if (!started_ || prelaunch_) return RunState::kPrelaunch;
  if (machine_ && machine_->paused()) return RunState::kPaused;
  return RunState::kRunning;
}

std::vector<CpuInfo> MachineControl::cpus() const {
  std::vector<int> tids;
  {
    std::lock_guard lock(mutex_);
    if (machine_) tids = machine_->vcpu_thread_ids();
  }
  std::vector<CpuInfo> out;
  // The board puts one core per socket (hw/x86/mptable.cc).
  for (int i = 0; i < config_.vcpus; ++i) {
    int64_t tid = static_cast<size_t>(i) < tids.size() ? tids[i] : 0;
    out.push_back({.index = i, .host_tid = tid, .socket_id = i});
  }
  return out;
}

std::vector<BlockInfo> MachineControl::block_devices() const {
  std::vector<BlockInfo> out;
  for (size_t i = 0; i < config_.drives.size(); ++i) {
    out.push_back(describe_drive(config_.drives[i], i));
    out.back().stats = block_stats(drive_stats_[i]->snapshot());
  }
  return out;
}

Result<> MachineControl::pause() {
  // Held across the wait so the run loop cannot destroy the machine under us; Machine::pause
  // returns early once the machine has finished.
  std::lock_guard lock(mutex_);
  if (!machine_) return errorf(0, "the VM is not running");
  machine_->pause();
  return {};
}

void MachineControl::set_prelaunch(bool prelaunch) {
  std::lock_guard lock(mutex_);
  prelaunch_ = prelaunch;
}

Result<> MachineControl::resume() {
  std::lock_guard lock(mutex_);
  if (!machine_) return errorf(0, "the VM is not running");
  prelaunch_ = false;
  machine_->resume();
  return {};
}

Result<> MachineControl::reset() {
  std::lock_guard lock(mutex_);
  if (!machine_) return errorf(0, "the VM is not running");
  host_reset_ = true;
  machine_->request_reset();
  return {};
}

Result<> MachineControl::powerdown() {
  // QEMU's system_powerdown presses the ACPI power button and returns; whether and when the guest
  // powers off is up to it (its SHUTDOWN comes through report()).
  std::lock_guard lock(mutex_);
  if (!machine_) return errorf(0, "the VM is not running");
  return machine_->request_power_button();
}

void MachineControl::console_quit() {
  emit({VmEvent::Kind::kShutdown, false, "host-qmp-quit"});
  quit();
}

void MachineControl::quit() {
  std::lock_guard lock(mutex_);
  host_quit_ = true;
  if (machine_) machine_->request_quit(0);
}

}  // namespace corvid::monitor
