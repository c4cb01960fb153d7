#include "base/result.h"

#include <gtest/gtest.h>

namespace corvid {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return errorf(EINVAL, "value {} is not positive", v);
  return v;
}

Result<int> doubled(int v) {
  int x = CORVID_TRY(parse_positive(v));
  return 2 * x;
}

TEST(Result, ValueAndErrorCarryErrnoAndMessage) {
  auto ok = parse_positive(3);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, EINVAL);
  EXPECT_EQ(bad.error().message, "value -1 is not positive");
  EXPECT_EQ(bad.error().to_string(), "value -1 is not positive: Invalid argument");
}

TEST(Result, TryPropagatesErrorsAndUnwrapsValues) {
  EXPECT_EQ(*doubled(4), 8);
  auto bad = doubled(0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, EINVAL);
}

TEST(Result, ErrnoErrorCapturesErrno) {
  errno = ENOENT;
  Result<> r = errno_error("open {}", "x.img");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().to_string(), "open x.img: No such file or directory");
}

TEST(Result, WithContextPrefixesMessage) {
  Error e = with_context(Error{EIO, "short read"}, "disk.qcow2");
  EXPECT_EQ(e.message, "disk.qcow2: short read");
  EXPECT_EQ((Error{0, "plain"}.to_string()), "plain");
}

}  // namespace
}  // namespace corvid
