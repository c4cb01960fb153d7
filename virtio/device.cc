#include "virtio/device.h"

#include "base/log.h"

namespace corvid::virtio {

VirtioDevice::~VirtioDevice() {
  if (services_.loop != nullptr) {
    for (const EventFd& kick : kicks_) services_.loop->remove(kick.fd());
    if (kick_any_) services_.loop->remove(kick_any_->fd());
  }
}

Result<> VirtioDevice::init(const DeviceServices& services) {
  if (services.memory == nullptr || services.loop == nullptr) {
    return errorf(EINVAL, "{}: a virtio device needs guest memory and an I/O thread loop", name());
  }
  services_ = services;
  const unsigned n = num_queues();
  configs_.assign(n, QueueConfig{});
  for (QueueConfig& c : configs_) c.size = max_queue_size();
  queues_.assign(n, Virtqueue{});
  for (unsigned q = 0; q < n; ++q) {
    kicks_.push_back(CORVID_TRY(EventFd::create()));
    CORVID_TRY_VOID(services_.loop->add(kicks_.back().fd(), [this, q](uint32_t) {
      kicks_[q].consume();
      kick(q);
    }));
  }
  kick_any_ = std::make_unique<EventFd>(CORVID_TRY(EventFd::create()));
  CORVID_TRY_VOID(services_.loop->add(kick_any_->fd(), [this](uint32_t) {
    kick_any_->consume();
    for (unsigned q = 0; q < configs_.size(); ++q) kick(q);
  }));
  return {};
}

void VirtioDevice::kick(unsigned queue) {
  std::lock_guard lock(mutex_);
  if (live() && queues_[queue].started()) process_queue(queue);
}

uint32_t VirtioDevice::offered_features_word(uint32_t select) const {
  const uint64_t f = offered_features();
  return select == 0 ? static_cast<uint32_t>(f) : select == 1 ? static_cast<uint32_t>(f >> 32) : 0;
}

uint32_t VirtioDevice::driver_features_word(uint32_t select) const {
  return select == 0   ? static_cast<uint32_t>(driver_features_)
         : select == 1 ? static_cast<uint32_t>(driver_features_ >> 32)
                       : 0;
}

void VirtioDevice::set_driver_features_word(uint32_t select, uint32_t value) {
  // §3.1.1: features are fixed once FEATURES_OK is set.
  if (status_ & kStatusFeaturesOk) return;
  if (select == 0) {
    driver_features_ = (driver_features_ & ~0xffffffffull) | value;
  } else if (select == 1) {
    driver_features_ = (driver_features_ & 0xffffffffull) | (uint64_t{value} << 32);
  }
}

void VirtioDevice::reset() {
  // §2.4: reset returns the device to its initial state; nothing in flight may touch the rings.
  status_ = 0;
  driver_features_ = 0;
  broken_ = false;
  ++generation_;
  for (QueueConfig& c : configs_) c = QueueConfig{max_queue_size(), false, 0, 0, 0, kNoVector};
  for (Virtqueue& q : queues_) q.stop();
  on_reset();
  if (transport_ != nullptr) transport_->transport_reset();
}

void VirtioDevice::set_status(uint8_t status) {
  if (status == 0) {
    reset();
    return;
  }
  const uint8_t old = status_;
  // DEVICE_NEEDS_RESET belongs to the device; the driver cannot clear it except by reset.
  uint8_t next = static_cast<uint8_t>((status & ~kStatusNeedsReset) | (old & kStatusNeedsReset));
  if ((next & kStatusFeaturesOk) && !(old & kStatusFeaturesOk)) {
    // §2.2.2 / §3.1.1: accept only a subset of what we offered, and (modern-only device, §6.1)
    // insist on VIRTIO_F_VERSION_1. Refusing = leaving FEATURES_OK clear for the driver to see.
    const bool subset = (driver_features_ & ~offered_features()) == 0;
    if (!subset || !(driver_features_ & kFeatureVersion1)) {
      LOG_WARN("{}: driver features 0x{:x} refused (offered 0x{:x})", name(), driver_features_,
               offered_features());
      next &= static_cast<uint8_t>(~kStatusFeaturesOk);
    }
  }
  status_ = next;
  if ((next & kStatusDriverOk) && !(old & kStatusDriverOk) && !broken_) {
    on_activate();
    // Buffers made available before DRIVER_OK are processed now (§3.1.1 step 8).
    for (unsigned q = 0; q < configs_.size(); ++q) {
      if (queues_[q].started()) kicks_[q].signal();
    }
  }
}

void VirtioDevice::set_queue_ready(unsigned queue, bool ready) {
  if (queue >= configs_.size()) return;
  QueueConfig& c = configs_[queue];
  if (ready && c.ready) return;  // already running: restarting would rewind the ring indices
  if (!ready) {
    c.ready = false;
    queues_[queue].stop();
    return;
  }
  c.ready = true;
  if (c.size > max_queue_size()) {
    mark_broken(Error{EINVAL, fmt::format("queue {}: size {} exceeds the maximum {}", queue, c.size,
                                          max_queue_size())});
    return;
  }
  Virtqueue::Layout layout{c.size, c.desc, c.driver, c.device};
  auto started = queues_[queue].start(*services_.memory, layout, has_feature(kFeatureRingEventIdx));
  if (!started) mark_broken(with_context(started.error(), fmt::format("queue {}", queue)));
}

void VirtioDevice::notify(unsigned queue) {
  if (queue < kicks_.size()) kicks_[queue].signal();
}

bool VirtioDevice::pop(unsigned queue, Chain* chain) {
  if (!live()) return false;
  Virtqueue& vq = queues_[queue];
  auto got = vq.pop(chain);
  if (got && !*got) {
    // Empty: ask for a notification, then look again so a buffer added meanwhile is not missed.
    auto enabled = vq.set_notification(true);
    if (!enabled)
      got = tl::unexpected(enabled.error());
    else
      got = vq.pop(chain);
  }
  if (!got) {
    mark_broken(with_context(got.error(), fmt::format("queue {}", queue)));
    return false;
  }
  return *got;
}

void VirtioDevice::push(unsigned queue, uint16_t head, uint32_t written) {
  if (!live()) return;
  Virtqueue& vq = queues_[queue];
  auto pushed = vq.push(head, written);
  if (!pushed) {
    mark_broken(with_context(pushed.error(), fmt::format("queue {}", queue)));
    return;
  }
  auto notify = vq.should_notify();
  if (!notify) {
    mark_broken(with_context(notify.error(), fmt::format("queue {}", queue)));
    return;
  }
  if (*notify && transport_ != nullptr) transport_->signal_queue(queue);
}

void VirtioDevice::mark_broken(const Error& error) {
  LOG_WARN("{}: device needs reset: {}", name(), error.message);
  broken_ = true;
  status_ |= kStatusNeedsReset;
  for (Virtqueue& q : queues_) q.stop();
  if ((status_ & kStatusDriverOk) && transport_ != nullptr) transport_->signal_config();
}

}  // namespace corvid::virtio
