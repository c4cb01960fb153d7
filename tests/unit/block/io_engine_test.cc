#include "block/io_engine.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "test_util.h"

namespace corvid::block {
namespace {

class IoEngineTest : public ::testing::TestWithParam<AioMode> {};

TEST_P(IoEngineTest, BatchedWritesThenReadsRoundTrip) {
  testing::TempDir dir;
  UniqueFd fd(::open(dir.file("f").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_TRUE(fd);
  auto engine = IoEngine::create(GetParam());
  ASSERT_TRUE(engine) << engine.error().to_string();
  constexpr int kN = 300;  // more than the ring holds: exercises a full submission queue
  std::vector<std::vector<uint8_t>> bufs(kN, std::vector<uint8_t>(4096));
  std::vector<iovec> iovs(kN);
  int completed = 0;
  for (int i = 0; i < kN; ++i) {
    std::memset(bufs[i].data(), i & 0xff, 4096);
    iovs[i] = {bufs[i].data(), 4096};
    (*engine)->writev(fd.get(), uint64_t(i) * 4096, &iovs[i], 1, [&](int64_t res) {
      EXPECT_EQ(res, 4096);
      ++completed;
    });
  }
  EXPECT_EQ(completed, 0);  // callbacks only run from poll()
  while ((*engine)->in_flight() > 0) (*engine)->poll(true);
  EXPECT_EQ(completed, kN);
  bool synced = false;
  (*engine)->fsync(fd.get(), true, [&](int64_t res) {
    EXPECT_EQ(res, 0);
    synced = true;
  });
  while (!synced) (*engine)->poll(true);

  for (auto& b : bufs) std::memset(b.data(), 0xee, 4096);
  completed = 0;
  for (int i = 0; i < kN; ++i) {
    (*engine)->readv(fd.get(), uint64_t(i) * 4096, &iovs[i], 1, [&, i](int64_t res) {
      EXPECT_EQ(res, 4096);
      EXPECT_EQ(bufs[i][0], i & 0xff);
      EXPECT_EQ(bufs[i][4095], i & 0xff);
      ++completed;
    });
  }
  while ((*engine)->in_flight() > 0) (*engine)->poll(true);
  EXPECT_EQ(completed, kN);
}

TEST_P(IoEngineTest, ErrorsArriveAsNegativeErrno) {
  auto engine = IoEngine::create(GetParam());
  ASSERT_TRUE(engine);
  char buf[16];
  iovec iov{buf, sizeof buf};
  int64_t got = 1;
  (*engine)->readv(-1, 0, &iov, 1, [&](int64_t res) { got = res; });
  while ((*engine)->in_flight() > 0) (*engine)->poll(true);
  EXPECT_EQ(got, -EBADF);
}

TEST_P(IoEngineTest, FallocatePunchesHoles) {
  testing::TempDir dir;
  UniqueFd fd(::open(dir.file("f").c_str(), O_RDWR | O_CREAT, 0644));
  std::vector<char> data(1 << 20, 'x');
  ASSERT_EQ(::pwrite(fd.get(), data.data(), data.size(), 0), ssize_t(data.size()));
  auto engine = IoEngine::create(GetParam());
  int64_t got = 1;
  (*engine)->fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 20,
                       [&](int64_t res) { got = res; });
  while ((*engine)->in_flight() > 0) (*engine)->poll(true);
  EXPECT_EQ(got, 0);
  char c = 1;
  ASSERT_EQ(::pread(fd.get(), &c, 1, 4096), 1);
  EXPECT_EQ(c, 0);
}

TEST_P(IoEngineTest, DeferredCompletionsRunFromPoll) {
  auto engine = IoEngine::create(GetParam());
  int64_t got = 1;
  (*engine)->complete_later([&](int64_t res) { got = res; }, -5);
  EXPECT_EQ(got, 1);
  EXPECT_EQ((*engine)->in_flight(), 1u);
  EXPECT_EQ((*engine)->poll(true), 1);
  EXPECT_EQ(got, -5);
}

TEST_P(IoEngineTest, DeferredCompletionsWakeTheEventFd) {
  auto engine = IoEngine::create(GetParam());
  (*engine)->poll(false);
  pollfd p{(*engine)->event_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  bool ran = false;
  (*engine)->complete_later([&](int64_t) { ran = true; }, 0);
  EXPECT_EQ(::poll(&p, 1, 0), 1);  // an event-loop user learns it must poll
  (*engine)->poll(false);
  EXPECT_TRUE(ran);
}

INSTANTIATE_TEST_SUITE_P(Engines, IoEngineTest,
                         ::testing::Values(AioMode::kIoUring, AioMode::kThreads));

TEST(IoEngine, ThreadsModeUsesThePool) {
  auto engine = IoEngine::create(AioMode::kThreads);
  ASSERT_TRUE(engine);
  EXPECT_STREQ((*engine)->name(), "threads");
  auto ring = IoEngine::create(AioMode::kIoUring);
  ASSERT_TRUE(ring);
  EXPECT_STREQ((*ring)->name(), "io_uring");  // this host allows io_uring
}

}  // namespace
}  // namespace corvid::block
