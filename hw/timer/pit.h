// The 8254 PIT (Intel 82C54 datasheet): three counters at 1.193182 MHz, modes 0-5 (2 and 3
// periodic, the rest one-shot), lobyte/hibyte/word access, counter latch, and port 0x61's gate
// and output bits for channel 2 (how Linux calibrates the TSC). Time is computed from a clock on
// demand; poll() raises IRQ0 edges for channel 0.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "hw/core/io_bus.h"

namespace corvid::hw {

class Pit : public IoHandler {
 public:
  static constexpr uint64_t kHz = 1193182;
  Pit(std::function<uint64_t()> now_ns, std::function<void(bool)> irq0)
      : now_ns_(std::move(now_ns)), irq0_(std::move(irq0)) {}

  // Ports 0x40-0x43 (offset 0-3) and, through port61, 0x61.
  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

  class Port61 : public IoHandler {
   public:
    explicit Port61(Pit* pit) : pit_(pit) {}
    uint64_t io_read(uint64_t, unsigned) override;
    void io_write(uint64_t, unsigned, uint64_t value) override;

   private:
    Pit* pit_;
  };
  Port61 port61{this};

  // Raises IRQ0 if channel 0 reached terminal count since the last poll; returns ns until the
  // next expiry (UINT64_MAX when none).
  uint64_t poll();

 private:
  struct Channel {
    uint32_t reload = 0x10000;
    uint8_t mode = 0, access = 3, read_hi = 0, write_hi = 0, write_low = 0;
    bool latched = false, gate = true;
    uint16_t latch = 0;
    uint64_t start_ns = 0;
    uint64_t fired = 0;  // periods already signalled (channel 0)
  };
  uint64_t ticks(const Channel& c, uint64_t now) const;
  uint16_t count(const Channel& c, uint64_t now) const;
  bool output(const Channel& c, uint64_t now) const;

  std::function<uint64_t()> now_ns_;
  std::function<void(bool)> irq0_;
  std::mutex mutex_;
  Channel ch_[3];
  uint8_t port61_ = 0;
};

}  // namespace corvid::hw
