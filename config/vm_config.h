// VmConfig: the one model of a VM, filled from the command line or a libvirt domain XML and
// validated once before the machine is built.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace corvid::config {

struct DriveConfig {
  std::string id;  // device name shown by QMP ("vda" from libvirt's <target dev>)
  std::string file;
  std::string format;               // "raw", "qcow2" or empty to probe
  std::string cache = "writeback";  // writeback|writethrough|none|directsync|unsafe
  std::string aio = "io_uring";     // io_uring|threads (libvirt's io='native' maps to io_uring)
  bool read_only = false;
  bool discard = false;  // discard=unmap
  std::string serial;
  std::string transport = "pci";  // pci | mmio
  unsigned num_queues = 1;        // virtio-blk request queues (VIRTIO_BLK_F_MQ when > 1)
};

struct SerialConfig {
  std::string kind = "stdio";  // stdio | file | socket | pty | none
  std::string path;
};

enum class LifecycleAction { kDestroy, kRestart, kPreserve };

struct VmConfig {
  std::string name = "corvid";
  std::string uuid;  // canonical 8-4-4-4-12 or empty
  uint64_t memory_bytes = 256ull << 20;
  int vcpus = 1;
  std::string accel = "auto";  // kvm | xen | tcg | auto
  std::string kernel, initrd, cmdline;
  std::vector<DriveConfig> drives;
  SerialConfig serial;
  bool virtio_rng = false;
  bool virtio_console = false;
  std::string dump_dtb;    // write the device tree here
  std::string qmp_socket;  // unix socket path for QMP, empty for none
  LifecycleAction on_poweroff = LifecycleAction::kDestroy;
  LifecycleAction on_reboot = LifecycleAction::kRestart;
  LifecycleAction on_crash = LifecycleAction::kDestroy;
};

}  // namespace corvid::config
