// virtio over MMIO, version 2 (virtio 1.2 §4.2): a register window the board puts on its MMIO bus
// and one level-triggered interrupt line.
#pragma once

#include <cstdint>
#include <memory>

#include "base/result.h"
#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"
#include "virtio/device.h"

namespace corvid::virtio {

class MmioTransport : public hw::IoHandler, public Transport {
 public:
  static constexpr uint64_t kWindowSize =
      0x200;  // registers 0x000..0x0ff, configuration from 0x100

  MmioTransport(std::unique_ptr<VirtioDevice> device, hw::InterruptSink* interrupts, uint64_t base,
                uint32_t gsi);
  ~MmioTransport() override;

  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

  void signal_queue(unsigned queue) override;
  void signal_config() override;
  void transport_reset() override;

  VirtioDevice& device() { return *device_; }
  uint64_t base() const { return base_; }
  uint32_t gsi() const { return gsi_; }

 private:
  uint32_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint32_t value);
  void raise(uint32_t bits);

  std::unique_ptr<VirtioDevice> device_;
  hw::InterruptSink* interrupts_;
  uint64_t base_;
  uint32_t gsi_;
  uint32_t device_features_sel_ = 0, driver_features_sel_ = 0, queue_sel_ = 0;
  uint32_t interrupt_status_ = 0;
};

// Wraps `device` in a virtio-mmio window at `base` raising `gsi`; binds the device's scan-all
// kick eventfd to base+0x50 (QueueNotify) through services.add_ioeventfd when one is given.
Result<std::unique_ptr<MmioTransport>> make_virtio_mmio(std::unique_ptr<VirtioDevice> device,
                                                        const DeviceServices& services,
                                                        uint64_t base, uint32_t gsi);

}  // namespace corvid::virtio
