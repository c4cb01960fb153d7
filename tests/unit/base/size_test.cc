#include "base/size.h"

#include <gtest/gtest.h>

namespace corvid {
namespace {

TEST(Size, ParsesSuffixesAsPowersOf1024) {
  EXPECT_EQ(*parse_size("512"), 512u);
  EXPECT_EQ(*parse_size("64k"), 65536u);
  EXPECT_EQ(*parse_size("64K"), 65536u);
  EXPECT_EQ(*parse_size("1M"), 1u << 20);
  EXPECT_EQ(*parse_size("10G"), 10ull << 30);
  EXPECT_EQ(*parse_size("2T"), 2ull << 40);
  EXPECT_EQ(*parse_size("1.5G"), 3ull << 29);
  EXPECT_EQ(*parse_size("256", 1 << 20), 256ull << 20);
  EXPECT_EQ(*parse_size("100b"), 100u);
}

TEST(Size, RejectsGarbage) {
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("abc"));
  EXPECT_FALSE(parse_size("-1"));
  EXPECT_FALSE(parse_size("1X"));
  EXPECT_FALSE(parse_size("1KB"));
  EXPECT_FALSE(parse_size("99999999999999999999"));
  EXPECT_FALSE(parse_size("16E"));
}

TEST(Size, FormatsLikeQemu) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(512), "512 B");
  EXPECT_EQ(format_size(65536), "64 KiB");
  EXPECT_EQ(format_size(1ull << 30), "1 GiB");
  EXPECT_EQ(format_size(3ull << 29), "1.5 GiB");
  EXPECT_EQ(format_size(1000 * 1024), "0.977 MiB");
  EXPECT_EQ(format_size(196616), "192 KiB");
}

}  // namespace
}  // namespace corvid
