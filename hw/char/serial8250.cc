// Register behaviour from the National Semiconductor PC16550D datasheet (tables 2, 4 and 5).
#include "hw/char/serial8250.h"

namespace corvid::hw {
namespace {

constexpr uint8_t kIerRdi = 0x01, kIerThri = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThri = 0x02, kIirRdi = 0x04, kIirFifo = 0xc0;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
// Bounded so a host flooding stdin cannot grow memory without limit; the guest sees an overrun.
constexpr size_t kRxMax = 4096;

}  // namespace

uint8_t Serial8250::iir_locked() const {
  const uint8_t fifo = fifo_enabled_ ? kIirFifo : 0;
  if ((ier_ & kIerRdi) && !rx_.empty()) return fifo | kIirRdi;
  if ((ier_ & kIerThri) && thre_pending_) return fifo | kIirThri;
  return fifo | kIirNone;
}

// On a PC the UART's interrupt output is gated by OUT2 (IBM PC/AT technical reference).
void Serial8250::update_irq_locked() {
  bool level = !(iir_locked() & kIirNone) && (mcr_ & kMcrOut2);
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_irq(gsi_, level);
}

uint64_t Serial8250::io_read(uint64_t offset, unsigned) {
  std::lock_guard lock(mutex_);
  uint8_t v = 0;
  switch (offset) {
    case 0:
      if (lcr_ & kLcrDlab) {
        v = dll_;
      } else if (!rx_.empty()) {
        v = rx_.front();
        rx_.pop_front();
      }
      break;
    case 1:
      v = (lcr_ & kLcrDlab) ? dlm_ : ier_;
      break;
    case 2:
      v = iir_locked();
      if ((v & 0x0f) == kIirThri) thre_pending_ = false;  // reading IIR acknowledges THRE
      break;
    case 3:
      v = lcr_;
      break;
    case 4:
      v = mcr_;
      break;
    case 5:
      v = static_cast<uint8_t>(kLsrThre | kLsrTemt | (rx_.empty() ? 0 : kLsrDr));
      break;
    case 6:
      if (mcr_ & kMcrLoop) {
        // Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
        v = static_cast<uint8_t>(((mcr_ & kMcrDtr) ? 0x20 : 0) | ((mcr_ & kMcrRts) ? 0x10 : 0) |
                                 ((mcr_ & kMcrOut1) ? 0x40 : 0) | ((mcr_ & kMcrOut2) ? 0x80 : 0));
      } else {
        v = 0xb0;  // DCD, DSR, CTS: a connected terminal
      }
      break;
    case 7:
      v = scr_;
      break;
    default:
      break;
  }
  update_irq_locked();
  return v;
}

void Serial8250::io_write(uint64_t offset, unsigned, uint64_t value) {
  const uint8_t v = static_cast<uint8_t>(value);
  std::unique_lock lock(mutex_);
  switch (offset) {
    case 0:
      if (lcr_ & kLcrDlab) {
        dll_ = v;
        break;
      }
      thre_pending_ = true;  // transmitted at once, so THR is empty again
      if (mcr_ & kMcrLoop) {
        if (rx_.size() < kRxMax) rx_.push_back(v);
      } else {
        lock.unlock();
        backend_->write(std::span<const uint8_t>(&v, 1));
        lock.lock();
      }
      break;
    case 1:
      if (lcr_ & kLcrDlab) {
        dlm_ = v;
      } else {
        // Enabling THRI while THR is empty raises the interrupt at once (16550 behaviour Linux's
        // driver probes for).
        if ((v & kIerThri) && !(ier_ & kIerThri)) thre_pending_ = true;
        ier_ = v & 0x0f;
      }
      break;
    case 2:
      fifo_enabled_ = v & kFcrEnable;
      if (v & kFcrClearRx) rx_.clear();
      break;
    case 3:
      lcr_ = v;
      break;
    case 4:
      mcr_ = v & 0x1f;
      break;
    case 7:
      scr_ = v;
      break;
    default:
      break;
  }
  update_irq_locked();
}

void Serial8250::receive(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  for (uint8_t b : bytes) {
    if (rx_.size() >= kRxMax) break;
    rx_.push_back(b);
  }
  update_irq_locked();
}

}  // namespace corvid::hw
