// The counting BlockDevice behind query-blockstats (block/stats.h): what it counts for each kind of
// request, failures, write extent and the idle clock, as QEMU's block/accounting.c does.
#include "block/stats.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace corvid::block {
namespace {

// A synchronous in-memory disk; requests fail with EIO while fail_ is set.
class MemoryDisk final : public BlockDevice {
 public:
  explicit MemoryDisk(bool* fail) : data_(1 << 20), fail_(fail) {}
  uint64_t size() const override { return data_.size(); }
  bool read_only() const override { return false; }
  std::string format_name() const override { return "raw"; }
  void read(uint64_t offset, const iovec* iov, int iovcnt, Completion done) override {
    if (*fail_) return done(errorf(EIO, "injected"));
    for (int i = 0; i < iovcnt; offset += iov[i].iov_len, ++i)
      std::memcpy(iov[i].iov_base, data_.data() + offset, iov[i].iov_len);
    done({});
  }
  void write(uint64_t offset, const iovec* iov, int iovcnt, Completion done) override {
    if (*fail_) return done(errorf(EIO, "injected"));
    for (int i = 0; i < iovcnt; offset += iov[i].iov_len, ++i)
      std::memcpy(data_.data() + offset, iov[i].iov_base, iov[i].iov_len);
    done({});
  }
  void flush(Completion done) override { done(*fail_ ? errorf(EIO, "injected") : Result<>{}); }
  void discard(uint64_t, uint64_t, Completion done) override { done({}); }
  void write_zeroes(uint64_t offset, uint64_t len, bool, Completion done) override {
    std::memset(data_.data() + offset, 0, len);
    done({});
  }
  Result<> close() override { return {}; }

 private:
  std::vector<uint8_t> data_;
  bool* fail_;
};

struct Counted : ::testing::Test {
  bool fail = false;
  std::shared_ptr<IoStats> stats = std::make_shared<IoStats>();
  std::unique_ptr<BlockDevice> disk =
      make_counting_device(std::make_unique<MemoryDisk>(&fail), stats);
  int completions = 0, errors = 0;
  Completion done() {
    return [this](Result<> r) {
      ++completions;
      if (!r) ++errors;
    };
  }
};

TEST_F(Counted, NothingCountedAndNoIdleTimeBeforeTheFirstRequest) {
  IoStatsSnapshot s = stats->snapshot();
  for (const auto& k : s.kinds) EXPECT_EQ(k.operations + k.bytes + k.failed + k.invalid, 0u);
  EXPECT_FALSE(s.idle_time_ns.has_value());
}

TEST_F(Counted, ReadsWritesFlushesAndDiscardsCountTheirBytesAndOperations) {
  uint8_t a[4096] = {}, b[512] = {};
  iovec two[2] = {{a, sizeof a}, {b, sizeof b}};
  disk->write(8192, two, 2, done());
  disk->write(0, two + 1, 1, done());
  disk->read(0, two, 2, done());
  disk->flush(done());
  disk->flush(done());
  disk->discard(65536, 16384, done());
  disk->write_zeroes(131072, 4096, false, done());
  EXPECT_EQ(completions, 7);
  EXPECT_EQ(errors, 0);

  IoStatsSnapshot s = stats->snapshot();
  EXPECT_EQ(s[IoKind::kWrite].operations, 3u);  // write-zeroes counts as a write
  EXPECT_EQ(s[IoKind::kWrite].bytes, 4608u + 512u + 4096u);
  EXPECT_EQ(s[IoKind::kRead].operations, 1u);
  EXPECT_EQ(s[IoKind::kRead].bytes, 4608u);
  EXPECT_EQ(s[IoKind::kFlush].operations, 2u);
  EXPECT_EQ(s[IoKind::kFlush].bytes, 0u);
  EXPECT_EQ(s[IoKind::kUnmap].operations, 1u);
  EXPECT_EQ(s[IoKind::kUnmap].bytes, 16384u);
  EXPECT_EQ(s.wr_highest_offset, 131072u + 4096u);
  ASSERT_TRUE(s.idle_time_ns.has_value());
  for (const auto& k : s.kinds) EXPECT_EQ(k.failed + k.invalid, 0u);
}

TEST_F(Counted, FailedRequestsCountAsFailedWithoutBytes) {
  uint8_t a[4096] = {};
  iovec v{a, sizeof a};
  fail = true;
  disk->write(4096, &v, 1, done());
  disk->read(0, &v, 1, done());
  disk->flush(done());
  EXPECT_EQ(errors, 3);  // the error still reaches the caller
  IoStatsSnapshot s = stats->snapshot();
  for (IoKind k : {IoKind::kRead, IoKind::kWrite, IoKind::kFlush}) {
    EXPECT_EQ(s[k].failed, 1u);
    EXPECT_EQ(s[k].operations, 0u);
    EXPECT_EQ(s[k].bytes, 0u);
  }
  // As in QEMU, a failed write still marks how far writes reached.
  EXPECT_EQ(s.wr_highest_offset, 8192u);
  EXPECT_TRUE(s.idle_time_ns.has_value());
}

TEST_F(Counted, InvalidRequestsAreCountedApart) {
  stats->account_invalid(IoKind::kRead);
  stats->account_invalid(IoKind::kRead);
  stats->account_invalid(IoKind::kUnmap);
  IoStatsSnapshot s = stats->snapshot();
  EXPECT_EQ(s[IoKind::kRead].invalid, 2u);
  EXPECT_EQ(s[IoKind::kUnmap].invalid, 1u);
  EXPECT_EQ(s[IoKind::kRead].operations, 0u);
  EXPECT_EQ(s[IoKind::kRead].total_time_ns, 0u);
  EXPECT_TRUE(s.idle_time_ns.has_value());
}

TEST_F(Counted, IdleTimeGrowsWhileNothingHappens) {
  disk->flush(done());
  uint64_t first = *stats->snapshot().idle_time_ns;
  timespec pause{0, 20 * 1000 * 1000};
  nanosleep(&pause, nullptr);
  uint64_t later = *stats->snapshot().idle_time_ns;
  EXPECT_GE(later - first, 20u * 1000 * 1000);
}

TEST_F(Counted, DeviceQueriesPassThrough) {
  EXPECT_EQ(disk->size(), 1u << 20);
  EXPECT_EQ(disk->format_name(), "raw");
  EXPECT_FALSE(disk->read_only());
  EXPECT_TRUE(disk->close());
}

}  // namespace
}  // namespace corvid::block
