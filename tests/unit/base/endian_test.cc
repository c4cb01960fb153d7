#include "base/endian.h"

#include <gtest/gtest.h>

namespace corvid {
namespace {

TEST(Endian, BigEndianRoundTripAndByteOrder) {
  uint8_t buf[9] = {};
  store_be32(buf + 1, 0x514649fb);  // unaligned on purpose
  EXPECT_EQ(buf[1], 0x51);
  EXPECT_EQ(buf[4], 0xfb);
  EXPECT_EQ(load_be32(buf + 1), 0x514649fbu);
  store_be64(buf + 1, 0x0102030405060708ull);
  EXPECT_EQ(buf[1], 1);
  EXPECT_EQ(buf[8], 8);
  EXPECT_EQ(load_be64(buf + 1), 0x0102030405060708ull);
  store_be16(buf, 0xabcd);
  EXPECT_EQ(buf[0], 0xab);
  EXPECT_EQ(load_be16(buf), 0xabcd);
}

TEST(Endian, LittleEndianRoundTripAndByteOrder) {
  uint8_t buf[9] = {};
  store_le32(buf + 1, 0x11223344);
  EXPECT_EQ(buf[1], 0x44);
  EXPECT_EQ(buf[4], 0x11);
  EXPECT_EQ(load_le32(buf + 1), 0x11223344u);
  store_le64(buf + 1, 0x0102030405060708ull);
  EXPECT_EQ(buf[1], 8);
  EXPECT_EQ(load_le64(buf + 1), 0x0102030405060708ull);
  store_le16(buf, 0xabcd);
  EXPECT_EQ(buf[0], 0xcd);
  EXPECT_EQ(load_le16(buf), 0xabcd);
}

}  // namespace
}  // namespace corvid
