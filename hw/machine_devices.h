// The machine's virtio devices (disks from --drive, rng, console) on the virtio-pci and
// virtio-mmio transports, and the device tree encoding of the machine description.
#pragma once

#include <memory>
#include <vector>

#include "accel/accelerator.h"
#include "base/event_loop.h"
#include "fdt/machine_description.h"
#include "hw/core/guest_memory.h"
#include "hw/core/io_bus.h"

namespace corvid::hw {

class PciHost;
struct MachineOptions;

class MachineDevices {
 public:
  struct Context {
    GuestMemory* memory;
    InterruptSink* interrupts;
    EventLoop* loop;
    accel::Accelerator* accel;
    IoBus* mmio;
    PciHost* pci;
    fdt::MachineDescription* desc;
  };

  MachineDevices();
  ~MachineDevices();
  MachineDevices(MachineDevices&&) noexcept;
  MachineDevices& operator=(MachineDevices&&) noexcept;

  // Opens every drive and creates its device; errors name the drive ("--drive file=x.qcow2: ...").
  Result<> build(const Context& ctx, const MachineOptions& options);

  // Kernel command line words naming the virtio-mmio devices (virtio_mmio.device=SIZE@BASE:GSI).
  std::string cmdline_additions() const;

  // The flattened device tree of the description.
  static Result<std::vector<uint8_t>> encode_device_tree(const fdt::MachineDescription& desc);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace corvid::hw
