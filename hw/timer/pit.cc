#include "hw/timer/pit.h"

namespace corvid::hw {

uint64_t Pit::ticks(const Channel& c, uint64_t now) const {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(now - c.start_ns) * kHz) /
                               1000000000u);
}

uint16_t Pit::count(const Channel& c, uint64_t now) const {
  uint64_t t = ticks(c, now);
  uint64_t r = c.reload;
  if (c.mode == 2 || c.mode == 3) return static_cast<uint16_t>(r - (t % r));
  return t >= r ? static_cast<uint16_t>(0x10000 - ((t - r) & 0xffff))
                : static_cast<uint16_t>(r - t);
}

bool Pit::output(const Channel& c, uint64_t now) const {
  uint64_t t = ticks(c, now);
  switch (c.mode) {
    case 2:
      return (t % c.reload) != c.reload - 1;
    case 3:
      return (t % c.reload) < c.reload / 2;
    default:
      return t >= c.reload;  // mode 0/1/4/5: out goes high at terminal count
  }
}

uint64_t Pit::io_read(uint64_t offset, unsigned) {
  std::lock_guard lock(mutex_);
  if (offset >= 3) return 0xff;
  Channel& c = ch_[offset];
  uint16_t v = c.latched ? c.latch : count(c, now_ns_());
  uint8_t out;
  if (c.access == 1) {
    out = v & 0xff;
  } else if (c.access == 2) {
    out = v >> 8;
  } else {
    out = c.read_hi ? v >> 8 : v & 0xff;
    c.read_hi ^= 1;
  }
  if (c.latched && (c.access != 3 || !c.read_hi)) c.latched = false;
  return out;
}

void Pit::io_write(uint64_t offset, unsigned, uint64_t value) {
  std::lock_guard lock(mutex_);
  uint8_t v = static_cast<uint8_t>(value);
  uint64_t now = now_ns_();
  if (offset == 3) {
    unsigned sel = v >> 6;
    if (sel == 3) {  // read-back: latch the selected counts
      for (unsigned i = 0; i < 3; ++i) {
        if ((v & (2u << i)) && !(v & 0x20)) {
          ch_[i].latch = count(ch_[i], now);
          ch_[i].latched = true;
        }
      }
      return;
    }
    Channel& c = ch_[sel];
    unsigned access = (v >> 4) & 3;
    if (access == 0) {
      c.latch = count(c, now);
      c.latched = true;
      return;
    }
    c.access = static_cast<uint8_t>(access);
    c.mode = (v >> 1) & 7;
    if (c.mode > 5) c.mode -= 4;
    c.read_hi = c.write_hi = 0;
    return;
  }
  if (offset > 2) return;
  Channel& c = ch_[offset];
  auto load = [&](uint32_t r) {
    c.reload = r ? r : 0x10000;
    c.start_ns = now;
    c.fired = 0;
  };
  if (c.access == 1) {
    load(v);
  } else if (c.access == 2) {
    load(static_cast<uint32_t>(v) << 8);
  } else if (!c.write_hi) {
    c.write_low = v;
    c.write_hi = 1;
  } else {
    c.write_hi = 0;
    load(c.write_low | (static_cast<uint32_t>(v) << 8));
  }
}

uint64_t Pit::Port61::io_read(uint64_t, unsigned) {
  std::lock_guard lock(pit_->mutex_);
  bool out = pit_->output(pit_->ch_[2], pit_->now_ns_());
  // Bit 5: channel 2 output; bit 4 toggles with refresh (approximated from time).
  uint8_t refresh = ((pit_->now_ns_() / 15000) & 1) << 4;
  return (pit_->port61_ & 0x0f) | (out ? 0x20 : 0) | refresh;
}

void Pit::Port61::io_write(uint64_t, unsigned, uint64_t value) {
  std::lock_guard lock(pit_->mutex_);
  bool gate = value & 1;
  Channel& c = pit_->ch_[2];
  if (gate && !(pit_->port61_ & 1)) c.start_ns = pit_->now_ns_();  // rising gate restarts
  c.gate = gate;
  pit_->port61_ = static_cast<uint8_t>(value);
}

uint64_t Pit::poll() {
  bool raise = false;
  uint64_t wait = UINT64_MAX;
  {
    std::lock_guard lock(mutex_);
    Channel& c = ch_[0];
    if (c.start_ns == 0) return UINT64_MAX;  // never programmed
    uint64_t now = now_ns_();
    uint64_t periods = ticks(c, now) / c.reload;
    bool periodic = c.mode == 2 || c.mode == 3;
    if (!periodic && periods > 1) periods = 1;
    if (periods > c.fired) {
      c.fired = periods;
      raise = true;
    }
    if (periodic || c.fired == 0) {
      uint64_t next_tick = (c.fired + 1) * c.reload;
      uint64_t next_ns = c.start_ns + next_tick * 1000000000u / kHz;
      wait = next_ns > now ? next_ns - now : 0;
    }
  }
  if (raise && irq0_) {
    irq0_(true);
    irq0_(false);
  }
  return wait;
}

}  // namespace corvid::hw
