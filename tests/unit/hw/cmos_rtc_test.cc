// The MC146818 CMOS RTC through its two ports, on a fake clock: time formats, the SET bit and
// divider reset, the update-in-progress window, the interrupt flags and IRQ 8, CMOS RAM.
#include "hw/rtc/cmos_rtc.h"

#include <gtest/gtest.h>

#include <ctime>
#include <vector>

namespace corvid::hw {
namespace {

constexpr int64_t kSec = 1'000'000'000;

struct IrqLog : InterruptSink {
  std::vector<std::pair<uint32_t, bool>> lines;
  bool level(uint32_t gsi) const {
    bool l = false;
    for (auto [g, v] : lines)
      if (g == gsi) l = v;
    return l;
  }
  void set_irq(uint32_t gsi, bool l) override { lines.emplace_back(gsi, l); }
  void signal_msi(uint64_t, uint32_t) override {}
};

int64_t utc(int y, int mo, int d, int h, int mi, int s) {
  tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = s;
  return int64_t{timegm(&t)} * kSec;
}

struct RtcFixture : ::testing::Test {
  // Wednesday 2026-11-25 17:26:09.5 UTC.
  int64_t now = utc(2026, 11, 25, 17, 26, 9) + kSec / 2;
  IrqLog irq;
  CmosRtc rtc{CmosRtc::Config{8ull << 20, 0, 2}, &irq, [this] { return now; }};

  uint8_t rd(uint8_t index) {
    rtc.io_write(0, 1, index);
    return static_cast<uint8_t>(rtc.io_read(1, 1));
  }
  void wr(uint8_t index, uint8_t v) {
    rtc.io_write(0, 1, index);
    rtc.io_write(1, 1, v);
  }
};

TEST_F(RtcFixture, ReadsHostTimeInBcd24HourByDefault) {
  EXPECT_EQ(rd(0x0b), 0x02) << "24-hour, BCD";
  EXPECT_EQ(rd(0x00), 0x09);
  EXPECT_EQ(rd(0x02), 0x26);
  EXPECT_EQ(rd(0x04), 0x17);
  EXPECT_EQ(rd(0x06), 0x04) << "Wednesday (Sunday is 1)";
  EXPECT_EQ(rd(0x07), 0x25);
  EXPECT_EQ(rd(0x08), 0x11);
  EXPECT_EQ(rd(0x09), 0x26);
  EXPECT_EQ(rd(CmosRtc::kCenturyIndex), 0x20);
  EXPECT_EQ(rd(0x0d), 0x80) << "valid RAM and time";
  now += 3 * kSec;
  EXPECT_EQ(rd(0x00), 0x12) << "the clock runs with the host";
}

TEST_F(RtcFixture, BinaryAnd12HourFormats) {
  wr(0x0b, 0x04);  // binary, 12-hour
  EXPECT_EQ(rd(0x04), 0x80 | 5) << "5 PM";
  EXPECT_EQ(rd(0x02), 26);
  EXPECT_EQ(rd(0x09), 26);
  wr(0x0b, 0x00);  // BCD, 12-hour
  EXPECT_EQ(rd(0x04), 0x85);
}

TEST_F(RtcFixture, IndexBit7IsTheNmiMaskAndIgnored) {
  rtc.io_write(0, 1, 0x80 | 0x0d);
  EXPECT_EQ(rtc.io_read(1, 1), 0x80u);
}

TEST_F(RtcFixture, UpdateInProgressOnlyInThe244MicrosecondsBeforeTheSecond) {
  EXPECT_EQ(rd(0x0a), 0x26) << "mid-second: UIP clear; 32.768 kHz base, 1024 Hz rate";
  now = utc(2026, 11, 25, 17, 26, 9) + kSec - 100'000;
  EXPECT_EQ(rd(0x0a), 0xa6);
  now = utc(2026, 11, 25, 17, 26, 9) + kSec - 300'000;
  EXPECT_EQ(rd(0x0a), 0x26);
  now = utc(2026, 11, 25, 17, 26, 9) + kSec - 100'000;
  wr(0x0b, 0x82);
  EXPECT_EQ(rd(0x0a) & 0x80, 0) << "no updates while SET";
}

TEST_F(RtcFixture, SetBitFreezesAndLoadsANewTimeKeepingThePhase) {
  wr(0x0b, 0x82);  // SET
  wr(0x00, 0x00);
  wr(0x02, 0x00);
  wr(0x04, 0x00);
  wr(0x07, 0x01);
  wr(0x08, 0x01);
  wr(0x09, 0x00);
  wr(CmosRtc::kCenturyIndex, 0x20);
  now += 5 * kSec;
  EXPECT_EQ(rd(0x00), 0x00) << "frozen while SET";
  wr(0x0b, 0x02);
  EXPECT_EQ(rd(0x09), 0x00);
  EXPECT_EQ(rd(0x08), 0x01);
  EXPECT_EQ(rd(0x06), 0x07) << "2000-01-01 was a Saturday";
  now += kSec / 2 - 1;
  EXPECT_EQ(rd(0x00), 0x00);
  now += 1;
  EXPECT_EQ(rd(0x00), 0x01) << "the divider kept its phase across SET";
}

TEST_F(RtcFixture, WriteWhileRunningTakesEffectAtOnce) {
  wr(0x09, 0x30);  // year 2030
  EXPECT_EQ(rd(0x09), 0x30);
  EXPECT_EQ(rd(0x02), 0x26);
  now += kSec;
  EXPECT_EQ(rd(0x00), 0x10);
  EXPECT_EQ(rd(0x09), 0x30);
}

TEST_F(RtcFixture, LeavingDividerResetStartsTheFirstUpdate500MsLater) {
  wr(0x0a, 0x76);  // divider reset
  now += 10 * kSec;
  EXPECT_EQ(rd(0x00), 0x09) << "stopped";
  wr(0x0a, 0x26);
  now += kSec / 2 - 1;
  EXPECT_EQ(rd(0x00), 0x09);
  now += 1;
  EXPECT_EQ(rd(0x00), 0x10);
}

TEST_F(RtcFixture, UpdateInterruptRaisesIrq8UntilRegisterCIsRead) {
  rd(0x0c);
  wr(0x0b, 0x12);  // UIE
  EXPECT_FALSE(irq.level(8));
  now += kSec / 2;  // crosses 17:26:10
  const uint8_t c = rd(0x0c);
  EXPECT_EQ(c & 0xb0, 0x90) << "IRQF | UF (PF latches too, at the default 1024 Hz)";
  EXPECT_EQ(irq.lines.size(), 2u);
  EXPECT_EQ(irq.lines[0], std::make_pair(8u, true));
  EXPECT_EQ(irq.lines[1], std::make_pair(8u, false)) << "reading C releases the line";
  EXPECT_EQ(rd(0x0c), 0x00);
}

TEST_F(RtcFixture, FlagsLatchWithoutTheirEnableButIrqfOnlyWithIt) {
  rd(0x0c);
  now += 2 * kSec;
  EXPECT_EQ(rd(0x0c), 0x50) << "PF and UF, no IRQF";
  EXPECT_TRUE(irq.lines.empty());
}

TEST_F(RtcFixture, AlarmMatchesItsTimeAndDontCareBytes) {
  rd(0x0c);
  wr(0x01, 0x12);
  wr(0x03, 0x26);
  wr(0x05, 0x17);
  wr(0x0b, 0x22);   // AIE
  now += 2 * kSec;  // 17:26:11
  EXPECT_EQ(rd(0x0c) & 0x20, 0);
  now += kSec;  // 17:26:12
  EXPECT_EQ(rd(0x0c) & 0xb0, 0xb0) << "IRQF | AF | UF";
  wr(0x03, 0xc0);    // any minute
  wr(0x05, 0xff);    // any hour
  now += 59 * kSec;  // 17:27:11
  EXPECT_EQ(rd(0x0c) & 0x20, 0);
  now += 10 * kSec;  // past 17:27:12, over several seconds
  EXPECT_EQ(rd(0x0c) & 0xa0, 0xa0);
}

TEST_F(RtcFixture, PeriodicInterruptAtTheRateOfRegisterA) {
  rd(0x0c);
  wr(0x0a, 0x2f);          // rate 15: 2 Hz
  wr(0x0b, 0x42);          // PIE
  now += kSec / 2 - 1000;  // up to just before the next 500 ms boundary
  EXPECT_EQ(rd(0x0c), 0x00);
  now += 2000;
  EXPECT_EQ(rd(0x0c) & 0xe0, 0xc0) << "IRQF | PF";
  wr(0x0a, 0x20);  // rate 0: no periodic interrupt
  now += 10 * kSec;
  EXPECT_EQ(rd(0x0c) & 0x40, 0);
}

TEST_F(RtcFixture, SetClearsUpdateInterruptEnable) {
  wr(0x0b, 0x12);
  wr(0x0b, 0x92);
  EXPECT_EQ(rd(0x0b), 0x82);
}

TEST(CmosRtc, GuestSetTimeAndCmosRamSurviveAResetButInterruptEnablesDoNot) {
  int64_t now = utc(2026, 11, 25, 17, 26, 9);
  CmosRtcRetained kept;
  auto clock = [&now] { return now; };
  auto rw = [](CmosRtc& rtc, uint8_t index, int value = -1) {
    rtc.io_write(0, 1, index);
    if (value >= 0) rtc.io_write(1, 1, static_cast<uint8_t>(value));
    return static_cast<unsigned>(rtc.io_read(1, 1));
  };
  {
    CmosRtc before({8ull << 20, 0, 1, &kept}, nullptr, clock);
    rw(before, 0x0b, 0x82);  // SET: load a new year
    rw(before, 0x09, 0x99);
    rw(before, 0x0b, 0x62);  // running again, periodic and alarm interrupts enabled
    rw(before, 0x40, 0x5a);
  }
  now += 3 * kSec;
  CmosRtc after({8ull << 20, 0, 1, &kept}, nullptr, clock);
  EXPECT_EQ(rw(after, 0x09), 0x99u) << "the guest-set year";
  EXPECT_EQ(rw(after, 0x00), 0x12u) << "the clock ran on meanwhile";
  EXPECT_EQ(rw(after, 0x40), 0x5au) << "CMOS RAM";
  EXPECT_EQ(rw(after, 0x0b), 0x02u) << "PIE and AIE cleared by the reset";
  EXPECT_EQ(rw(after, 0x0c), 0x00u);
  CmosRtc fresh({8ull << 20, 0, 1}, nullptr, clock);
  EXPECT_EQ(rw(fresh, 0x09), 0x26u) << "a new VM starts from the host clock";
}

TEST(CmosRtc, CmosRamHoldsMemorySizesAndChecksumAsABiosLeavesThem) {
  const uint64_t mib = 1ull << 20;
  CmosRtc rtc({3072 * mib, 1024 * mib, 4}, nullptr);
  auto rd = [&](uint8_t i) {
    rtc.io_write(0, 1, i);
    return static_cast<unsigned>(rtc.io_read(1, 1));
  };
  EXPECT_EQ(rd(0x15) | rd(0x16) << 8, 640u) << "base memory KiB";
  EXPECT_EQ(rd(0x17) | rd(0x18) << 8, 0xffffu) << "extended memory KiB, saturated";
  EXPECT_EQ(rd(0x30) | rd(0x31) << 8, 0xffffu);
  EXPECT_EQ(rd(0x34) | rd(0x35) << 8, (3072u - 16) * 16) << "64 KiB blocks above 16 MiB";
  EXPECT_EQ(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 1024u * 16) << "64 KiB blocks above 4 GiB";
  EXPECT_EQ(rd(0x5f), 3u) << "CPUs - 1";
  unsigned sum = 0;
  for (uint8_t i = 0x10; i <= 0x2d; ++i) sum += rd(i);
  EXPECT_EQ(rd(0x2e) << 8 | rd(0x2f), sum);
  rtc.io_write(0, 1, 0x40);
  rtc.io_write(1, 1, 0x5a);
  EXPECT_EQ(rd(0x40), 0x5au) << "general-purpose CMOS RAM keeps what is written";

  CmosRtc small({8 * mib, 0, 1}, nullptr);
  small.io_write(0, 1, 0x17);
  const unsigned lo = static_cast<unsigned>(small.io_read(1, 1));
  small.io_write(0, 1, 0x18);
  EXPECT_EQ(lo | static_cast<unsigned>(small.io_read(1, 1)) << 8, 7u * 1024);
}

TEST(CmosRtc, TimerDeliversThePeriodicInterruptOnTheLoop) {
  IrqLog irq;
  CmosRtc rtc({8ull << 20, 0, 1}, &irq);
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  ASSERT_TRUE(rtc.start_timer(loop->get()));
  rtc.io_write(0, 1, 0x0c);
  rtc.io_read(1, 1);
  rtc.io_write(0, 1, 0x0b);
  rtc.io_write(1, 1, 0x42);  // PIE at the default 1024 Hz
  for (int i = 0; i < 50 && !irq.level(8); ++i) ASSERT_TRUE((*loop)->run_once(100));
  EXPECT_TRUE(irq.level(8));
  rtc.stop_timer();
}

}  // namespace
}  // namespace corvid::hw
