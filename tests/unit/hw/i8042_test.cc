// The i8042 controller with no keyboard or mouse, driven the way Linux's i8042 driver probes it.
#include "hw/misc/i8042.h"

#include <gtest/gtest.h>

#include <vector>

namespace corvid::hw {
namespace {

struct Events : MachineEvents {
  int resets = 0;
  void request_power_off(int) override {}
  void request_reset() override { ++resets; }
};

struct Irqs : InterruptSink {
  std::vector<std::pair<uint32_t, bool>> lines;
  void set_irq(uint32_t gsi, bool level) override { lines.emplace_back(gsi, level); }
  void signal_msi(uint64_t, uint32_t) override {}
};

struct I8042Fixture : ::testing::Test {
  Events events;
  Irqs irqs;
  I8042 kbc{&events, &irqs};
  uint8_t status() { return static_cast<uint8_t>(kbc.command()->io_read(0, 1)); }
  uint8_t data() { return static_cast<uint8_t>(kbc.data()->io_read(0, 1)); }
  void command(uint8_t c) { kbc.command()->io_write(0, 1, c); }
  void write(uint8_t v) { kbc.data()->io_write(0, 1, v); }
  // i8042_command(): a command, then the reply once the output buffer is full.
  int reply(uint8_t c) {
    command(c);
    if (!(status() & 0x01)) return -1;
    return data();
  }
};

TEST_F(I8042Fixture, StatusAtPowerOnSaysEmptySelfTestedNotInhibited) {
  EXPECT_EQ(status(), 0x14);
}

TEST_F(I8042Fixture, CommandByteReadsBackWhatIsWritten) {
  EXPECT_EQ(reply(0x20), I8042::kBiosCtr);
  command(0x60);
  EXPECT_EQ(status() & 0x08, 0x08) << "last write was a command";
  write(0x74);
  EXPECT_EQ(status() & 0x08, 0x00);
  EXPECT_EQ(reply(0x20), 0x74);
  command(0xa8);  // enable AUX: clears command-byte bit 5
  EXPECT_EQ(reply(0x20), 0x54);
  command(0xa7);
  command(0xae);  // enable keyboard: clears bit 4
  EXPECT_EQ(reply(0x20), 0x64);
}

TEST_F(I8042Fixture, SelfTestAndPortTestsPass) {
  EXPECT_EQ(reply(0xaa), 0x55);
  EXPECT_EQ(reply(0xab), 0x00);
  EXPECT_EQ(reply(0xa9), 0x00);
  EXPECT_EQ(status() & 0x01, 0) << "every reply consumed";
}

TEST_F(I8042Fixture, AuxLoopbackEchoesWithTheAuxBitAndRaisesIrq12WhenEnabled) {
  command(0x60);
  write(0x47);  // keyboard and AUX interrupts on, AUX enabled
  irqs.lines.clear();
  command(0xd3);
  write(0xa5);
  EXPECT_EQ(status() & 0x21, 0x21) << "full, from AUX";
  ASSERT_EQ(irqs.lines.size(), 1u);
  EXPECT_EQ(irqs.lines[0], std::make_pair(12u, true));
  EXPECT_EQ(data(), 0xa5);
  EXPECT_EQ(irqs.lines.back(), std::make_pair(12u, false));
  EXPECT_EQ(status() & 0x01, 0);
}

TEST_F(I8042Fixture, BytesToAbsentDevicesTimeOutWith0xfe) {
  write(0xf2);  // keyboard "get ID"
  EXPECT_EQ(status() & 0x61, 0x41) << "full, time-out, keyboard side";
  EXPECT_EQ(irqs.lines.back(), std::make_pair(1u, true)) << "IRQ 1 is on in the BIOS command byte";
  EXPECT_EQ(data(), 0xfe);
  command(0xd4);
  write(0xf2);  // mouse "get ID"
  EXPECT_EQ(status() & 0x61, 0x61) << "full, time-out, AUX side";
  EXPECT_EQ(data(), 0xfe);
  EXPECT_EQ(data(), 0xfe) << "an empty buffer reads its last byte";
}

TEST_F(I8042Fixture, ResetThroughPulseCommandAndOutputPort) {
  command(0xad);
  command(0xff);  // pulse no line
  EXPECT_EQ(events.resets, 0);
  command(0xfe);
  EXPECT_EQ(events.resets, 1);
  command(0xd1);
  write(0x03);
  EXPECT_EQ(events.resets, 1);
  command(0xd1);
  write(0x02);  // output-port bit 0 low: CPU reset
  EXPECT_EQ(events.resets, 2);
  EXPECT_EQ(reply(0xd0), 0x02);
}

}  // namespace
}  // namespace corvid::hw
