#include "hw/core/io_bus.h"

#include <gtest/gtest.h>

namespace corvid::hw {
namespace {

struct Recorder : IoHandler {
  uint64_t last_offset = 0, last_value = 0;
  unsigned last_size = 0;
  uint64_t io_read(uint64_t offset, unsigned size) override {
    last_offset = offset;
    last_size = size;
    return 0xab;
  }
  void io_write(uint64_t offset, unsigned size, uint64_t value) override {
    last_offset = offset;
    last_size = size;
    last_value = value;
  }
};

TEST(IoBus, DispatchesByRangeWithRelativeOffsets) {
  IoBus bus(IoSpace::kPio);
  Recorder a, b;
  ASSERT_TRUE(bus.add(0x3f8, 8, &a, "serial"));
  ASSERT_TRUE(bus.add(0xf4, 4, &b, "debug-exit"));
  uint64_t v = 0;
  EXPECT_TRUE(bus.read(0x3fd, 1, &v));
  EXPECT_EQ(v, 0xabu);
  EXPECT_EQ(a.last_offset, 5u);
  EXPECT_TRUE(bus.write(0xf4, 4, 7));
  EXPECT_EQ(b.last_value, 7u);
  EXPECT_EQ(b.last_size, 4u);
}

TEST(IoBus, UnclaimedReadsReturnAllOnes) {
  IoBus bus(IoSpace::kMmio);
  uint64_t v = 0;
  EXPECT_FALSE(bus.read(0x1000, 2, &v));
  EXPECT_EQ(v, 0xffffu);
  EXPECT_FALSE(bus.read(0x1000, 8, &v));
  EXPECT_EQ(v, ~0ull);
  EXPECT_FALSE(bus.write(0x1000, 4, 1));
}

TEST(IoBus, OverlapsAreRefused) {
  IoBus bus(IoSpace::kMmio);
  Recorder a;
  ASSERT_TRUE(bus.add(0x1000, 0x100, &a, "a"));
  EXPECT_FALSE(bus.add(0x10ff, 1, &a, "b"));
  EXPECT_FALSE(bus.add(0xf00, 0x101, &a, "c"));
  EXPECT_TRUE(bus.add(0x1100, 1, &a, "d"));
  bus.remove(0x1000);
  EXPECT_TRUE(bus.add(0x1000, 0x100, &a, "e"));
}

}  // namespace
}  // namespace corvid::hw
