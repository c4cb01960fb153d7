#include <sys/stat.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "block/image.h"
#include "block/sync_io.h"
#include "test_util.h"

namespace corvid::block {
namespace {

struct Params {
  CacheMode cache;
  AioMode aio;
};
class RawTest : public ::testing::TestWithParam<Params> {};

TEST_P(RawTest, CreateWriteReadInfoStatus) {
  testing::TempDir dir;
  std::string path = dir.file("a.raw");
  CreateOptions co;
  co.size = 4 << 20;
  ASSERT_TRUE(create_image(path, co));
  OpenOptions oo;
  oo.cache = GetParam().cache;
  oo.aio = GetParam().aio;
  auto dev = open_image(path, oo);
  ASSERT_TRUE(dev) << dev.error().to_string();
  EXPECT_EQ((*dev)->size(), 4u << 20);
  EXPECT_EQ((*dev)->format_name(), "raw");

  // An aligned buffer for O_DIRECT and an unaligned one (served by the buffered descriptor).
  alignas(4096) static uint8_t buf[8192];
  std::memset(buf, 0x5a, sizeof buf);
  ASSERT_TRUE(write_sync(**dev, 1 << 20, buf, 8192));
  ASSERT_TRUE(write_sync(**dev, 3, buf + 1, 100));
  ASSERT_TRUE(flush_sync(**dev));
  alignas(4096) static uint8_t back[8192];
  ASSERT_TRUE(read_sync(**dev, 1 << 20, back, 8192));
  EXPECT_EQ(std::memcmp(buf, back, 8192), 0);
  ASSERT_TRUE(read_sync(**dev, 0, back, 512));
  EXPECT_EQ(back[2], 0);
  EXPECT_EQ(back[3], 0x5a);
  EXPECT_EQ(back[102], 0x5a);
  EXPECT_EQ(back[103], 0);

  auto st = block_status(**dev, 2 << 20, 1 << 20);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->zero);
  EXPECT_FALSE(st->data);
  st = block_status(**dev, 1 << 20, 1 << 20);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->data);
  EXPECT_EQ(st->host_offset, 1u << 20);

  auto info = query_info(**dev, path);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->format, "raw");
  EXPECT_EQ(info->virtual_size, 4u << 20);
  EXPECT_GT(info->actual_size, 0u);

  ASSERT_TRUE(write_zeroes_sync(**dev, 1 << 20, 4096, false));
  ASSERT_TRUE(read_sync(**dev, 1 << 20, back, 8192));
  EXPECT_EQ(back[0], 0);
  EXPECT_EQ(back[4096], 0x5a);
  ASSERT_TRUE(discard_sync(**dev, 1 << 20, 8192));
  EXPECT_TRUE((*dev)->close());
}

INSTANTIATE_TEST_SUITE_P(Modes, RawTest,
                         ::testing::Values(Params{CacheMode::kWriteback, AioMode::kIoUring},
                                           Params{CacheMode::kNone, AioMode::kIoUring},
                                           Params{CacheMode::kWritethrough, AioMode::kThreads},
                                           Params{CacheMode::kDirectSync, AioMode::kThreads}));

TEST(Raw, OutOfRangeAndReadOnlyRequestsFail) {
  testing::TempDir dir;
  std::string path = dir.file("a.raw");
  CreateOptions co;
  co.size = 65536;
  ASSERT_TRUE(create_image(path, co));
  OpenOptions oo;
  oo.read_only = true;
  auto dev = open_image(path, oo);
  ASSERT_TRUE(dev);
  char b[512];
  auto r = read_sync(**dev, 65536, b, 512);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EIO);
  r = write_sync(**dev, 0, b, 512);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EACCES);
}

TEST(Raw, CreateRejectsUnknownOptionsWithQemuText) {
  testing::TempDir dir;
  CreateOptions co;
  co.size = 1 << 20;
  co.options["cluster_size"] = "65536";
  auto r = create_image(dir.file("b.raw"), co);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "Invalid parameter 'cluster_size'");
  co.options.clear();
  co.options["preallocation"] = "falloc";
  ASSERT_TRUE(create_image(dir.file("b.raw"), co));
  struct stat st;
  ASSERT_EQ(::stat(dir.file("b.raw").c_str(), &st), 0);
  EXPECT_GE(uint64_t(st.st_blocks) * 512, 1u << 20);
}

TEST(Raw, MissingFileGivesAnError) {
  auto dev = open_image("/nonexistent/x.raw", OpenOptions{});
  ASSERT_FALSE(dev);
  EXPECT_EQ(dev.error().code, ENOENT);
}

}  // namespace
}  // namespace corvid::block
