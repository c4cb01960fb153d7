// The transport-independent half of every virtio device (virtio 1.2 §2, §3): device status,
// feature negotiation, virtqueue configuration and the "broken device" state. A concrete device
// (blk, rng, console) adds its feature bits, its configuration space and what a queue kick does.
//
// Threading: transports call in from vCPU threads with mutex() held; queue kicks arrive as
// eventfd signals (from the transport or from a KVM ioeventfd) and are processed on the I/O
// thread's EventLoop, also with mutex() held. Completions of the block layer run there too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "base/result.h"
#include "hw/core/guest_memory.h"
#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"
#include "virtio/virtqueue.h"

namespace corvid::virtio {

// Device status bits (§2.1).
inline constexpr uint8_t kStatusAcknowledge = 1;
inline constexpr uint8_t kStatusDriver = 2;
inline constexpr uint8_t kStatusDriverOk = 4;
inline constexpr uint8_t kStatusFeaturesOk = 8;
inline constexpr uint8_t kStatusNeedsReset = 64;
inline constexpr uint8_t kStatusFailed = 128;

// Reserved feature bits (§6).
inline constexpr uint64_t kFeatureRingIndirectDesc = 1ull << 28;
inline constexpr uint64_t kFeatureRingEventIdx = 1ull << 29;
inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;

inline constexpr uint16_t kNoVector = 0xffff;  // §4.1.4.3 VIRTIO_MSI_NO_VECTOR

// What the board hands every device.
struct DeviceServices {
  hw::GuestMemory* memory = nullptr;
  hw::InterruptSink* interrupts = nullptr;
  EventLoop* loop = nullptr;  // the I/O thread's loop; must outlive the device
  // Optional: wraps Accelerator::add_ioeventfd. Empty or ENOTSUP: notifies arrive as IoBus writes.
  std::function<Result<>(hw::IoSpace, uint64_t addr, unsigned size, int eventfd)> add_ioeventfd;
  // Undoes one add_ioeventfd binding (wraps Accelerator::remove_ioeventfd).
  std::function<Result<>(hw::IoSpace, uint64_t addr, unsigned size, int eventfd)> remove_ioeventfd;
};

// How the device core reaches the driver: implemented by the PCI and MMIO transports.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void signal_queue(unsigned queue) = 0;  // used buffer notification
  virtual void signal_config() = 0;               // configuration change notification
  virtual void transport_reset() {}               // the device was reset (status 0)
};

// Per-queue configuration as the driver writes it through the transport.
struct QueueConfig {
  uint16_t size = 0;
  bool ready = false;
  uint64_t desc = 0, driver = 0, device = 0;
  uint16_t msix_vector = kNoVector;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice();

  // --- what a concrete device describes ---
  virtual uint32_t device_id() const = 0;  // §5: 2 block, 3 console, 4 entropy
  virtual std::string name() const = 0;
  virtual uint32_t pci_class() const = 0;        // class << 16 | subclass << 8 | prog-if
  virtual uint64_t device_features() const = 0;  // device-type bits only
  virtual unsigned num_queues() const = 0;
  virtual uint16_t max_queue_size() const { return 256; }
  virtual uint32_t config_size() const = 0;
  // Device configuration space (§2.5), little-endian; out-of-range bytes read as 0.
  virtual void read_config(uint32_t offset, uint8_t* data, uint32_t len) = 0;
  virtual void write_config(uint32_t offset, const uint8_t* data, uint32_t len) {
    (void)offset, (void)data, (void)len;
  }

  // --- called by transports, with mutex() held ---
  std::recursive_mutex& mutex() { return mutex_; }
  void attach(Transport* transport) { transport_ = transport; }
  uint64_t offered_features() const {
    return device_features() | kFeatureVersion1 | kFeatureRingIndirectDesc | kFeatureRingEventIdx;
  }
  uint32_t offered_features_word(uint32_t select) const;
  uint32_t driver_features_word(uint32_t select) const;
  void set_driver_features_word(uint32_t select, uint32_t value);
  uint64_t negotiated_features() const { return driver_features_; }
  uint8_t status() const { return status_; }
  void set_status(uint8_t status);
  uint8_t config_generation() const { return config_generation_; }
  QueueConfig* queue_config(unsigned queue) {
    return queue < configs_.size() ? &configs_[queue] : nullptr;
  }
  // The driver set queue_enable / QueueReady: validates the layout now (a bad one breaks the
  // device).
  void set_queue_ready(unsigned queue, bool ready);
  // Queue notification from the transport: wakes the I/O thread.
  void notify(unsigned queue);
  // Eventfds the board may bind to ioeventfds: one per queue, and one that scans every queue
  // (virtio-mmio has a single notify register for all queues).
  int queue_kick_fd(unsigned queue) const { return kicks_[queue].fd(); }
  int any_kick_fd() const { return kick_any_->fd(); }
  bool broken() const { return broken_; }

 protected:
  VirtioDevice() = default;
  // Creates the kick eventfds and registers them with the loop; factories call it once.
  Result<> init(const DeviceServices& services);

  // Called on the I/O thread, mutex() held, when queue `queue` may have new buffers and the
  // device is live (DRIVER_OK, not broken).
  virtual void process_queue(unsigned queue) = 0;
  virtual void on_activate() {}  // DRIVER_OK was set
  virtual void on_reset() {}     // the driver reset the device: forget in-flight work

  // For devices: pops the next chain of `queue` (re-enabling driver notifications when the ring
  // is empty, §2.7.10). A malformed ring marks the device broken and returns false.
  bool pop(unsigned queue, Chain* chain);
  // Returns a chain and raises the queue's interrupt unless the driver suppressed it (§2.7.7).
  void push(unsigned queue, uint16_t head, uint32_t written);
  // §2.1.2: an error the device cannot recover from: set DEVICE_NEEDS_RESET, stop the queues
  // and, once DRIVER_OK, send a configuration change notification.
  void mark_broken(const Error& error);
  bool live() const { return (status_ & kStatusDriverOk) && !broken_; }
  // Incremented on every reset: asynchronous completions of an older generation are dropped.
  uint64_t generation() const { return generation_; }
  const DeviceServices& services() const { return services_; }
  bool has_feature(uint64_t bit) const { return (driver_features_ & bit) != 0; }

 private:
  void reset();
  void kick(unsigned queue);

  // Recursive: block completions take it themselves, and may run inside process_queue().
  std::recursive_mutex mutex_;
  DeviceServices services_;
  Transport* transport_ = nullptr;
  uint8_t status_ = 0;
  uint64_t driver_features_ = 0;
  uint8_t config_generation_ = 0;
  bool broken_ = false;
  uint64_t generation_ = 0;
  std::vector<QueueConfig> configs_;
  std::vector<Virtqueue> queues_;
  std::vector<EventFd> kicks_;
  std::unique_ptr<EventFd> kick_any_;
};

}  // namespace corvid::virtio
