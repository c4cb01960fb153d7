// The PC's CMOS real-time clock, a Motorola MC146818A (datasheet: "MC146818A Real-Time Clock plus
// RAM", register tables 3-5): index port 0x70 (bit 7 is the chipset's NMI mask, ignored), data port
// 0x71, IRQ 8. Time of day follows the host clock plus whatever offset the guest sets; registers
// A-D, BCD/binary and 12/24-hour formats, the SET bit and divider reset, the update-in-progress
// window, and update / alarm / periodic interrupts (flags latched in register C, IRQ 8 raised while
// an enabled flag is pending). The rest of the 128 bytes is CMOS RAM, filled with the memory sizes
// a PC BIOS leaves there.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"

namespace corvid::hw {

// What the RTC keeps across a guest reset, as a PC's battery-backed clock does (QEMU's RTC keeps
// its time and CMOS RAM through system_reset): the guest-set time offset and the 128 bytes.
struct CmosRtcRetained {
  bool valid = false;
  int64_t offset_ns = 0;
  uint8_t ram[128] = {};
};

class CmosRtc final : public IoHandler {
 public:
  static constexpr uint16_t kBasePort = 0x70;  // 0x70 index, 0x71 data
  static constexpr uint16_t kPortCount = 2;
  static constexpr uint32_t kGsi = 8;
  static constexpr uint8_t kCenturyIndex = 0x32;  // what the FADT's CENTURY field names

  struct Config {
    uint64_t low_ram_bytes = 0;   // RAM below 4 GiB
    uint64_t high_ram_bytes = 0;  // RAM above 4 GiB
    int cpus = 1;
    // When set, the state a previous RTC left here on destruction is taken over (reset as a
    // reset signal resets it: the interrupt enables and pending flags clear) and this RTC leaves
    // its own state here when it goes.
    CmosRtcRetained* retained = nullptr;
  };
  // Nanoseconds since the Unix epoch; CLOCK_REALTIME when empty (tests pass a fake).
  using Clock = std::function<int64_t()>;

  // irq may be null (no interrupt line).
  CmosRtc(const Config& config, InterruptSink* irq, Clock clock = {});
  ~CmosRtc() override;

  // Delivers interrupts on time through a timerfd on loop's thread. Without it, flags are still
  // set when register C is read, but IRQ 8 rises only then. Call stop_timer before the loop goes.
  Result<> start_timer(EventLoop* loop);
  void stop_timer();

  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

 private:
  uint8_t read_register(uint8_t index);
  void write_register(uint8_t index, uint8_t value);
  int64_t guest_ns() const { return clock_() + offset_ns_; }
  bool running() const;
  void snapshot_time();          // current time into the time registers
  int64_t held_seconds() const;  // the time registers, decoded
  void set_time(int64_t seconds, int64_t phase_ns);
  uint8_t encode(int value) const;
  int decode(uint8_t value) const;
  uint8_t encode_hour(int hour) const;
  bool alarm_matches(int64_t seconds) const;
  int64_t next_alarm_after(int64_t seconds) const;
  int64_t period_ns() const;
  void update_flags();
  void update_irq();
  void arm_timer();
  void on_timer();

  InterruptSink* irq_;
  CmosRtcRetained* retained_;
  Clock clock_;
  std::mutex mutex_;
  uint8_t index_ = 0;
  uint8_t ram_[128] = {};
  int64_t offset_ns_ = 0;   // guest time minus host time
  int64_t flags_upto_ = 0;  // guest time up to which register C's flags are current
  bool irq_level_ = false;
  EventLoop* loop_ = nullptr;
  UniqueFd timer_;
};

}  // namespace corvid::hw
