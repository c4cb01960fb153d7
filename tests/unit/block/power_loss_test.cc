#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "power_loss_run.h"
#include "test_util.h"

namespace corvid::block {
namespace {

using testing::CutReport;
using testing::PowerLossConfig;
using testing::TempDir;

TEST(PowerLossEngine, UnflushedWritesAreLostAndFlushedOnesKept) {
  TempDir dir;
  std::string path = dir.file("r.raw");
  CreateOptions co;
  co.size = 1 << 20;
  ASSERT_TRUE(create_image(path, co));
  PowerLossOptions po;
  po.keep_some = false;
  PowerLossEngine engine(*IoEngine::create(AioMode::kIoUring), po);
  OpenOptions oo;
  oo.format = "raw";
  auto dev = open_image(path, oo, &engine);
  ASSERT_TRUE(dev);
  std::vector<uint8_t> a(4096, 0xaa), b(4096, 0xbb), got(4096);
  ASSERT_TRUE(write_sync(**dev, 0, a.data(), a.size()));
  ASSERT_TRUE(flush_sync(**dev));
  ASSERT_TRUE(write_sync(**dev, 0, b.data(), b.size()));
  ASSERT_TRUE(write_sync(**dev, 8192, b.data(), b.size()));
  // Before the cut reads see the cache.
  ASSERT_TRUE(read_sync(**dev, 0, got.data(), got.size()));
  EXPECT_EQ(got, b);
  engine.cut();
  auto w = write_sync(**dev, 0, a.data(), a.size());
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, EIO);
  EXPECT_FALSE(flush_sync(**dev));
  EXPECT_FALSE(read_sync(**dev, 0, got.data(), got.size()));
  dev->reset();
  EXPECT_EQ(engine.stats().volatile_writes, 2);
  auto again = open_image(path, oo);
  ASSERT_TRUE(again);
  ASSERT_TRUE(read_sync(**again, 0, got.data(), got.size()));
  EXPECT_EQ(got, a);
  ASSERT_TRUE(read_sync(**again, 8192, got.data(), got.size()));
  EXPECT_EQ(got, std::vector<uint8_t>(4096, 0));
}

// cache=none: aligned requests go to the O_DIRECT descriptor; the journal reads through its
// own buffered one.
TEST(PowerLossEngine, DirectIoWritesAreJournalledToo) {
  TempDir dir;
  std::string path = dir.file("d.raw");
  CreateOptions co;
  co.size = 1 << 20;
  ASSERT_TRUE(create_image(path, co));
  PowerLossOptions po;
  po.keep_some = false;
  PowerLossEngine engine(*IoEngine::create(AioMode::kIoUring), po);
  OpenOptions oo;
  oo.format = "raw";
  oo.cache = CacheMode::kNone;
  auto dev = open_image(path, oo, &engine);
  ASSERT_TRUE(dev) << dev.error().message;
  auto* a = static_cast<uint8_t*>(std::aligned_alloc(4096, 8192));
  auto* b = a + 4096;
  std::memset(a, 0xaa, 4096);
  std::memset(b, 0xbb, 4096);
  ASSERT_TRUE(write_sync(**dev, 0, a, 4096));
  ASSERT_TRUE(flush_sync(**dev));
  ASSERT_TRUE(write_sync(**dev, 0, b, 4096));
  engine.cut();
  dev->reset();
  EXPECT_EQ(engine.stats().volatile_writes, 1);
  auto again = open_image(path, OpenOptions{});
  ASSERT_TRUE(again);
  std::vector<uint8_t> got(4096);
  ASSERT_TRUE(read_sync(**again, 0, got.data(), got.size()));
  EXPECT_EQ(got, std::vector<uint8_t>(4096, 0xaa));
  std::free(a);
}

TEST(PowerLossEngine, TheCutRequestFailsAndSizeChangesAreUndone) {
  TempDir dir;
  std::string path = dir.file("r.raw");
  CreateOptions co;
  co.size = 4096;
  ASSERT_TRUE(create_image(path, co));
  PowerLossOptions po;
  po.keep_some = false;
  po.cut_at = 2;  // write, flush, then the growing write is where the power goes
  PowerLossEngine engine(*IoEngine::create(AioMode::kIoUring), po);
  OpenOptions oo;
  oo.format = "raw";
  auto dev = open_image(path, oo, &engine);
  ASSERT_TRUE(dev);
  std::vector<uint8_t> a(512, 0x11);
  ASSERT_TRUE(write_sync(**dev, 0, a.data(), a.size()));
  ASSERT_TRUE(flush_sync(**dev));
  ASSERT_TRUE(engine.power_is_off() == false);
  EXPECT_FALSE(write_sync(**dev, 512, a.data(), a.size()));
  EXPECT_TRUE(engine.power_is_off());
  EXPECT_EQ(engine.stats().requests, 3);
}

// Hundreds of cut points over the three kinds of image: every write acknowledged by a
// completed flush reads back, and qcow2 images have no corruption (see power_loss_run.h).
class PowerLoss : public ::testing::TestWithParam<PowerLossConfig> {};

TEST_P(PowerLoss, FlushedWritesSurviveEveryCut) {
  const PowerLossConfig c = GetParam();
  TempDir dir;
  std::string path = dir.file("img");
  // Cut points spread over a run of ~48 writes (a run issues a few hundred requests).
  const int kCuts = 100;
  int64_t acked = 0, volatile_writes = 0, kept = 0, torn = 0, leaks = 0, repaired = 0;
  for (int i = 0; i < kCuts; ++i) {
    uint64_t seed = 1000 + static_cast<uint64_t>(i);
    int64_t cut_at = static_cast<int64_t>((seed * 2654435761u) % 320);
    CutReport r = testing::run_cut(c, path, seed, cut_at);
    ASSERT_TRUE(r.failure.empty())
        << c.name << " seed " << seed << " cut_at " << cut_at << ": " << r.failure;
    acked += r.acked_writes;
    volatile_writes += r.stats.volatile_writes;
    kept += r.stats.kept;
    torn += r.stats.torn;
    leaks += r.leaks_after;
    repaired += r.dirty;
  }
  std::printf(
      "%s: %d cuts, %lld flushed writes verified; %lld unflushed writes at the cuts, "
      "%lld kept (%lld torn); %lld dirty images repaired; %lld leaked clusters\n",
      c.name.c_str(), kCuts, static_cast<long long>(acked), static_cast<long long>(volatile_writes),
      static_cast<long long>(kept), static_cast<long long>(torn), static_cast<long long>(repaired),
      static_cast<long long>(leaks));
}

INSTANTIATE_TEST_SUITE_P(Images, PowerLoss,
                         ::testing::Values(PowerLossConfig{"raw", "raw"},
                                           PowerLossConfig{"qcow2", "qcow2", false},
                                           PowerLossConfig{"qcow2_lazy", "qcow2", true}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace corvid::block
