// The board's devices through their register interfaces: 8250 UART, PCI host bridge (conf1),
// debug-exit.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "hw/char/serial8250.h"
#include "hw/misc/debug_exit.h"
#include "hw/pci/pci_host.h"

namespace corvid::hw {
namespace {

struct IrqRecorder : InterruptSink {
  std::vector<std::pair<uint32_t, bool>> lines;
  void set_irq(uint32_t gsi, bool level) override { lines.emplace_back(gsi, level); }
  void signal_msi(uint64_t, uint32_t) override {}
};

struct EventRecorder : MachineEvents {
  int power_off = -1, resets = 0;
  void request_power_off(int status) override { power_off = status; }
  void request_reset() override { ++resets; }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Serial8250, TransmitsToItsBackendAndKeepsTheScratchRegister) {
  char path[] = "/tmp/corvid-serial-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    auto backend = CharBackend::open(std::string("file:") + path);
    ASSERT_TRUE(backend);
    Serial8250 uart(backend->get(), nullptr, 4);
    for (char c : std::string("hi\n")) uart.io_write(0, 1, static_cast<uint8_t>(c));
    uart.io_write(7, 1, 0x5a);
    EXPECT_EQ(uart.io_read(7, 1), 0x5au);
    EXPECT_EQ(uart.io_read(5, 1) & 0x60, 0x60u) << "THR empty, transmitter empty";
    // DLAB: the divisor latch replaces RBR/IER.
    uart.io_write(3, 1, 0x80);
    uart.io_write(0, 1, 0x01);
    EXPECT_EQ(uart.io_read(0, 1), 0x01u);
    uart.io_write(3, 1, 0x03);
  }
  EXPECT_EQ(slurp(path), "hi\n");
  unlink(path);
}

TEST(Serial8250, RaisesItsIrqForThreAndReceivedDataOnlyWithOut2) {
  auto backend = CharBackend::open("none");
  ASSERT_TRUE(backend);
  IrqRecorder irq;
  Serial8250 uart(backend->get(), &irq, 4);
  uart.io_write(1, 1, 0x02);  // THRI without OUT2: pending but gated
  EXPECT_EQ(uart.io_read(2, 1) & 0x0f, 0x02u) << "IIR reports THRE";
  EXPECT_TRUE(irq.lines.empty());
  uart.io_write(1, 1, 0x00);
  uart.io_write(4, 1, 0x08);  // OUT2
  uart.io_write(1, 1, 0x02);  // enabling THRI with THR empty raises it at once
  ASSERT_FALSE(irq.lines.empty());
  EXPECT_EQ(irq.lines.back(), std::make_pair(4u, true));
  EXPECT_EQ(uart.io_read(2, 1) & 0x0f, 0x02u);  // reading IIR acknowledges THRE
  EXPECT_EQ(irq.lines.back(), std::make_pair(4u, false));
  EXPECT_EQ(uart.io_read(2, 1) & 0x0f, 0x01u) << "nothing pending";

  uart.io_write(1, 1, 0x01);  // RDI
  const uint8_t in[] = {'x', 'y'};
  uart.receive(in);
  EXPECT_EQ(irq.lines.back(), std::make_pair(4u, true));
  EXPECT_EQ(uart.io_read(5, 1) & 1, 1u) << "data ready";
  EXPECT_EQ(uart.io_read(2, 1) & 0x0f, 0x04u);
  EXPECT_EQ(uart.io_read(0, 1), uint64_t{'x'});
  EXPECT_EQ(uart.io_read(0, 1), uint64_t{'y'});
  EXPECT_EQ(irq.lines.back(), std::make_pair(4u, false));
  EXPECT_EQ(uart.io_read(5, 1) & 1, 0u);
}

TEST(Serial8250, LoopbackReturnsTransmittedBytesAndModemLines) {
  auto backend = CharBackend::open("none");
  ASSERT_TRUE(backend);
  Serial8250 uart(backend->get(), nullptr, 4);
  uart.io_write(4, 1, 0x10 | 0x0a);  // LOOP, RTS, OUT2
  EXPECT_EQ(uart.io_read(6, 1) & 0xf0, 0x90u) << "CTS from RTS, DCD from OUT2";
  uart.io_write(0, 1, 0x42);
  EXPECT_EQ(uart.io_read(0, 1), 0x42u);
}

TEST(CharBackend, PtyOpensARawPseudoTerminal) {
  auto b = CharBackend::open("pty");
  ASSERT_TRUE(b) << b.error().to_string();
  const std::string name = (*b)->pty_name();
  ASSERT_EQ(name.rfind("/dev/pts/", 0), 0u) << name;
  int fd = ::open(name.c_str(), O_RDWR | O_NOCTTY);
  ASSERT_GE(fd, 0);
  termios t{};
  ASSERT_EQ(tcgetattr(fd, &t), 0);
  EXPECT_EQ(t.c_lflag & (ICANON | ECHO), 0u) << "raw: the guest's bytes pass untouched";
  const uint8_t out[] = {'o', 'k', '\n'};
  (*b)->write(out);
  char in[8] = {};
  EXPECT_EQ(::read(fd, in, sizeof in), 3);
  EXPECT_STREQ(in, "ok\n") << "no CR added";
  ::close(fd);
}

TEST(CharBackend, RejectsUnknownSpecs) {
  EXPECT_FALSE(CharBackend::open("telepathy"));
  EXPECT_FALSE(CharBackend::open("file:/nonexistent-dir/x"));
}

class Bar : public IoHandler {
 public:
  uint64_t io_read(uint64_t offset, unsigned) override { return 0x1000 + offset; }
  void io_write(uint64_t, unsigned, uint64_t) override {}
};

class FakePciDevice : public PciDevice {
 public:
  std::string name() const override { return "fake"; }
  uint32_t config_read(uint32_t offset, unsigned size) override {
    uint32_t v = 0;
    if ((offset & ~3u) == 0) v = 0x10421af4;
    if ((offset & ~3u) == 0x3c) v = static_cast<uint32_t>(pin_ << 8) | line_;
    v >>= (offset & 3) * 8;
    return size == 4 ? v : v & ((1u << (size * 8)) - 1);
  }
  void config_write(uint32_t offset, unsigned, uint32_t value) override {
    if (offset == 0x3c) line_ = static_cast<uint8_t>(value);
  }
  PciBar bar(int index) const override {
    if (index == 0) return {0x4000, false, true, false, const_cast<Bar*>(&bar0_)};
    if (index == 4) return {0x100, true, false, false, const_cast<Bar*>(&bar4_)};
    return {};
  }
  void bar_mapped(int index, uint64_t addr) override { mapped[index] = addr; }
  void set_intx_gsi(uint32_t gsi) override { gsi_ = gsi; }
  uint64_t mapped[6] = {};
  uint32_t gsi_ = 0;
  uint8_t line_ = 0, pin_ = 1;

 private:
  Bar bar0_, bar4_;
};

struct PciFixture : ::testing::Test {
  IoBus pio{IoSpace::kPio}, mmio{IoSpace::kMmio};
  EventRecorder events;
  fdt::PciHostDesc desc;
  std::unique_ptr<PciHost> host;
  void SetUp() override {
    desc.mmio32_base = 0xc0000000;
    desc.mmio32_size = 0x10000000;
    desc.io_base = 0xc000;
    desc.io_size = 0x1000;
    desc.intx_gsis = {20, 21, 22, 23};
    host = std::make_unique<PciHost>(&pio, &mmio, &events, &desc);
  }
  uint32_t cfg_read(uint8_t dev, uint32_t reg) {
    host->io_write(0, 4, 0x80000000u | (dev << 11) | reg);
    return static_cast<uint32_t>(host->io_read(4, 4));
  }
  void cfg_write(uint8_t dev, uint32_t reg, uint32_t v) {
    host->io_write(0, 4, 0x80000000u | (dev << 11) | reg);
    host->io_write(4, 4, v);
  }
};

TEST_F(PciFixture, HostBridgeAndAbsentSlotsAnswerConf1) {
  host->io_write(0, 4, 0x80000000u);
  EXPECT_EQ(host->io_read(0, 4), 0x80000000u) << "address register reads back";
  EXPECT_EQ(cfg_read(0, 0), 0x00081b36u);
  EXPECT_EQ(cfg_read(0, 8) >> 8, 0x060000u) << "class: host bridge";
  EXPECT_EQ(cfg_read(5, 0), 0xffffffffu) << "empty slot";
}

TEST_F(PciFixture, PlacesBarsRoutesIntxAndSupportsSizingAndMoving) {
  FakePciDevice dev;
  auto slot = host->add_device(&dev);
  ASSERT_TRUE(slot);
  EXPECT_EQ(*slot, 1);
  EXPECT_EQ(cfg_read(1, 0), 0x10421af4u);
  uint32_t bar0 = cfg_read(1, 0x10);
  EXPECT_EQ(bar0 & 0xf, 0x4u) << "64-bit memory BAR";
  EXPECT_EQ(bar0 & ~0xfu, 0xc0000000u);
  EXPECT_EQ(cfg_read(1, 0x14), 0u) << "high half below 4 GiB";
  EXPECT_EQ(dev.mapped[0], 0xc0000000u);
  uint64_t v = 0;
  EXPECT_TRUE(mmio.read(0xc0000010, 4, &v));
  EXPECT_EQ(v, 0x1010u) << "BAR 0 decodes on the MMIO bus";
  EXPECT_EQ(cfg_read(1, 0x20) & 0x3, 0x1u) << "I/O BAR";
  EXPECT_TRUE(pio.read((cfg_read(1, 0x20) & ~3u) + 4, 1, &v));
  EXPECT_EQ(dev.gsi_, 21u) << "slot 1 INTA swizzles to the second line";
  EXPECT_EQ(dev.line_, 21) << "interrupt line register written like firmware would";

  // Sizing (PCI spec 6.2.5.1): write all ones, read back the size mask.
  cfg_write(1, 0x04, 0);  // decoding off first, as drivers do
  EXPECT_EQ(dev.mapped[0], 0u);
  EXPECT_FALSE(mmio.read(0xc0000010, 4, &v));
  cfg_write(1, 0x10, 0xffffffff);
  EXPECT_EQ(cfg_read(1, 0x10), 0xffffc004u);
  // Move it and turn memory decoding back on.
  cfg_write(1, 0x10, 0xc1000000);
  cfg_write(1, 0x04, 0x2);
  EXPECT_EQ(dev.mapped[0], 0xc1000000u);
  EXPECT_TRUE(mmio.read(0xc1000000, 4, &v));
  EXPECT_FALSE(mmio.read(0xc0000000, 4, &v));
}

TEST_F(PciFixture, ResetControlRegisterResets) {
  host->io_write(1, 1, 0x02);
  EXPECT_EQ(events.resets, 0);
  host->io_write(1, 1, 0x06);
  EXPECT_EQ(events.resets, 1);
}

TEST(DebugExit, WritePowersOffWithTheValue) {
  EventRecorder events;
  DebugExit port(&events);
  port.io_write(0, 4, 42);
  EXPECT_EQ(events.power_off, 42);
}

}  // namespace
}  // namespace corvid::hw
