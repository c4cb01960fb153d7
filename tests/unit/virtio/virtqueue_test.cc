#include "virtio/virtqueue.h"

#include <gtest/gtest.h>

#include "virtio_test_support.h"

namespace corvid::virtio {
namespace {

using testing::DriverRing;

constexpr uint64_t kRing = 0x10000;
constexpr uint64_t kData = 0x100000;
constexpr uint64_t kRamEnd = 4 << 20;

class VirtqueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(0, kRamEnd, false).has_value());
    ring = std::make_unique<DriverRing>(mem, kRing, 8);
  }
  Result<> start(bool event_idx = false) {
    return vq.start(mem, {ring->size(), ring->desc(), ring->avail(), ring->used()}, event_idx);
  }
  hw::GuestMemory mem;
  std::unique_ptr<DriverRing> ring;
  Virtqueue vq;
  Chain chain;
};

TEST_F(VirtqueueTest, PopsReadableThenWritableBuffers) {
  ASSERT_TRUE(start());
  ring->set_desc(0, kData, 16, kDescFlagNext, 3);
  ring->set_desc(3, kData + 0x1000, 512, kDescFlagNext | kDescFlagWrite, 5);
  ring->set_desc(5, kData + 0x2000, 1, kDescFlagWrite);
  ring->make_available(0);
  auto got = vq.pop(&chain);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  ASSERT_TRUE(*got);
  EXPECT_EQ(chain.head, 0);
  ASSERT_EQ(chain.out.size(), 1u);
  ASSERT_EQ(chain.in.size(), 2u);
  EXPECT_EQ(chain.out_len, 16u);
  EXPECT_EQ(chain.in_len, 513u);
  EXPECT_EQ(chain.out[0].iov_base, mem.host_ptr(kData, 16));
  EXPECT_EQ(chain.in[1].iov_base, mem.host_ptr(kData + 0x2000, 1));
  auto again = vq.pop(&chain);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);  // ring empty
}

TEST_F(VirtqueueTest, FollowsIndirectTable) {
  ASSERT_TRUE(start());
  const uint64_t table = 0x20000;
  ring->set_table_desc(table, 0, kData, 16, kDescFlagNext, 1);
  ring->set_table_desc(table, 1, kData + 0x1000, 4096, kDescFlagNext | kDescFlagWrite, 2);
  ring->set_table_desc(table, 2, kData + 0x3000, 1, kDescFlagWrite);
  ring->set_desc(2, table, 3 * 16, kDescFlagIndirect);
  ring->make_available(2);
  auto got = vq.pop(&chain);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  ASSERT_TRUE(*got);
  EXPECT_EQ(chain.head, 2);
  EXPECT_EQ(chain.out_len, 16u);
  EXPECT_EQ(chain.in_len, 4097u);
}

TEST_F(VirtqueueTest, PushPublishesUsedElementAndIndex) {
  ASSERT_TRUE(start());
  ring->set_desc(4, kData, 8, kDescFlagWrite);
  ring->make_available(4);
  ASSERT_TRUE(*vq.pop(&chain));
  ASSERT_TRUE(vq.push(chain.head, 8).has_value());
  EXPECT_EQ(ring->used_idx(), 1);
  EXPECT_EQ(ring->used_elem(0), std::make_pair(4u, 8u));
}

TEST_F(VirtqueueTest, IndicesWrapAround) {
  ASSERT_TRUE(start());
  ring->set_desc(0, kData, 8, kDescFlagWrite);
  for (int i = 0; i < 20; ++i) {  // more than the queue size, so both rings wrap
    ring->make_available(0);
    ASSERT_TRUE(*vq.pop(&chain));
    ASSERT_TRUE(vq.push(0, 8).has_value());
  }
  EXPECT_EQ(ring->used_idx(), 20);
  EXPECT_EQ(vq.last_avail_idx(), 20);
}

// --- hostile rings and chains: each is an error, never a crash or an out-of-RAM access ---

TEST_F(VirtqueueTest, RejectsLoopingChain) {
  ASSERT_TRUE(start());
  ring->set_desc(0, kData, 8, kDescFlagNext, 1);
  ring->set_desc(1, kData, 8, kDescFlagNext, 0);
  ring->make_available(0);
  auto got = vq.pop(&chain);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ELOOP);
}

TEST_F(VirtqueueTest, RejectsSelfLoop) {
  ASSERT_TRUE(start());
  ring->set_desc(7, kData, 8, kDescFlagNext, 7);
  ring->make_available(7);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsBufferOutsideRam) {
  ASSERT_TRUE(start());
  ring->set_desc(0, kRamEnd - 8, 16, 0);  // straddles the end of RAM
  ring->make_available(0);
  auto got = vq.pop(&chain);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, EFAULT);
}

TEST_F(VirtqueueTest, RejectsAddressThatWrapsAround) {
  ASSERT_TRUE(start());
  ring->set_desc(0, ~0ull - 4, 0x100, 0);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsNextIndexBeyondTable) {
  ASSERT_TRUE(start());
  ring->set_desc(0, kData, 8, kDescFlagNext, 8);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsHeadBeyondTable) {
  ASSERT_TRUE(start());
  ring->make_available(9);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsAvailableIndexTooFarAhead) {
  ASSERT_TRUE(start());
  ring->set_avail_idx(9);  // 9 buffers in a queue of 8
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsReadableAfterWritable) {
  ASSERT_TRUE(start());
  ring->set_desc(0, kData, 8, kDescFlagNext | kDescFlagWrite, 1);
  ring->set_desc(1, kData, 8, 0);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsIndirectTableWithBadLength) {
  ASSERT_TRUE(start());
  ring->set_desc(0, 0x20000, 20, kDescFlagIndirect);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsEmptyIndirectTable) {
  ASSERT_TRUE(start());
  ring->set_desc(0, 0x20000, 0, kDescFlagIndirect);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsIndirectTableOutsideRam) {
  ASSERT_TRUE(start());
  ring->set_desc(0, kRamEnd - 16, 32, kDescFlagIndirect);
  ring->make_available(0);
  auto got = vq.pop(&chain);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, EFAULT);
}

TEST_F(VirtqueueTest, RejectsNestedIndirect) {
  ASSERT_TRUE(start());
  ring->set_table_desc(0x20000, 0, 0x21000, 16, kDescFlagIndirect);
  ring->set_desc(0, 0x20000, 16, kDescFlagIndirect);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsIndirectWithNext) {
  ASSERT_TRUE(start());
  ring->set_table_desc(0x20000, 0, kData, 16, 0);
  ring->set_desc(0, 0x20000, 16, kDescFlagIndirect | kDescFlagNext, 1);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsLoopInsideIndirectTable) {
  ASSERT_TRUE(start());
  ring->set_table_desc(0x20000, 0, kData, 16, kDescFlagNext, 1);
  ring->set_table_desc(0x20000, 1, kData, 16, kDescFlagNext, 0);
  ring->set_desc(0, 0x20000, 32, kDescFlagIndirect);
  ring->make_available(0);
  auto got = vq.pop(&chain);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ELOOP);
}

TEST_F(VirtqueueTest, RejectsIndirectNextBeyondTable) {
  ASSERT_TRUE(start());
  ring->set_table_desc(0x20000, 0, kData, 16, kDescFlagNext, 2);
  ring->set_desc(0, 0x20000, 32, kDescFlagIndirect);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, RejectsChainOverFourGigabytes) {
  ASSERT_TRUE(start());
  // 1100 indirect descriptors each naming all 4 MiB of RAM: every buffer is valid, their sum
  // (4.3 GiB) does not fit the 32-bit used length.
  const uint64_t table = 0x200000;
  const uint16_t n = 1100;
  for (uint16_t i = 0; i < n; ++i)
    ring->set_table_desc(table, i, 0, kRamEnd, i + 1 < n ? kDescFlagNext : 0, i + 1);
  ring->set_desc(0, table, 16u * n, kDescFlagIndirect);
  ring->make_available(0);
  EXPECT_FALSE(vq.pop(&chain).has_value());
}

TEST_F(VirtqueueTest, StartRejectsBadLayouts) {
  EXPECT_FALSE(
      vq.start(mem, {6, kRing, kRing + 0x100, kRing + 0x200}, false).has_value());  // not 2^n
  EXPECT_FALSE(vq.start(mem, {8, kRing + 8, kRing + 0x100, kRing + 0x200}, false)
                   .has_value());  // desc align
  EXPECT_FALSE(
      vq.start(mem, {8, kRing, kRing + 0x101, kRing + 0x200}, false).has_value());  // avail align
  EXPECT_FALSE(
      vq.start(mem, {8, kRing, kRing + 0x100, kRing + 0x202}, false).has_value());  // used align
  EXPECT_FALSE(vq.start(mem, {8, kRamEnd - 64, kRing + 0x100, kRing + 0x200}, false).has_value());
  EXPECT_FALSE(vq.start(mem, {8, kRing, kRamEnd - 4, kRing + 0x200}, false).has_value());
  EXPECT_FALSE(vq.start(mem, {8, kRing, kRing + 0x100, kRamEnd - 8}, false).has_value());
  EXPECT_FALSE(vq.started());
  EXPECT_FALSE(vq.pop(&chain).value_or(true));
}

// --- notification suppression ---

TEST_F(VirtqueueTest, NoInterruptFlagSuppressesNotification) {
  ASSERT_TRUE(start());
  ring->set_desc(0, kData, 8, kDescFlagWrite);
  ring->make_available(0);
  ASSERT_TRUE(*vq.pop(&chain));
  ASSERT_TRUE(vq.push(0, 8));
  EXPECT_TRUE(*vq.should_notify());
  ring->set_avail_flags(kAvailFlagNoInterrupt);
  ring->make_available(0);
  ASSERT_TRUE(*vq.pop(&chain));
  ASSERT_TRUE(vq.push(0, 8));
  EXPECT_FALSE(*vq.should_notify());
}

TEST_F(VirtqueueTest, EventIdxNotifiesOnlyWhenUsedEventIsCrossed) {
  ASSERT_TRUE(start(/*event_idx=*/true));
  ring->set_desc(0, kData, 8, kDescFlagWrite);
  ring->set_used_event(2);  // "interrupt me when used idx goes past 2"
  auto use_one = [&] {
    ring->make_available(0);
    EXPECT_TRUE(*vq.pop(&chain));
    EXPECT_TRUE(vq.push(0, 8));
    return *vq.should_notify();
  };
  EXPECT_TRUE(use_one());   // used 1: the first decision always notifies
  EXPECT_FALSE(use_one());  // used 2: used_event 2 not yet passed
  EXPECT_TRUE(use_one());   // used 3: crossed 2 -> 3
  EXPECT_FALSE(use_one());  // used 4
  ring->set_used_event(3);  // already behind: no interrupt until it comes round again
  EXPECT_FALSE(use_one());
}

TEST_F(VirtqueueTest, SetNotificationWritesAvailEventOrFlag) {
  ASSERT_TRUE(start(true));
  ring->set_desc(0, kData, 8, kDescFlagWrite);
  ring->make_available(0);
  ring->make_available(0);
  ASSERT_TRUE(*vq.pop(&chain));
  ASSERT_TRUE(*vq.pop(&chain));
  ASSERT_TRUE(vq.set_notification(true));
  EXPECT_EQ(ring->avail_event(), 2);

  Virtqueue plain;
  DriverRing other(mem, 0x30000, 8);
  ASSERT_TRUE(plain.start(mem, {8, other.desc(), other.avail(), other.used()}, false));
  ASSERT_TRUE(plain.set_notification(false));
  EXPECT_EQ(other.used_flags(), kUsedFlagNoNotify);
  ASSERT_TRUE(plain.set_notification(true));
  EXPECT_EQ(other.used_flags(), 0);
}

TEST(IovHelpers, CopyAcrossSegmentsAndSlice) {
  uint8_t a[3] = {1, 2, 3}, b[2] = {4, 5};
  std::vector<iovec> iov = {{a, 3}, {b, 2}};
  uint8_t out[4] = {};
  EXPECT_EQ(copy_from_iov(iov, 1, out, 4), 4u);
  EXPECT_EQ(out[0], 2);
  EXPECT_EQ(out[3], 5);
  EXPECT_EQ(copy_from_iov(iov, 4, out, 4), 1u);  // short at the end
  auto s = slice_iov(iov, 2, 2);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].iov_base, a + 2);
  EXPECT_EQ(s[1].iov_len, 1u);
  const uint8_t in[2] = {9, 8};
  EXPECT_EQ(copy_to_iov(iov, 2, in, 2), 2u);
  EXPECT_EQ(a[2], 9);
  EXPECT_EQ(b[0], 8);
}

}  // namespace
}  // namespace corvid::virtio
