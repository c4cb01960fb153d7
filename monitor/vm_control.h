// VmControl: the only way the QMP monitor reaches the VM. The machine implements it; the monitor
// calls it from its own thread (never from a vCPU), so implementations must be thread-safe.
//
// Events: the monitor itself emits the QMP events for actions it asked for (STOP after pause(),
// RESUME after resume(), RESET after reset(), POWERDOWN after powerdown(), SHUTDOWN after quit()).
// The machine reports only what it started on its own (the guest reset or powered off, a SIGTERM,
// an internal error) through VmEventSink, which QmpServer implements.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace corvid::monitor {

// A subset of QEMU's RunState (qapi/run-state.json); names are what query-status prints.
enum class RunState { kPrelaunch, kRunning, kPaused, kShutdown, kInternalError, kGuestPanicked };

struct CpuInfo {
  int index = 0;         // cpu-index
  int64_t host_tid = 0;  // gettid() of the vCPU thread ("thread-id" in query-cpus-fast)
  int socket_id = 0, core_id = 0, thread_id = 0;
};

// Counters as QEMU's BlockDeviceStats names them (qapi/block-core.json).
struct BlockStats {
  uint64_t rd_bytes = 0, wr_bytes = 0, unmap_bytes = 0;
  uint64_t rd_operations = 0, wr_operations = 0, flush_operations = 0, unmap_operations = 0;
  uint64_t failed_rd_operations = 0, failed_wr_operations = 0, failed_flush_operations = 0,
           failed_unmap_operations = 0;
  uint64_t invalid_rd_operations = 0, invalid_wr_operations = 0, invalid_flush_operations = 0,
           invalid_unmap_operations = 0;
  uint64_t rd_total_time_ns = 0, wr_total_time_ns = 0, flush_total_time_ns = 0,
           unmap_total_time_ns = 0;
  uint64_t wr_highest_offset = 0;
  std::optional<uint64_t> idle_time_ns;  // QEMU reports it only once there was I/O
};

struct BlockInfo {
  std::string device;     // drive id: "virtio0", or the libvirt alias
  std::string node_name;  // block node name, e.g. "#block0"
  std::string qdev;       // the device it is attached to, e.g. "/machine/peripheral-anon/device[0]"
  std::string file;       // image path as opened
  std::string format;     // "raw" | "qcow2"
  std::string cache = "writeback";  // DriveConfig::cache
  bool read_only = false;
  uint64_t virtual_size = 0;    // bytes the guest sees
  uint64_t cluster_size = 0;    // qcow2 only; 0 otherwise
  bool lazy_refcounts = false;  // qcow2 only
  bool dirty = false;           // qcow2 only: the dirty bit (lazy refcounts not yet written back)
  BlockStats stats;
};

class VmControl {
 public:
  virtual ~VmControl() = default;

  virtual std::string name() const = 0;
  virtual std::string uuid() const = 0;  // canonical 8-4-4-4-12; empty when the VM has none
  virtual bool kvm_enabled() const = 0;  // this VM runs on KVM
  virtual bool kvm_present() const = 0;  // KVM is usable on this host
  virtual RunState run_state() const = 0;
  virtual std::vector<CpuInfo> cpus() const = 0;
  virtual std::vector<BlockInfo> block_devices() const = 0;
  // Guest RAM in bytes (query-memory-size-summary's base-memory).
  virtual uint64_t memory_bytes() const { return 0; }

  // Each returns once done: pause() when every vCPU has stopped, resume() when all run again,
  // reset() when the machine is back at its reset state (vCPUs keep their run state), powerdown()
  // once the guest-visible power-button request is raised.
  virtual Result<> pause() = 0;
  virtual Result<> resume() = 0;
  virtual Result<> reset() = 0;
  virtual Result<> powerdown() = 0;
  // Starts a clean teardown and returns at once; the machine then calls QmpServer::stop(), which
  // flushes the replies already queued (the reply to "quit" included).
  virtual void quit() = 0;
};

// Something the VM did on its own, reported to the monitor so clients see the QMP event.
struct VmEvent {
  enum class Kind { kStop, kResume, kReset, kPowerdown, kShutdown };
  Kind kind;
  bool guest = true;   // the guest asked for it (false: host side, e.g. a signal)
  std::string reason;  // QEMU's ShutdownCause name: "guest-shutdown", "guest-reset",
                       // "host-signal", "guest-panic"; empty for STOP/RESUME/POWERDOWN
};

class VmEventSink {
 public:
  virtual ~VmEventSink() = default;
  // Thread-safe; may be called from a vCPU thread. Never blocks on a client.
  virtual void vm_event(const VmEvent& event) = 0;
};

}  // namespace corvid::monitor
