// virtio over PCI, modern interface only (virtio 1.2 §4.1; VIRTIO_F_VERSION_1 required): the
// common, notify, ISR and device configuration structures in memory BAR 0, the MSI-X table and
// PBA in memory BAR 2, INTx when MSI-X is off.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "base/result.h"
#include "hw/core/pci_device.h"
#include "virtio/device.h"
#include "virtio/msix.h"

namespace corvid::virtio {

class PciTransport : public hw::PciDevice, public Transport {
 public:
  // BAR 0 layout (each structure found by the driver through its capability, §4.1.4).
  static constexpr uint64_t kCommonOffset = 0x0000;
  static constexpr uint64_t kIsrOffset = 0x1000;
  static constexpr uint64_t kDeviceOffset = 0x2000;
  static constexpr uint64_t kNotifyOffset = 0x3000;
  static constexpr uint32_t kNotifyMultiplier = 4;
  static constexpr uint64_t kBar0Size = 0x4000;
  static constexpr uint64_t kMsixBarSize = 0x1000;

  PciTransport(std::unique_ptr<VirtioDevice> device, const DeviceServices& services);
  ~PciTransport() override;

  // hw::PciDevice
  std::string name() const override;
  uint32_t config_read(uint32_t offset, unsigned size) override;
  void config_write(uint32_t offset, unsigned size, uint32_t value) override;
  hw::PciBar bar(int index) const override;
  void bar_mapped(int index, uint64_t addr) override;
  void set_intx_gsi(uint32_t gsi) override { intx_gsi_ = gsi; }
  void set_intx_pin(hw::PciIntxPin* pin) override { intx_pin_ = pin; }

  // Transport
  void signal_queue(unsigned queue) override;
  void signal_config() override;
  void transport_reset() override;

  VirtioDevice& device() { return *device_; }

 private:
  // The two BARs' handlers; both lock the device and forward here.
  struct Bar0 : hw::IoHandler {
    PciTransport* t;
    uint64_t io_read(uint64_t offset, unsigned size) override;
    void io_write(uint64_t offset, unsigned size, uint64_t value) override;
  };
  struct MsixBar : hw::IoHandler {
    PciTransport* t;
    uint64_t io_read(uint64_t offset, unsigned size) override;
    void io_write(uint64_t offset, unsigned size, uint64_t value) override;
  };

  void build_config_space();
  uint64_t bar0_read(uint64_t offset, unsigned size);
  void bar0_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t common_read(uint64_t offset, unsigned size);
  void common_write(uint64_t offset, unsigned size, uint64_t value);
  uint8_t read_isr();
  void raise_intx(uint8_t isr_bit);
  void set_intx_level(bool asserted);
  static uint64_t notify_address(uint64_t bar0, unsigned queue);
  void unbind_notify_eventfds();
  void send_vector(uint16_t vector, uint8_t isr_bit);
  uint32_t cfg_bytes(uint32_t offset, unsigned size) const;

  std::unique_ptr<VirtioDevice> device_;
  DeviceServices services_;
  Bar0 bar0_handler_;
  MsixBar msix_handler_;
  MsixTable msix_;
  std::array<uint8_t, 256> cfg_{};
  uint32_t intx_gsi_ = UINT32_MAX;
  hw::PciIntxPin* intx_pin_ = nullptr;
  bool intx_level_ = false;
  uint8_t isr_ = 0;
  uint32_t device_features_sel_ = 0, driver_features_sel_ = 0;
  uint16_t queue_sel_ = 0, config_vector_ = kNoVector;
  // Where the queue notify eventfds are bound: BAR 0's address (0 = nowhere) and how many queues.
  uint64_t ioeventfd_base_ = 0;
  unsigned ioeventfds_bound_ = 0;
};

// Wraps `device` in a virtio-pci function. Queue notify eventfds are bound through
// services.add_ioeventfd where the bridge maps BAR 0, and unbound through
// services.remove_ioeventfd when BAR 0 moves, is disabled, or the function goes away.
Result<std::unique_ptr<PciTransport>> make_virtio_pci(std::unique_ptr<VirtioDevice> device,
                                                      const DeviceServices& services);

}  // namespace corvid::virtio
