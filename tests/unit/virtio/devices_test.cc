// virtio-rng (§5.4) and virtio-console (§5.3).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "virtio/console.h"
#include "virtio/mmio_transport.h"
#include "virtio/rng.h"
#include "virtio_test_support.h"

namespace corvid::virtio {
namespace {

using testing::DriverRing;
using testing::MmioDriver;
using testing::TestVm;

TEST(Rng, FillsTheWholeBuffer) {
  TestVm vm;
  auto t = make_virtio_mmio(*make_virtio_rng(vm.services()), vm.services(), 0xd0000000, 5);
  MmioDriver drv(**t);
  DriverRing ring(vm.memory, 0x10000, 8);
  ASSERT_TRUE(drv.negotiate(kFeatureVersion1));
  drv.setup_queue(0, ring);
  drv.driver_ok();
  ASSERT_TRUE(vm.memory.fill(0x100000, 0, 4096));
  ring.set_desc(0, 0x100000, 1000, kDescFlagWrite | kDescFlagNext, 1);
  ring.set_desc(1, 0x101000, 3096, kDescFlagWrite);
  ring.make_available(0);
  drv.notify(0);
  vm.run_io();
  ASSERT_EQ(ring.used_idx(), 1);
  EXPECT_EQ(ring.used_elem(0).second, 4096u);
  uint8_t buf[256];
  ASSERT_TRUE(vm.memory.read(0x101000 + 3096 - 256, buf, sizeof buf));
  int zeros = 0;
  for (uint8_t b : buf) zeros += b == 0;
  EXPECT_LT(zeros, 16);  // 256 random bytes are not mostly zero
}

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pipe(to_guest), 0);
    ASSERT_EQ(pipe(from_guest), 0);
    auto dev = make_virtio_console(vm.services(), to_guest[0], from_guest[1]);
    ASSERT_TRUE(dev.has_value());
    t = std::move(*make_virtio_mmio(std::move(*dev), vm.services(), 0xd0000000, 6));
    drv = std::make_unique<MmioDriver>(*t);
    ASSERT_TRUE(drv->negotiate(kFeatureVersion1));
    drv->setup_queue(0, rx);
    drv->setup_queue(1, tx);
    drv->driver_ok();
  }
  void TearDown() override {
    t.reset();
    for (int fd : {to_guest[0], to_guest[1], from_guest[0], from_guest[1]}) close(fd);
  }
  TestVm vm;
  int to_guest[2], from_guest[2];
  DriverRing rx{vm.memory, 0x10000, 8}, tx{vm.memory, 0x11000, 8};
  std::unique_ptr<MmioTransport> t;
  std::unique_ptr<MmioDriver> drv;
};

TEST_F(ConsoleTest, TransmitWritesToHostFd) {
  ASSERT_TRUE(vm.memory.write(0x100000, "hello ", 6));
  ASSERT_TRUE(vm.memory.write(0x100100, "world", 5));
  tx.set_desc(0, 0x100000, 6, kDescFlagNext, 1);
  tx.set_desc(1, 0x100100, 5, 0);
  tx.make_available(0);
  drv->notify(1);
  vm.run_io();
  EXPECT_EQ(tx.used_idx(), 1);
  char out[16] = {};
  ASSERT_EQ(read(from_guest[0], out, sizeof out), 11);
  EXPECT_STREQ(out, "hello world");
}

TEST_F(ConsoleTest, ReceiveDeliversHostInputIntoPostedBuffers) {
  rx.set_desc(0, 0x200000, 64, kDescFlagWrite);
  rx.make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(rx.used_idx(), 0);  // nothing typed yet
  ASSERT_EQ(write(to_guest[1], "typed", 5), 5);
  vm.run_io();
  ASSERT_EQ(rx.used_idx(), 1);
  EXPECT_EQ(rx.used_elem(0).second, 5u);
  char in[6] = {};
  ASSERT_TRUE(vm.memory.read(0x200000, in, 5));
  EXPECT_STREQ(in, "typed");
  // No buffer posted: input waits in the pipe until the guest posts one.
  ASSERT_EQ(write(to_guest[1], "more", 4), 4);
  vm.run_io();
  EXPECT_EQ(rx.used_idx(), 1);
  rx.set_desc(1, 0x201000, 64, kDescFlagWrite);
  rx.make_available(1);
  drv->notify(0);
  vm.run_io();
  ASSERT_EQ(rx.used_idx(), 2);
  EXPECT_EQ(rx.used_elem(1).second, 4u);
}

TEST_F(ConsoleTest, InputFdFlagsAreRestoredWhenTheDeviceGoes) {
  EXPECT_TRUE(fcntl(to_guest[0], F_GETFL) & O_NONBLOCK);
  t.reset();
  EXPECT_FALSE(fcntl(to_guest[0], F_GETFL) & O_NONBLOCK);
}

TEST_F(ConsoleTest, EmergencyWriteOutputsOneCharacter) {
  EXPECT_TRUE(t->device().offered_features() & (1ull << 2));
  t->io_write(0x100 + 8, 4, 'Z');
  char c = 0;
  ASSERT_EQ(read(from_guest[0], &c, 1), 1);
  EXPECT_EQ(c, 'Z');
}

}  // namespace
}  // namespace corvid::virtio
