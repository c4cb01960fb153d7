#include "hw/intc/ioapic.h"

namespace corvid::hw {
namespace {

constexpr uint64_t kMask = 1ull << 16, kLevel = 1ull << 15, kRemoteIrr = 1ull << 14,
                   kLogical = 1ull << 11;

}  // namespace

uint64_t Ioapic::io_read(uint64_t offset, unsigned) {
  std::lock_guard lock(mutex_);
  if (offset == 0x00) return index_;
  if (offset != 0x10) return 0;
  switch (index_) {
    case 0:
      return id_;
    case 1:
      return ((kPins - 1) << 16) | 0x20;  // version 0x20, max redirection entry
    case 2:
      return id_;
    default:
      if (index_ >= 0x10 && index_ < 0x10 + 2 * kPins) {
        uint64_t r = redir_[(index_ - 0x10) / 2];
        return (index_ & 1) ? r >> 32 : r & 0xffffffffull;
      }
      return 0;
  }
}

void Ioapic::io_write(uint64_t offset, unsigned, uint64_t value) {
  std::unique_lock lock(mutex_);
  uint32_t v = static_cast<uint32_t>(value);
  if (offset == 0x00) {
    index_ = v & 0xff;
    return;
  }
  if (offset == 0x40) {  // EOI register (version 0x20)
    lock.unlock();
    eoi(static_cast<uint8_t>(v));
    return;
  }
  if (offset != 0x10) return;
  if (index_ == 0) {
    id_ = v & 0x0f000000;
  } else if (index_ >= 0x10 && index_ < 0x10 + 2 * kPins) {
    unsigned pin = (index_ - 0x10) / 2;
    uint64_t& r = redir_[pin];
    if (index_ & 1) {
      r = (r & 0xffffffffull) | (static_cast<uint64_t>(v) << 32);
    } else {
      // Delivery status and remote IRR are read-only.
      r = (r & ~0xffffffffull) | (v & ~0x5000u) | (r & kRemoteIrr);
    }
    service_locked(pin);
  }
}

void Ioapic::service_locked(unsigned pin) {
  uint64_t& r = redir_[pin];
  if (!line_[pin] || (r & kMask)) return;
  bool level = r & kLevel;
  if (level) {
    if (r & kRemoteIrr) return;
    r |= kRemoteIrr;
  }
  deliver_(static_cast<uint32_t>(r >> 56), r & kLogical, static_cast<uint8_t>(r & 0xff), level);
}

void Ioapic::set_irq(uint32_t pin, bool level) {
  if (pin >= kPins) return;
  std::lock_guard lock(mutex_);
  bool was = line_[pin];
  line_[pin] = level;
  bool is_level = redir_[pin] & kLevel;
  if (level && (is_level || !was)) service_locked(pin);
}

void Ioapic::eoi(uint8_t vector) {
  std::lock_guard lock(mutex_);
  for (unsigned pin = 0; pin < kPins; ++pin) {
    if ((redir_[pin] & 0xff) == vector && (redir_[pin] & kRemoteIrr)) {
      redir_[pin] &= ~kRemoteIrr;
      service_locked(pin);
    }
  }
}

}  // namespace corvid::hw
