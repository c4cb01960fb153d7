// What a machine is built from: the tools translate config::VmConfig (or a domain XML) into it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "block/stats.h"

namespace corvid::hw {

struct CmosRtcRetained;  // hw/rtc/cmos_rtc.h

struct DriveOptions {
  std::string file;
  std::string format;  // raw | qcow2 | "" (probe)
  std::string cache = "writeback";
  std::string aio = "io_uring";
  bool read_only = false;
  std::string serial;
  bool mmio = false;  // virtio-mmio instead of virtio-pci
  unsigned num_queues = 1;
  // When set, the device's requests are counted here (query-blockstats); shared so the counts
  // outlive the machine across reboots, as QEMU's do.
  std::shared_ptr<block::IoStats> stats;
};

struct MachineOptions {
  uint64_t memory_bytes = 256ull << 20;
  int vcpus = 1;
  std::string accel = "auto";
  std::string kernel, initrd, cmdline;
  std::vector<DriveOptions> drives;
  bool virtio_rng = false;
  bool virtio_console = false;
  std::string dump_dtb;   // write the device tree blob here
  std::string dump_acpi;  // write each ACPI table to this folder as SIG.dat (for iasl -d)
  // When set, the CMOS RTC's time and RAM live on here across guest resets (the launcher keeps
  // one for all the boots of a VM).
  std::shared_ptr<CmosRtcRetained> rtc_retained;
  // QEMU's -S: the vCPUs wait, paused, until resume() (QMP "cont").
  bool start_paused = false;
};

}  // namespace corvid::hw
