#include "base/mapping.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

namespace corvid {
namespace {

TEST(Mapping, AnonymousIsZeroFilledAndWritable) {
  auto m = Mapping::anonymous(1 << 20, /*hugepages=*/true);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->size(), 1u << 20);
  EXPECT_EQ(m->data()[12345], 0);
  m->data()[12345] = 7;
  EXPECT_EQ(m->data()[12345], 7);
}

TEST(Mapping, ZeroSizeIsAnError) {
  auto m = Mapping::anonymous(0);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, EINVAL);
}

TEST(Mapping, UnmapsOnResetAndMove) {
  auto m = Mapping::anonymous(4096);
  ASSERT_TRUE(m);
  void* addr = m->data();
  Mapping moved = std::move(*m);
  EXPECT_FALSE(m->valid());
  EXPECT_EQ(moved.data(), addr);
  moved.reset();
  // The page is gone: mincore on an unmapped range fails with ENOMEM.
  unsigned char vec;
  EXPECT_EQ(::mincore(addr, 4096, &vec), -1);
  EXPECT_EQ(errno, ENOMEM);
}

}  // namespace
}  // namespace corvid
