#include "hw/core/guest_memory.h"

#include <gtest/gtest.h>

namespace corvid::hw {
namespace {

TEST(GuestMemory, AccessesInsideRamSucceedLittleEndian) {
  GuestMemory mem;
  ASSERT_TRUE(mem.add_ram(0, 1 << 20));
  ASSERT_TRUE(mem.write_le32(0x1000, 0x11223344));
  EXPECT_EQ(*mem.read_u8(0x1000), 0x44);
  EXPECT_EQ(*mem.read_le16(0x1002), 0x1122);
  ASSERT_TRUE(mem.write_le64((1 << 20) - 8, ~0ull));
  EXPECT_EQ(*mem.read_le64((1 << 20) - 8), ~0ull);
  EXPECT_EQ(mem.ram_size(), 1u << 20);
}

TEST(GuestMemory, RejectsOutOfRangeAndWrappingAccesses) {
  GuestMemory mem;
  ASSERT_TRUE(mem.add_ram(0x100000, 0x1000));
  EXPECT_FALSE(mem.read_le32(0xffffe));    // below the region
  EXPECT_FALSE(mem.read_le32(0x100ffe));   // straddles the end
  EXPECT_FALSE(mem.read_le64(~0ull - 3));  // wraps
  EXPECT_EQ(mem.host_ptr(0x100000, ~0ull), nullptr);
  EXPECT_NE(mem.host_ptr(0x101000, 0), nullptr);  // empty range at the end is fine
  char buf[16];
  auto r = mem.read(0x100ff8, buf, 16);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EFAULT);
}

TEST(GuestMemory, RegionsMayNotOverlap) {
  GuestMemory mem;
  ASSERT_TRUE(mem.add_ram(0, 0x2000));
  EXPECT_FALSE(mem.add_ram(0x1000, 0x2000));
  EXPECT_TRUE(mem.add_ram(0x2000, 0x1000));
  EXPECT_FALSE(mem.add_ram(0x4000, 0));
}

}  // namespace
}  // namespace corvid::hw
