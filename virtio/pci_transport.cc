#include "virtio/pci_transport.h"

#include <algorithm>

#include "base/endian.h"
#include "base/log.h"

namespace corvid::virtio {

namespace {

constexpr uint16_t kVendorRedHat = 0x1af4;      // §4.1.2: virtio's PCI vendor
constexpr uint16_t kModernDeviceBase = 0x1040;  // §4.1.2: device id 0x1040 + virtio device type
constexpr uint16_t kSubsystemId = 0x1100;       // §4.1.2.1: 0x40 or higher for non-transitional
constexpr uint16_t kCommandIntxDisable = 1u << 10;

// Capability layout in configuration space.
constexpr uint8_t kCapMsix = 0x40, kCapCommon = 0x4c, kCapNotify = 0x5c, kCapIsr = 0x70,
                  kCapDevice = 0x80, kCapPciCfg = 0x90;
// virtio_pci_cap cfg_type values (§4.1.4).
constexpr uint8_t kCommonCfg = 1, kNotifyCfg = 2, kIsrCfg = 3, kDeviceCfg = 4, kPciCfg = 5;

// Common configuration structure (§4.1.4.3).
enum : uint64_t {
  kDeviceFeatureSelect = 0x00,
  kDeviceFeature = 0x04,
  kDriverFeatureSelect = 0x08,
  kDriverFeature = 0x0c,
  kConfigMsixVector = 0x10,
  kNumQueues = 0x12,
  kDeviceStatus = 0x14,
  kConfigGeneration = 0x15,
  kQueueSelect = 0x16,
  kQueueSize = 0x18,
  kQueueMsixVector = 0x1a,
  kQueueEnable = 0x1c,
  kQueueNotifyOff = 0x1e,
  kQueueDesc = 0x20,
  kQueueDriver = 0x28,
  kQueueDevice = 0x30,
  kCommonSize = 0x3c,  // up to queue_notif_config_data and queue_reset (both 0: not offered)
};

uint64_t field(const uint8_t* img, uint64_t off, unsigned width) {
  uint64_t v = 0;
  for (unsigned i = 0; i < width; ++i) v |= uint64_t{img[off + i]} << (8 * i);
  return v;
}

}  // namespace

uint64_t PciTransport::Bar0::io_read(uint64_t offset, unsigned size) {
  std::lock_guard lock(t->device_->mutex());
  return t->bar0_read(offset, size);
}
void PciTransport::Bar0::io_write(uint64_t offset, unsigned size, uint64_t value) {
  std::lock_guard lock(t->device_->mutex());
  t->bar0_write(offset, size, value);
}
uint64_t PciTransport::MsixBar::io_read(uint64_t offset, unsigned size) {
  std::lock_guard lock(t->device_->mutex());
  return t->msix_.read(offset, size);
}
void PciTransport::MsixBar::io_write(uint64_t offset, unsigned size, uint64_t value) {
  std::lock_guard lock(t->device_->mutex());
  t->msix_.write(offset, size, value, t->services_.interrupts);
}

PciTransport::PciTransport(std::unique_ptr<VirtioDevice> device, const DeviceServices& services)
    : device_(std::move(device)), services_(services), msix_(device_->num_queues() + 1) {
  bar0_handler_.t = this;
  msix_handler_.t = this;
  device_->attach(this);
  build_config_space();
}

PciTransport::~PciTransport() {
  unbind_notify_eventfds();
  device_->attach(nullptr);
}

std::string PciTransport::name() const {
  return "virtio-" + device_->name() + "-pci";
}

void PciTransport::build_config_space() {
  uint8_t* c = cfg_.data();
  store_le16(c + 0x00, kVendorRedHat);
  store_le16(c + 0x02, static_cast<uint16_t>(kModernDeviceBase + device_->device_id()));
  store_le16(c + 0x06, 0x0010);  // status: capabilities list
  c[0x08] = 1;                   // §4.1.2.1: revision 1 or higher for non-transitional devices
  const uint32_t cls = device_->pci_class();
  c[0x09] = static_cast<uint8_t>(cls);
  c[0x0a] = static_cast<uint8_t>(cls >> 8);
  c[0x0b] = static_cast<uint8_t>(cls >> 16);
  store_le16(c + 0x2c, kVendorRedHat);
  store_le16(c + 0x2e, kSubsystemId);
  c[0x34] = kCapMsix;
  c[0x3d] = 1;  // INTA

  // MSI-X capability: table at BAR 2 offset 0, PBA at BAR 2 offset 0x800.
  c[kCapMsix] = 0x11;
  c[kCapMsix + 1] = kCapCommon;
  store_le16(c + kCapMsix + 2, static_cast<uint16_t>(msix_.size() - 1));
  store_le32(c + kCapMsix + 4, 0 | 2);
  store_le32(c + kCapMsix + 8, static_cast<uint32_t>(MsixTable::kPbaOffset) | 2);

  // virtio_pci_cap structures (§4.1.4): vndr 0x09, next, len, cfg_type, bar, id, pad, offset,
  // length.
  auto cap = [c](uint8_t at, uint8_t next, uint8_t len, uint8_t type, uint32_t offset,
                 uint32_t length) {
    c[at] = 0x09;
    c[at + 1] = next;
    c[at + 2] = len;
    c[at + 3] = type;
    c[at + 4] = 0;  // BAR 0
    store_le32(c + at + 8, offset);
    store_le32(c + at + 12, length);
  };
  cap(kCapCommon, kCapNotify, 16, kCommonCfg, kCommonOffset, kCommonSize);
  cap(kCapNotify, kCapIsr, 20, kNotifyCfg, kNotifyOffset,
      kNotifyMultiplier * device_->num_queues());
  store_le32(c + kCapNotify + 16, kNotifyMultiplier);
  cap(kCapIsr, kCapDevice, 16, kIsrCfg, kIsrOffset, 1);
  cap(kCapDevice, kCapPciCfg, 16, kDeviceCfg, kDeviceOffset,
      std::max<uint32_t>(device_->config_size(), 4));
  // §4.1.4.9: the PCI configuration access capability (bar/offset/length set by the driver).
  cap(kCapPciCfg, 0, 20, kPciCfg, 0, 0);
}

uint32_t PciTransport::cfg_bytes(uint32_t offset, unsigned size) const {
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) {
    if (offset + i < cfg_.size()) v |= uint32_t{cfg_[offset + i]} << (8 * i);
  }
  return v;
}

uint32_t PciTransport::config_read(uint32_t offset, unsigned size) {
  std::lock_guard lock(device_->mutex());
  if (offset >= cfg_.size()) return 0;  // no extended capabilities
  // The access window of the PCI configuration access capability (§4.1.4.9).
  if (offset >= kCapPciCfg + 16u && offset < kCapPciCfg + 20u) {
    const uint8_t bar = cfg_[kCapPciCfg + 4];
    const uint32_t at = load_le32(&cfg_[kCapPciCfg + 8]);
    const uint32_t len = load_le32(&cfg_[kCapPciCfg + 12]);
    if (bar == 0 && (len == 1 || len == 2 || len == 4) && at % len == 0 && at + len <= kBar0Size) {
      return static_cast<uint32_t>(bar0_read(at, len)) >> (8 * (offset - (kCapPciCfg + 16)));
    }
    return 0;
  }
  return cfg_bytes(offset, size);
}

void PciTransport::config_write(uint32_t offset, unsigned size, uint32_t value) {
  std::lock_guard lock(device_->mutex());
  for (unsigned i = 0; i < size; ++i) {
    const uint32_t at = offset + i;
    const uint8_t b = static_cast<uint8_t>(value >> (8 * i));
    // Writable bytes: command, interrupt line, MSI-X message control, the access capability's
    // bar/offset/length. Everything else (ids, BARs handled by the bridge) is read-only here.
    if (at == 0x04 || at == 0x05 || at == 0x3c ||
        (at >= kCapPciCfg + 4u && at < kCapPciCfg + 16u && at != kCapPciCfg + 5u &&
         at != kCapPciCfg + 6u && at != kCapPciCfg + 7u)) {
      cfg_[at] = b;
    } else if (at == kCapMsix + 3u) {
      cfg_[at] = static_cast<uint8_t>((cfg_[at] & 0x3f) | (b & 0xc0));
      msix_.set_control(b & 0x80, b & 0x40, services_.interrupts);
    }
  }
  if (offset >= kCapPciCfg + 16u && offset < kCapPciCfg + 20u) {
    const uint8_t bar = cfg_[kCapPciCfg + 4];
    const uint32_t at = load_le32(&cfg_[kCapPciCfg + 8]);
    const uint32_t len = load_le32(&cfg_[kCapPciCfg + 12]);
    if (bar == 0 && (len == 1 || len == 2 || len == 4) && at % len == 0 && at + len <= kBar0Size) {
      bar0_write(at, len, value);
    }
  }
  if (offset <= 0x05 && offset + size > 0x04) {
    // PCI Local Bus 3.0, 6.2.2: Interrupt Disable masks the pin, it does not cancel the interrupt:
    // one still pending (ISR bits set, MSI-X off) is signalled again when the bit is cleared.
    const bool disabled = load_le16(&cfg_[4]) & kCommandIntxDisable;
    if (disabled && intx_level_)
      set_intx_level(false);
    else if (!disabled && !intx_level_ && isr_ != 0 && !msix_.enabled())
      set_intx_level(true);
  }
}

hw::PciBar PciTransport::bar(int index) const {
  if (index == 0) return {kBar0Size, false, true, false, const_cast<Bar0*>(&bar0_handler_)};
  if (index == 2) return {kMsixBarSize, false, true, false, const_cast<MsixBar*>(&msix_handler_)};
  return {};
}

void PciTransport::bar_mapped(int index, uint64_t addr) {
  if (index != 0 || addr == ioeventfd_base_) return;
  // The guest moved or disabled BAR 0: the eventfds bound at the old notify addresses must go,
  // or guest writes there (perhaps now another device's registers) would still kick our queues.
  unbind_notify_eventfds();
  if (addr == 0 || !services_.add_ioeventfd) return;
  for (unsigned q = 0; q < device_->num_queues(); ++q) {
    auto bound = services_.add_ioeventfd(hw::IoSpace::kMmio, notify_address(addr, q), 2,
                                         device_->queue_kick_fd(q));
    if (!bound) {
      if (bound.error().code != ENOTSUP)
        LOG_WARN("{}: ioeventfd: {}", name(), bound.error().to_string());
      break;
    }
    ioeventfd_base_ = addr;
    ioeventfds_bound_ = q + 1;
  }
}

uint64_t PciTransport::notify_address(uint64_t bar0, unsigned queue) {
  // §4.1.4.4: queue q's notify address is cap.offset + queue_notify_off * multiplier; the driver
  // writes the 16-bit queue index there.
  return bar0 + kNotifyOffset + uint64_t{kNotifyMultiplier} * queue;
}

void PciTransport::unbind_notify_eventfds() {
  for (unsigned q = 0; q < ioeventfds_bound_; ++q) {
    if (!services_.remove_ioeventfd) break;
    auto removed = services_.remove_ioeventfd(
        hw::IoSpace::kMmio, notify_address(ioeventfd_base_, q), 2, device_->queue_kick_fd(q));
    if (!removed) LOG_WARN("{}: ioeventfd: {}", name(), removed.error().to_string());
  }
  ioeventfd_base_ = 0;
  ioeventfds_bound_ = 0;
}

uint64_t PciTransport::bar0_read(uint64_t offset, unsigned size) {
  if (offset < kCommonOffset + kCommonSize) return common_read(offset - kCommonOffset, size);
  if (offset == kIsrOffset) return read_isr();
  if (offset >= kDeviceOffset && offset < kNotifyOffset) {
    uint8_t bytes[8] = {};
    device_->read_config(static_cast<uint32_t>(offset - kDeviceOffset), bytes, size);
    return field(bytes, 0, size);
  }
  return 0;
}

void PciTransport::bar0_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset < kCommonOffset + kCommonSize) {
    common_write(offset - kCommonOffset, size, value);
  } else if (offset >= kDeviceOffset && offset < kNotifyOffset) {
    uint8_t bytes[8];
    for (unsigned i = 0; i < size && i < 8; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
    device_->write_config(static_cast<uint32_t>(offset - kDeviceOffset), bytes, size);
  } else if (offset >= kNotifyOffset && offset < kBar0Size) {
    device_->notify(static_cast<unsigned>((offset - kNotifyOffset) / kNotifyMultiplier));
  }
}

uint64_t PciTransport::common_read(uint64_t offset, unsigned size) {
  uint8_t img[0x40] = {};
  QueueConfig* q = device_->queue_config(queue_sel_);
  store_le32(img + kDeviceFeatureSelect, device_features_sel_);
  store_le32(img + kDeviceFeature, device_->offered_features_word(device_features_sel_));
  store_le32(img + kDriverFeatureSelect, driver_features_sel_);
  store_le32(img + kDriverFeature, device_->driver_features_word(driver_features_sel_));
  store_le16(img + kConfigMsixVector, config_vector_);
  store_le16(img + kNumQueues, static_cast<uint16_t>(device_->num_queues()));
  img[kDeviceStatus] = device_->status();
  img[kConfigGeneration] = device_->config_generation();
  store_le16(img + kQueueSelect, queue_sel_);
  if (q != nullptr) {  // §4.1.4.3.2: an unavailable queue reads as size 0
    store_le16(img + kQueueSize, q->size);
    store_le16(img + kQueueMsixVector, q->msix_vector);
    store_le16(img + kQueueEnable, q->ready ? 1 : 0);
    store_le16(img + kQueueNotifyOff, queue_sel_);
    store_le64(img + kQueueDesc, q->desc);
    store_le64(img + kQueueDriver, q->driver);
    store_le64(img + kQueueDevice, q->device);
  }
  if (offset + size > sizeof img) return 0;
  return field(img, offset, size);
}

void PciTransport::common_write(uint64_t offset, unsigned size, uint64_t value) {
  // §4.1.3.1: 64-bit fields may be written as two 32-bit halves, so merge the written bytes into
  // the field's current value and act on every field the access touched.
  uint8_t img[0x40] = {};
  QueueConfig* q = device_->queue_config(queue_sel_);
  store_le32(img + kDeviceFeatureSelect, device_features_sel_);
  store_le32(img + kDriverFeatureSelect, driver_features_sel_);
  store_le32(img + kDriverFeature, device_->driver_features_word(driver_features_sel_));
  store_le16(img + kConfigMsixVector, config_vector_);
  store_le16(img + kQueueSelect, queue_sel_);
  if (q != nullptr) {
    store_le16(img + kQueueSize, q->size);
    store_le16(img + kQueueMsixVector, q->msix_vector);
    store_le64(img + kQueueDesc, q->desc);
    store_le64(img + kQueueDriver, q->driver);
    store_le64(img + kQueueDevice, q->device);
  }
  if (offset + size > kCommonSize) return;
  for (unsigned i = 0; i < size; ++i) img[offset + i] = static_cast<uint8_t>(value >> (8 * i));
  auto touched = [&](uint64_t at, unsigned width) {
    return offset < at + width && offset + size > at;
  };
  const bool queue_writable = q != nullptr && !q->ready;  // §4.1.4.3.2: fixed once enabled
  auto vector = [this](uint64_t v) {
    return v < msix_.size() ? static_cast<uint16_t>(v) : kNoVector;
  };

  if (touched(kDeviceFeatureSelect, 4))
    device_features_sel_ = static_cast<uint32_t>(field(img, kDeviceFeatureSelect, 4));
  if (touched(kDriverFeatureSelect, 4))
    driver_features_sel_ = static_cast<uint32_t>(field(img, kDriverFeatureSelect, 4));
  if (touched(kDriverFeature, 4)) {
    device_->set_driver_features_word(driver_features_sel_,
                                      static_cast<uint32_t>(field(img, kDriverFeature, 4)));
  }
  // §4.1.5.1.2: a vector the device cannot map reads back as NO_VECTOR.
  if (touched(kConfigMsixVector, 2)) config_vector_ = vector(field(img, kConfigMsixVector, 2));
  if (touched(kQueueSelect, 2)) queue_sel_ = static_cast<uint16_t>(field(img, kQueueSelect, 2));
  if (q != nullptr && touched(kQueueMsixVector, 2))
    q->msix_vector = vector(field(img, kQueueMsixVector, 2));
  if (queue_writable) {
    if (touched(kQueueSize, 2)) q->size = static_cast<uint16_t>(field(img, kQueueSize, 2));
    if (touched(kQueueDesc, 8)) q->desc = field(img, kQueueDesc, 8);
    if (touched(kQueueDriver, 8)) q->driver = field(img, kQueueDriver, 8);
    if (touched(kQueueDevice, 8)) q->device = field(img, kQueueDevice, 8);
    // §4.1.4.3.2: the driver never writes 0 to queue_enable.
    if (touched(kQueueEnable, 2) && field(img, kQueueEnable, 2) == 1)
      device_->set_queue_ready(queue_sel_, true);
  }
  if (touched(kDeviceStatus, 1)) device_->set_status(img[kDeviceStatus]);
}

uint8_t PciTransport::read_isr() {
  // §4.1.4.5: reading the ISR status clears it and de-asserts the INTx line.
  const uint8_t v = isr_;
  isr_ = 0;
  if (intx_level_) set_intx_level(false);
  return v;
}

void PciTransport::raise_intx(uint8_t isr_bit) {
  isr_ |= isr_bit;
  if (load_le16(&cfg_[4]) & kCommandIntxDisable) return;
  set_intx_level(true);
}

void PciTransport::set_intx_level(bool asserted) {
  // Through the bridge's pin when there is one: the line may be shared with other functions,
  // and only the bridge knows whether one of them still holds it high.
  if (intx_pin_ != nullptr) {
    intx_level_ = asserted;
    intx_pin_->set_level(asserted);
    return;
  }
  if (intx_gsi_ == UINT32_MAX || services_.interrupts == nullptr) return;
  intx_level_ = asserted;
  services_.interrupts->set_irq(intx_gsi_, asserted);
}

void PciTransport::send_vector(uint16_t vector, uint8_t isr_bit) {
  // §4.1.5.3/4: with MSI-X enabled the mapped vector is sent (none when NO_VECTOR); otherwise
  // the ISR bit is set and INTx asserted.
  if (msix_.enabled()) {
    if (vector != kNoVector) msix_.notify(vector, services_.interrupts);
    return;
  }
  raise_intx(isr_bit);
}

void PciTransport::signal_queue(unsigned queue) {
  QueueConfig* q = device_->queue_config(queue);
  send_vector(q != nullptr ? q->msix_vector : kNoVector, 1);
}

void PciTransport::signal_config() {
  send_vector(config_vector_, 2);
}

void PciTransport::transport_reset() {
  device_features_sel_ = driver_features_sel_ = 0;
  queue_sel_ = 0;
  config_vector_ = kNoVector;
  read_isr();
}

Result<std::unique_ptr<PciTransport>> make_virtio_pci(std::unique_ptr<VirtioDevice> device,
                                                      const DeviceServices& services) {
  if (!device) return errorf(EINVAL, "virtio-pci: no device");
  return std::make_unique<PciTransport>(std::move(device), services);
}

}  // namespace corvid::virtio
