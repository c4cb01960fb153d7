// Register semantics from the MC146818A datasheet ("Address map", "Register A".."Register D",
// "Update cycle"); the CMOS RAM layout is the IBM PC/AT's as BIOSes (and QEMU's pc machine) fill
// it.
#include "hw/rtc/cmos_rtc.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include "base/log.h"

namespace corvid::hw {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
// UIP rises 244 us (8 cycles of the 32.768 kHz time base) before the update; our update itself
// takes no time, so that window is the whole of it.
constexpr int64_t kUipWindowNs = 8 * kNsPerSec / 32768;
// Guest-set times are kept within what int64 nanoseconds hold (years 1970..2242).
constexpr int64_t kMaxSeconds = int64_t{1} << 33;

// Register indices.
constexpr uint8_t kSeconds = 0x00, kSecondsAlarm = 0x01, kMinutes = 0x02, kMinutesAlarm = 0x03,
                  kHours = 0x04, kHoursAlarm = 0x05, kWeekday = 0x06, kDay = 0x07, kMonth = 0x08,
                  kYear = 0x09, kRegA = 0x0a, kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d;
constexpr uint8_t kRegAUip = 0x80, kRegADividerMask = 0x70, kRegARateMask = 0x0f;
constexpr uint8_t kRegBSet = 0x80, kRegBPie = 0x40, kRegBAie = 0x20, kRegBUie = 0x10,
                  kRegBSqwe = 0x08, kRegBBinary = 0x04, kRegB24h = 0x02;
constexpr uint8_t kRegCIrqf = 0x80, kRegCPf = 0x40, kRegCAf = 0x20, kRegCUf = 0x10;
constexpr uint8_t kRegDValid = 0x80;  // VRT: the battery is good
constexpr uint8_t kAlarmDontCare = 0xc0;

// PC/AT CMOS RAM (IBM PC/AT Technical Reference, "CMOS RAM address map"), plus the bytes QEMU
// and SeaBIOS agree on for RAM above 16 MiB / 4 GiB and the CPU count.
constexpr uint8_t kEquipment = 0x14, kBaseMemLo = 0x15, kBaseMemHi = 0x16, kExtMemLo = 0x17,
                  kExtMemHi = 0x18, kChecksumHi = 0x2e, kChecksumLo = 0x2f, kExtMem2Lo = 0x30,
                  kExtMem2Hi = 0x31, kMem16MLo = 0x34, kMem16MHi = 0x35, kMem4G0 = 0x5b,
                  kMem4G1 = 0x5c, kMem4G2 = 0x5d, kCpuCount = 0x5f;
constexpr uint8_t kEquipmentFpu = 0x02;

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Nanoseconds since the start of the current second of a clock reading.
int64_t second_phase(int64_t ns) {
  return ns - floor_div(ns, kNsPerSec) * kNsPerSec;
}

// The time-of-day registers (and the century byte): read from and written to the running clock.
bool is_clock_register(uint8_t index) {
  switch (index) {
    case kSeconds:
    case kMinutes:
    case kHours:
    case kWeekday:
    case kDay:
    case kMonth:
    case kYear:
    case CmosRtc::kCenturyIndex:
      return true;
    default:
      return false;
  }
}

tm broken_down(int64_t seconds) {
  time_t t = static_cast<time_t>(seconds);
  tm out{};
  gmtime_r(&t, &out);
  return out;
}

// An alarm byte of 0xc0..0xff matches any value (datasheet, "Alarm").
bool alarm_byte_matches(uint8_t alarm, uint8_t now) {
  return (alarm & kAlarmDontCare) == kAlarmDontCare || alarm == now;
}

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * kNsPerSec + ts.tv_nsec;
}

}  // namespace

CmosRtc::CmosRtc(const Config& config, InterruptSink* irq, Clock clock)
    : irq_(irq), retained_(config.retained), clock_(clock ? std::move(clock) : Clock(realtime_ns)) {
  ram_[kRegA] = 0x26;  // 32.768 kHz time base, 1024 Hz periodic rate (the BIOS setting)
  ram_[kRegB] = kRegB24h;
  ram_[kRegD] = kRegDValid;
  ram_[kEquipment] = kEquipmentFpu;
  const uint64_t kib = 1024, mib = kib * kib;
  ram_[kBaseMemLo] = 640 & 0xff;
  ram_[kBaseMemHi] = 640 >> 8;
  // Extended memory: KiB from 1 MiB up, at most 0xffff; the 64 KiB blocks above 16 MiB and 4 GiB.
  const uint64_t ext = config.low_ram_bytes > mib
                           ? std::min<uint64_t>((config.low_ram_bytes - mib) / kib, 0xffff)
                           : 0;
  ram_[kExtMemLo] = ram_[kExtMem2Lo] = static_cast<uint8_t>(ext);
  ram_[kExtMemHi] = ram_[kExtMem2Hi] = static_cast<uint8_t>(ext >> 8);
  const uint64_t above16 =
      config.low_ram_bytes > 16 * mib
          ? std::min<uint64_t>((config.low_ram_bytes - 16 * mib) / (64 * kib), 0xffff)
          : 0;
  ram_[kMem16MLo] = static_cast<uint8_t>(above16);
  ram_[kMem16MHi] = static_cast<uint8_t>(above16 >> 8);
  const uint64_t above4g = std::min<uint64_t>(config.high_ram_bytes / (64 * kib), 0xffffff);
  ram_[kMem4G0] = static_cast<uint8_t>(above4g);
  ram_[kMem4G1] = static_cast<uint8_t>(above4g >> 8);
  ram_[kMem4G2] = static_cast<uint8_t>(above4g >> 16);
  ram_[kCpuCount] = static_cast<uint8_t>(std::clamp(config.cpus, 1, 256) - 1);
  // The AT checksum covers 0x10..0x2d, stored big-endian at 0x2e.
  unsigned sum = 0;
  for (unsigned i = 0x10; i <= 0x2d; ++i) sum += ram_[i];
  ram_[kChecksumHi] = static_cast<uint8_t>(sum >> 8);
  ram_[kChecksumLo] = static_cast<uint8_t>(sum);
  if (retained_ && retained_->valid) {
    // The battery-backed part survives; the reset line clears the interrupt enables (PIE, AIE,
    // SQWE) and the pending flags, as QEMU's rtc_reset does. The memory bytes above were
    // computed from the same configuration, so the saved RAM already holds them.
    std::memcpy(ram_, retained_->ram, sizeof ram_);
    offset_ns_ = retained_->offset_ns;
    ram_[kRegB] &= static_cast<uint8_t>(~(kRegBPie | kRegBAie | kRegBSqwe));
    ram_[kRegC] = 0;
  }
  flags_upto_ = guest_ns();
}

CmosRtc::~CmosRtc() {
  stop_timer();
  if (retained_) {
    std::lock_guard lock(mutex_);
    std::memcpy(retained_->ram, ram_, sizeof ram_);
    retained_->offset_ns = offset_ns_;
    retained_->valid = true;
  }
}

Result<> CmosRtc::start_timer(EventLoop* loop) {
  UniqueFd fd(timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!fd) return errno_error("rtc: timerfd_create");
  const int raw = fd.get();
  {
    std::lock_guard lock(mutex_);
    timer_ = std::move(fd);
    loop_ = loop;
  }
  CORVID_TRY_VOID(loop->add(raw, [this](uint32_t) { on_timer(); }));
  std::lock_guard lock(mutex_);
  arm_timer();
  return {};
}

void CmosRtc::stop_timer() {
  std::lock_guard lock(mutex_);
  if (loop_ && timer_) loop_->remove(timer_.get());
  loop_ = nullptr;
  timer_.reset();
}

uint64_t CmosRtc::io_read(uint64_t offset, unsigned size) {
  std::lock_guard lock(mutex_);
  uint64_t v = 0;
  for (unsigned i = 0; i < size; ++i) {
    // The index port is write-only on a PC; reads float high.
    const uint8_t b = offset + i == 1 ? read_register(index_) : 0xff;
    v |= uint64_t{b} << (8 * i);
  }
  return v;
}

void CmosRtc::io_write(uint64_t offset, unsigned size, uint64_t value) {
  std::lock_guard lock(mutex_);
  for (unsigned i = 0; i < size; ++i) {
    const uint8_t b = static_cast<uint8_t>(value >> (8 * i));
    if (offset + i == 0) {
      index_ = b & 0x7f;  // bit 7 gates NMI on a PC, not the RTC's business
    } else if (offset + i == 1) {
      write_register(index_, b);
    }
  }
}

// Running: the divider passes the 32.768 kHz base (A bits 6:4 = 0b0xx but not reset) and SET is
// clear; otherwise updates are inhibited and the time registers hold what was last written.
bool CmosRtc::running() const {
  return (ram_[kRegB] & kRegBSet) == 0 && (ram_[kRegA] & kRegADividerMask) <= 0x20;
}

uint8_t CmosRtc::encode(int value) const {
  if (ram_[kRegB] & kRegBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

int CmosRtc::decode(uint8_t value) const {
  if (ram_[kRegB] & kRegBBinary) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

// 12-hour mode: 1..12 with bit 7 set for PM (datasheet table 3).
uint8_t CmosRtc::encode_hour(int hour) const {
  if (ram_[kRegB] & kRegB24h) return encode(hour);
  const int h12 = hour % 12 == 0 ? 12 : hour % 12;
  return static_cast<uint8_t>(encode(h12) | (hour >= 12 ? 0x80 : 0));
}

void CmosRtc::snapshot_time() {
  const tm t = broken_down(floor_div(guest_ns(), kNsPerSec));
  ram_[kSeconds] = encode(t.tm_sec);
  ram_[kMinutes] = encode(t.tm_min);
  ram_[kHours] = encode_hour(t.tm_hour);
  ram_[kWeekday] = encode(t.tm_wday + 1);
  ram_[kDay] = encode(t.tm_mday);
  ram_[kMonth] = encode(t.tm_mon + 1);
  const int year = t.tm_year + 1900;
  ram_[kYear] = encode(year % 100);
  ram_[kCenturyIndex] = encode(year / 100);
}

int64_t CmosRtc::held_seconds() const {
  tm t{};
  t.tm_sec = decode(ram_[kSeconds]);
  t.tm_min = decode(ram_[kMinutes]);
  int hour = decode(ram_[kHours] & 0x7f);
  if (!(ram_[kRegB] & kRegB24h)) hour = hour % 12 + ((ram_[kHours] & 0x80) ? 12 : 0);
  t.tm_hour = hour;
  t.tm_mday = decode(ram_[kDay]);
  t.tm_mon = decode(ram_[kMonth]) - 1;
  t.tm_year = decode(ram_[kCenturyIndex]) * 100 + decode(ram_[kYear]) - 1900;
  // timegm normalises out-of-range fields, as the chip would count on from them.
  const int64_t s = timegm(&t);
  return std::clamp<int64_t>(s, 0, kMaxSeconds);
}

void CmosRtc::set_time(int64_t seconds, int64_t phase_ns) {
  offset_ns_ = seconds * kNsPerSec + phase_ns - clock_();
  flags_upto_ = guest_ns();
}

uint8_t CmosRtc::read_register(uint8_t index) {
  const bool run = running();
  if (is_clock_register(index)) {
    if (run) snapshot_time();
    return ram_[index];
  }
  switch (index) {
    case kRegA: {
      uint8_t a = ram_[kRegA] & ~kRegAUip;
      const int64_t phase = second_phase(guest_ns());
      if (run && phase >= kNsPerSec - kUipWindowNs) a |= kRegAUip;
      return a;
    }
    case kRegC: {
      // Reading C reports and clears every flag and releases IRQ 8.
      update_flags();
      const uint8_t c = ram_[kRegC];
      ram_[kRegC] = 0;
      update_irq();
      arm_timer();
      return c;
    }
    default:
      return ram_[index];
  }
}

void CmosRtc::write_register(uint8_t index, uint8_t value) {
  if (is_clock_register(index)) {
    if (!running()) {
      ram_[index] = value;
      return;
    }
    // A write while the clock runs takes effect at once; the divider chain keeps its phase.
    snapshot_time();
    ram_[index] = value;
    set_time(held_seconds(), second_phase(guest_ns()));
    arm_timer();
    return;
  }
  switch (index) {
    case kRegA: {
      const bool was_running = running();
      const bool was_reset = (ram_[kRegA] & kRegADividerMask) > 0x20;
      if (was_running) snapshot_time();
      update_flags();
      ram_[kRegA] = value & ~kRegAUip;
      if (!was_running && running()) {
        // Leaving divider reset, the first update comes 500 ms later (datasheet, "Divider
        // reset"); leaving SET alone would not get here.
        set_time(held_seconds(), was_reset ? kNsPerSec / 2 : 0);
      }
      flags_upto_ = guest_ns();
      arm_timer();
      return;
    }
    case kRegB: {
      const bool was_running = running();
      update_flags();
      if (was_running) snapshot_time();
      // Setting SET clears UIE (datasheet, "Register B": UIE).
      if (value & kRegBSet) value &= ~kRegBUie;
      ram_[kRegB] = value;
      if (!was_running && running()) {
        // Releasing SET: the divider chain ran on meanwhile, so the phase of the second is kept.
        set_time(held_seconds(), second_phase(guest_ns()));
      }
      // Enabling an interrupt whose flag is already pending raises IRQF now.
      if (ram_[kRegC] & ram_[kRegB] & (kRegCPf | kRegCAf | kRegCUf)) ram_[kRegC] |= kRegCIrqf;
      update_irq();
      arm_timer();
      return;
    }
    case kRegC:
    case kRegD:
      return;  // read-only
    default:
      ram_[index] = value;
      return;
  }
}

// The alarm compares the alarm bytes with the time bytes, in the current format.
bool CmosRtc::alarm_matches(int64_t seconds) const {
  const tm t = broken_down(seconds);
  return alarm_byte_matches(ram_[kSecondsAlarm], encode(t.tm_sec)) &&
         alarm_byte_matches(ram_[kMinutesAlarm], encode(t.tm_min)) &&
         alarm_byte_matches(ram_[kHoursAlarm], encode_hour(t.tm_hour));
}

// The first second after `seconds` at which the alarm matches, or INT64_MAX. Skips whole hours
// and minutes that cannot match, so it takes at most a few thousand steps.
int64_t CmosRtc::next_alarm_after(int64_t seconds) const {
  const auto match = alarm_byte_matches;
  const int64_t limit = seconds + int64_t{2} * 86400;
  for (int64_t s = seconds + 1; s <= limit;) {
    const tm t = broken_down(s);
    if (!match(ram_[kHoursAlarm], encode_hour(t.tm_hour))) {
      s += 3600 - t.tm_min * 60 - t.tm_sec;
    } else if (!match(ram_[kMinutesAlarm], encode(t.tm_min))) {
      s += 60 - t.tm_sec;
    } else if (!match(ram_[kSecondsAlarm], encode(t.tm_sec))) {
      s += 1;
    } else {
      return s;
    }
  }
  return INT64_MAX;
}

// Periodic rate (datasheet table 5, 32.768 kHz base): rate 1 and 2 repeat rates 8 and 9; 0 is off.
int64_t CmosRtc::period_ns() const {
  int rate = ram_[kRegA] & kRegARateMask;
  if (rate == 0 || (ram_[kRegA] & kRegADividerMask) > 0x20) return 0;
  if (rate <= 2) rate += 7;
  return (int64_t{1} << (rate - 1)) * kNsPerSec / 32768;
}

// Latches the flags of every event since flags_upto_: the flags are set whether or not their
// interrupt is enabled; IRQF only for enabled ones.
void CmosRtc::update_flags() {
  const int64_t now = guest_ns();
  const int64_t then = flags_upto_;
  if (now <= then) return;
  if (const int64_t p = period_ns(); p > 0 && floor_div(now, p) > floor_div(then, p))
    ram_[kRegC] |= kRegCPf;
  if (running()) {
    const int64_t s0 = floor_div(then, kNsPerSec), s1 = floor_div(now, kNsPerSec);
    if (s1 > s0) {
      ram_[kRegC] |= kRegCUf;
      bool alarm = false;
      if (s1 - s0 <= 4) {
        for (int64_t s = s0 + 1; s <= s1 && !alarm; ++s) alarm = alarm_matches(s);
      } else {
        alarm = next_alarm_after(s0) <= s1;
      }
      if (alarm) ram_[kRegC] |= kRegCAf;
    }
  }
  flags_upto_ = now;
  if (ram_[kRegC] & ram_[kRegB] & (kRegCPf | kRegCAf | kRegCUf)) ram_[kRegC] |= kRegCIrqf;
  update_irq();
}

void CmosRtc::update_irq() {
  const bool level = (ram_[kRegC] & kRegCIrqf) != 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_irq(kGsi, level);
}

// Arms the timerfd for the next enabled event, if IRQ 8 is not already pending.
void CmosRtc::arm_timer() {
  if (!timer_) return;
  int64_t next = INT64_MAX;
  const int64_t now = guest_ns();
  if (!(ram_[kRegC] & kRegCIrqf)) {
    const uint8_t b = ram_[kRegB];
    const int64_t p = period_ns();
    if ((b & kRegBPie) && p > 0) next = std::min(next, (floor_div(now, p) + 1) * p);
    if (running()) {
      const int64_t sec = floor_div(now, kNsPerSec);
      if (b & kRegBUie) next = std::min(next, (sec + 1) * kNsPerSec);
      if (b & kRegBAie) {
        const int64_t a = next_alarm_after(sec);
        if (a != INT64_MAX) next = std::min(next, a * kNsPerSec);
      }
    }
  }
  itimerspec its{};
  if (next != INT64_MAX) {
    const int64_t host = std::max<int64_t>(next - offset_ns_, 1);
    its.it_value.tv_sec = static_cast<time_t>(host / kNsPerSec);
    its.it_value.tv_nsec = static_cast<long>(host % kNsPerSec);
  }
  if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr) < 0)
    LOG_WARN("rtc: timerfd_settime: {}", strerror(errno));
}

void CmosRtc::on_timer() {
  std::lock_guard lock(mutex_);
  if (!timer_) return;
  uint64_t expirations;
  if (::read(timer_.get(), &expirations, sizeof expirations) < 0 && errno != EAGAIN) return;
  update_flags();
  arm_timer();
}

}  // namespace corvid::hw
