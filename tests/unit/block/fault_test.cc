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
    CreateOptions co;
    co.format = "qcow2";
    co.size = 8 << 20;
    co.options = {{"cluster_size", "4096"}, {"lazy_refcounts", c.lazy ? "on" : "off"}};
    ASSERT_TRUE(create_image(path, co));
    FaultPlan plan;
    auto engine = fault_injecting_engine(*IoEngine::create(AioMode::kIoUring), &plan);
    auto dev = open_image(path, OpenOptions{}, engine.get());
    ASSERT_TRUE(dev);
    plan.seen = 0;
    plan.fail_at = fail_at;
    plan.error = c.error;
    plan.sticky = c.sticky;
    std::vector<bool> ok;
    bool saw_error = false;
    for (size_t i = 0; i < std::size(writes); ++i) {
      std::vector<uint8_t> buf(writes[i].len, static_cast<uint8_t>(i + 1));
      auto r = write_sync(**dev, writes[i].off, buf.data(), buf.size());
      if (!r) {
        EXPECT_EQ(r.error().code, c.error) << r.error().message;
        saw_error = true;
      }
      ok.push_back(r.has_value());
    }
    const int64_t seen = plan.seen;
    plan.fail_at = -1;
    (void)(*dev)->close();
    dev->reset();
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
