#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "block/check.h"
#include "block/fault_injection.h"
#include "block/image.h"
#include "block/sync_io.h"
#include "test_util.h"

namespace corvid::block {
namespace {

// A fresh 8 MiB qcow2 (4 KiB clusters) opened through a fault-injecting engine; the plan
// (which the engine points to, so the struct stays put) counts from after the open.
struct FaultyImage {
  FaultPlan plan;
  std::unique_ptr<IoEngine> engine;
  std::unique_ptr<BlockDevice> dev;
};

std::unique_ptr<FaultyImage> open_faulty(const std::string& path, bool lazy) {
  CreateOptions co;
  co.format = "qcow2";
  co.size = 8 << 20;
  co.options = {{"cluster_size", "4096"}, {"lazy_refcounts", lazy ? "on" : "off"}};
  if (!create_image(path, co)) return nullptr;
  auto f = std::make_unique<FaultyImage>();
  auto inner = IoEngine::create(AioMode::kIoUring);
  if (!inner) return nullptr;
  f->engine = fault_injecting_engine(std::move(*inner), &f->plan);
  auto dev = open_image(path, OpenOptions{}, f->engine.get());
  if (!dev) return nullptr;
  f->dev = std::move(*dev);
  return f;
}

struct Case {
  int error;
  bool sticky;
  bool lazy;
};

class FaultInjection : public ::testing::TestWithParam<Case> {};

// For every possible failing request: the failing write reports the injected errno, writes
// acknowledged before it read back, and the image has no corruption afterwards (leaks are
// allowed: a failed allocation may orphan a cluster, as in QEMU).
TEST_P(FaultInjection, FailedWritesLeaveAConsistentImage) {
  const Case c = GetParam();
  testing::TempDir dir;
  std::string path = dir.file("f.qcow2");
  struct W {
    uint64_t off, len;
  };
  const W writes[] = {
      {0, 512},          {70000, 3000}, {1 << 20, 65536}, {(1 << 20) + 65536 + 512, 512},
      {3 << 20, 200000}, {100, 100},    {6 << 20, 4096},  {(6 << 20) + 8192, 70000}};
  for (int fail_at = 0; fail_at < 40; ++fail_at) {
    auto image = open_faulty(path, c.lazy);
    ASSERT_TRUE(image);
    FaultPlan& plan = image->plan;
    std::unique_ptr<BlockDevice>& dev = image->dev;
    plan.seen = 0;
    plan.fail_at = fail_at;
    plan.error = c.error;
    plan.sticky = c.sticky;
    std::vector<bool> ok;
    bool saw_error = false;
    for (size_t i = 0; i < std::size(writes); ++i) {
      std::vector<uint8_t> buf(writes[i].len, static_cast<uint8_t>(i + 1));
      auto r = write_sync(*dev, writes[i].off, buf.data(), buf.size());
      if (!r) {
        EXPECT_EQ(r.error().code, c.error) << r.error().message;
        saw_error = true;
      }
      ok.push_back(r.has_value());
    }
    const int64_t seen = plan.seen;
    plan.fail_at = -1;
    (void)dev->close();
    dev.reset();
    if (seen <= fail_at) {
      EXPECT_FALSE(saw_error);
    }

    auto check = check_image(path, "qcow2", RepairMode::kNone, stderr);
    ASSERT_TRUE(check) << check.error().message;
    EXPECT_EQ(check->check_errors, 0) << "fail_at " << fail_at;
    if (!c.lazy) {
      EXPECT_EQ(check->corruptions, 0) << "fail_at " << fail_at;
    }
    // Reopen (repairing a dirty lazy image) and read back every acknowledged write.
    auto again = open_image(path, OpenOptions{});
    ASSERT_TRUE(again) << again.error().message;
    for (size_t i = 0; i < std::size(writes); ++i) {
      if (!ok[i]) continue;
      std::vector<uint8_t> buf(writes[i].len);
      ASSERT_TRUE(read_sync(**again, writes[i].off, buf.data(), buf.size()));
      // Writes 0 and 5 overlap ([0,512) and [100,200)): the later one wins where both landed.
      for (size_t b = 0; b < buf.size(); ++b) {
        uint64_t at = writes[i].off + b;
        uint8_t want = static_cast<uint8_t>(i + 1);
        if (i == 0 && at >= 100 && at < 200 && ok[5]) want = 6;
        ASSERT_EQ(buf[b], want) << "write " << i << " fail_at " << fail_at;
      }
    }
    ASSERT_TRUE((*again)->close());
    check = check_image(path, "qcow2", RepairMode::kNone, stderr);
    ASSERT_TRUE(check);
    EXPECT_EQ(check->corruptions, 0) << "after reopen, fail_at " << fail_at;
  }
}

INSTANTIATE_TEST_SUITE_P(Errors, FaultInjection,
                         ::testing::Values(Case{EIO, false, false}, Case{ENOSPC, true, false},
                                           Case{EIO, false, true}, Case{ENOSPC, true, true}));

}  // namespace
}  // namespace corvid::block

namespace corvid::block {
namespace {

struct TargetCase {
  FaultTarget target;
  int error;
  bool lazy;
};

std::string target_name(FaultTarget t) {
  switch (t) {
    case FaultTarget::kAnyWrite:
      return "any";
    case FaultTarget::kDataWrite:
      return "data";
    case FaultTarget::kMetadataWrite:
      return "metadata";
    case FaultTarget::kFlush:
      return "flush";
  }
  return "?";
}

class FaultTargets : public ::testing::TestWithParam<TargetCase> {};

// The Nth data write, metadata write or flush fails once: that request (and only that one)
// reports the injected errno with a message, later requests work, and after a clean close
// the image has no corruption (leaks allowed: a failed allocation may orphan clusters, as in
// QEMU) and every write that was acknowledged reads back.
TEST_P(FaultTargets, TheFailingRequestReportsTheErrnoAndTheImageStaysConsistent) {
  const TargetCase c = GetParam();
  testing::TempDir dir;
  std::string path = dir.file("t.qcow2");
  struct W {
    uint64_t off, len;
  };
  // Allocating writes, writes into clusters already allocated (the engine's fast path), and
  // a second L2 table (2 MiB apart with 4 KiB clusters).
  const W writes[] = {
      {0, 4096},    {8192, 12288},          {0, 2048},       {3 << 20, 70000},
      {8192, 4096}, {(3 << 20) + 100, 500}, {6 << 20, 4096}, {(6 << 20) + 4096, 8192}};
  int64_t injected = 0, leaks = 0;
  for (int fail_at = 0; fail_at < 20; ++fail_at) {
    auto image = open_faulty(path, c.lazy);
    ASSERT_TRUE(image);
    FaultPlan& plan = image->plan;
    std::unique_ptr<BlockDevice>& dev = image->dev;
    plan.target = c.target;
    plan.error = c.error;
    plan.seen = 0;
    plan.fail_at = fail_at;
    std::vector<uint8_t> expect(8 << 20, 0), known(8 << 20, 1);
    int failures = 0;
    for (size_t i = 0; i < std::size(writes); ++i) {
      std::vector<uint8_t> buf(writes[i].len, static_cast<uint8_t>(0x10 + i));
      auto r = write_sync(*dev, writes[i].off, buf.data(), buf.size());
      bool ok = r.has_value();
      if (!ok) {
        ++failures;
        EXPECT_EQ(r.error().code, c.error) << r.error().message;
        EXPECT_FALSE(r.error().message.empty());
      }
      for (uint64_t b = 0; b < writes[i].len; ++b) {
        // A failed write leaves its range undefined (old or new data).
        expect[writes[i].off + b] = buf[b];
        known[writes[i].off + b] = ok;
      }
      if (i % 2 == 1) {
        auto f = flush_sync(*dev);
        if (!f) {
          ++failures;
          EXPECT_EQ(f.error().code, c.error) << f.error().message;
        }
      }
    }
    EXPECT_EQ(failures, plan.injected) << target_name(c.target) << " fail_at " << fail_at;
    injected += plan.injected;
    plan.fail_at = -1;
    ASSERT_TRUE(dev->close()) << "fail_at " << fail_at;
    dev.reset();

    auto check = check_image(path, "qcow2", RepairMode::kNone, stderr);
    ASSERT_TRUE(check) << check.error().message;
    EXPECT_EQ(check->corruptions, 0) << target_name(c.target) << " fail_at " << fail_at;
    EXPECT_EQ(check->check_errors, 0);
    leaks += check->leaks;
    auto again = open_image(path, OpenOptions{});
    ASSERT_TRUE(again) << again.error().message;
    std::vector<uint8_t> got(8 << 20);
    ASSERT_TRUE(read_sync(**again, 0, got.data(), got.size()));
    for (size_t b = 0; b < got.size(); ++b) {
      if (known[b]) {
        ASSERT_EQ(got[b], expect[b]) << "byte " << b << " fail_at " << fail_at;
      }
    }
  }
  EXPECT_GT(injected, 0);  // the target kind occurred
  std::printf("%s %s lazy=%d: %lld requests failed, %lld leaked clusters\n",
              target_name(c.target).c_str(), std::strerror(c.error), c.lazy,
              static_cast<long long>(injected), static_cast<long long>(leaks));
}

INSTANTIATE_TEST_SUITE_P(Kinds, FaultTargets,
                         ::testing::Values(TargetCase{FaultTarget::kDataWrite, EIO, false},
                                           TargetCase{FaultTarget::kDataWrite, ENOSPC, true},
                                           TargetCase{FaultTarget::kMetadataWrite, EIO, false},
                                           TargetCase{FaultTarget::kMetadataWrite, ENOSPC, false},
                                           TargetCase{FaultTarget::kMetadataWrite, EIO, true},
                                           TargetCase{FaultTarget::kFlush, EIO, false},
                                           TargetCase{FaultTarget::kFlush, ENOSPC, true}));

}  // namespace
}  // namespace corvid::block
