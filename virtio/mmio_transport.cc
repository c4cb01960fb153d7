#include "virtio/mmio_transport.h"

#include "base/log.h"

namespace corvid::virtio {

namespace {

// Register offsets (§4.2.2, table "MMIO Device Register Layout").
enum : uint64_t {
  kMagicValue = 0x000,
  kVersion = 0x004,
  kDeviceId = 0x008,
  kVendorId = 0x00c,
  kDeviceFeatures = 0x010,
  kDeviceFeaturesSel = 0x014,
  kDriverFeatures = 0x020,
  kDriverFeaturesSel = 0x024,
  kQueueSel = 0x030,
  kQueueNumMax = 0x034,
  kQueueNum = 0x038,
  kQueueReady = 0x044,
  kQueueNotify = 0x050,
  kInterruptStatus = 0x060,
  kInterruptAck = 0x064,
  kStatus = 0x070,
  kQueueDescLow = 0x080,
  kQueueDescHigh = 0x084,
  kQueueDriverLow = 0x090,
  kQueueDriverHigh = 0x094,
  kQueueDeviceLow = 0x0a0,
  kQueueDeviceHigh = 0x0a4,
  kShmSel = 0x0ac,
  kShmLenLow = 0x0b0,
  kShmLenHigh = 0x0b4,
  kShmBaseLow = 0x0b8,
  kShmBaseHigh = 0x0bc,
  kConfigGeneration = 0x0fc,
  kConfig = 0x100,
};

constexpr uint32_t kMagic = 0x74726976;   // "virt"
constexpr uint32_t kVendor = 0x44525643;  // "CVRD": any value is allowed (§4.2.2)
constexpr uint32_t kInterruptUsedBuffer = 1, kInterruptConfigChange = 2;

void set_low(uint64_t* v, uint32_t low) {
  *v = (*v & ~0xffffffffull) | low;
}
void set_high(uint64_t* v, uint32_t high) {
  *v = (*v & 0xffffffffull) | (uint64_t{high} << 32);
}

}  // namespace

MmioTransport::MmioTransport(std::unique_ptr<VirtioDevice> device, hw::InterruptSink* interrupts,
                             uint64_t base, uint32_t gsi)
    : device_(std::move(device)), interrupts_(interrupts), base_(base), gsi_(gsi) {
  device_->attach(this);
}

MmioTransport::~MmioTransport() {
  device_->attach(nullptr);
}

uint64_t MmioTransport::io_read(uint64_t offset, unsigned size) {
  std::lock_guard lock(device_->mutex());
  if (offset >= kConfig) {
    uint8_t bytes[8] = {};
    device_->read_config(static_cast<uint32_t>(offset - kConfig), bytes, size);
    uint64_t v = 0;
    for (unsigned i = 0; i < size && i < 8; ++i) v |= uint64_t{bytes[i]} << (8 * i);
    return v;
  }
  // §4.2.2.2: control registers are accessed with aligned 32-bit accesses only.
  if (size != 4 || offset % 4 != 0) return 0;
  return read_register(offset);
}

void MmioTransport::io_write(uint64_t offset, unsigned size, uint64_t value) {
  std::lock_guard lock(device_->mutex());
  if (offset >= kConfig) {
    uint8_t bytes[8];
    for (unsigned i = 0; i < size && i < 8; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
    device_->write_config(static_cast<uint32_t>(offset - kConfig), bytes, size);
    return;
  }
  if (size != 4 || offset % 4 != 0) return;
  write_register(offset, static_cast<uint32_t>(value));
}

uint32_t MmioTransport::read_register(uint64_t offset) {
  QueueConfig* q = device_->queue_config(queue_sel_);
  switch (offset) {
    case kMagicValue:
      return kMagic;
    case kVersion:
      return 2;
    case kDeviceId:
      return device_->device_id();
    case kVendorId:
      return kVendor;
    case kDeviceFeatures:
      return device_->offered_features_word(device_features_sel_);
    case kQueueNumMax:
      return q != nullptr ? device_->max_queue_size() : 0;  // 0: no such queue
    case kQueueNum:
      return q != nullptr ? q->size : 0;
    case kQueueReady:
      return q != nullptr && q->ready ? 1 : 0;
    case kInterruptStatus:
      return interrupt_status_;
    case kStatus:
      return device_->status();
    case kQueueDescLow:
      return q != nullptr ? static_cast<uint32_t>(q->desc) : 0;
    case kQueueDescHigh:
      return q != nullptr ? static_cast<uint32_t>(q->desc >> 32) : 0;
    case kQueueDriverLow:
      return q != nullptr ? static_cast<uint32_t>(q->driver) : 0;
    case kQueueDriverHigh:
      return q != nullptr ? static_cast<uint32_t>(q->driver >> 32) : 0;
    case kQueueDeviceLow:
      return q != nullptr ? static_cast<uint32_t>(q->device) : 0;
    case kQueueDeviceHigh:
      return q != nullptr ? static_cast<uint32_t>(q->device >> 32) : 0;
    // No shared memory regions: a length of all ones says "not present" (§4.2.2).
    case kShmLenLow:
    case kShmLenHigh:
    case kShmBaseLow:
    case kShmBaseHigh:
      return 0xffffffff;
    case kConfigGeneration:
      return device_->config_generation();
    default:
      return 0;
  }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  QueueConfig* q = device_->queue_config(queue_sel_);
  // §4.2.2.3: queue registers must not change while the queue is ready; such writes are ignored.
  QueueConfig* writable = q != nullptr && !q->ready ? q : nullptr;
  switch (offset) {
    case kDeviceFeaturesSel:
      device_features_sel_ = value;
      break;
    case kDriverFeatures:
      device_->set_driver_features_word(driver_features_sel_, value);
      break;
    case kDriverFeaturesSel:
      driver_features_sel_ = value;
      break;
    case kQueueSel:
      queue_sel_ = value;
      break;
    case kQueueNum:
      if (writable) writable->size = static_cast<uint16_t>(value > 0xffff ? 0 : value);
      break;
    case kQueueReady:
      if (q != nullptr) device_->set_queue_ready(queue_sel_, value & 1);
      break;
    case kQueueNotify:
      device_->notify(value & 0xffff);
      break;
    case kInterruptAck:
      interrupt_status_ &= ~value;
      if (interrupt_status_ == 0 && interrupts_ != nullptr) interrupts_->set_irq(gsi_, false);
      break;
    case kStatus:
      device_->set_status(static_cast<uint8_t>(value));
      break;
    case kQueueDescLow:
      if (writable) set_low(&writable->desc, value);
      break;
    case kQueueDescHigh:
      if (writable) set_high(&writable->desc, value);
      break;
    case kQueueDriverLow:
      if (writable) set_low(&writable->driver, value);
      break;
    case kQueueDriverHigh:
      if (writable) set_high(&writable->driver, value);
      break;
    case kQueueDeviceLow:
      if (writable) set_low(&writable->device, value);
      break;
    case kQueueDeviceHigh:
      if (writable) set_high(&writable->device, value);
      break;
    default:
      break;  // read-only or unknown registers
  }
}

void MmioTransport::raise(uint32_t bits) {
  interrupt_status_ |= bits;
  // The line stays high while InterruptStatus is non-zero (§4.2.3.4: the driver acknowledges
  // through InterruptACK).
  if (interrupts_ != nullptr) interrupts_->set_irq(gsi_, true);
}

void MmioTransport::signal_queue(unsigned) {
  raise(kInterruptUsedBuffer);
}
void MmioTransport::signal_config() {
  raise(kInterruptConfigChange);
}

void MmioTransport::transport_reset() {
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  if (interrupt_status_ != 0 && interrupts_ != nullptr) interrupts_->set_irq(gsi_, false);
  interrupt_status_ = 0;
}

Result<std::unique_ptr<MmioTransport>> make_virtio_mmio(std::unique_ptr<VirtioDevice> device,
                                                        const DeviceServices& services,
                                                        uint64_t base, uint32_t gsi) {
  if (!device) return errorf(EINVAL, "virtio-mmio at 0x{:x}: no device", base);
  if (services.add_ioeventfd) {
    auto bound =
        services.add_ioeventfd(hw::IoSpace::kMmio, base + kQueueNotify, 4, device->any_kick_fd());
    if (!bound && bound.error().code != ENOTSUP) {
      return tl::unexpected(
          with_context(bound.error(), fmt::format("virtio-mmio at 0x{:x}: ioeventfd", base)));
    }
  }
  return std::make_unique<MmioTransport>(std::move(device), services.interrupts, base, gsi);
}

}  // namespace corvid::virtio
