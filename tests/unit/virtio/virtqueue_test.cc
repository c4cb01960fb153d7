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

namespace corvid::virtio {
namespace {

// Garbage everywhere a driver can write: descriptor table, available ring, indirect tables. Every
// pop must either fail or yield buffers that lie inside guest RAM, and never more than the queue
// can describe. (Run under ASan/UBSan by scripts/test.)
TEST(VirtqueueHostile, RandomRingContentsNeverEscapeRam) {
  hw::GuestMemory mem;
  ASSERT_TRUE(mem.add_ram(0, 1 << 20, false).has_value());
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const uint16_t size = 16;
  const uint64_t desc = 0x1000, avail = 0x2000, used = 0x3000;
  int errors = 0, chains = 0;
  for (int round = 0; round < 3000; ++round) {
    Virtqueue vq;
    ASSERT_TRUE(vq.start(mem, {size, desc, avail, used}, round % 2 == 0));
    // Random descriptors whose addresses mostly land near RAM, with random flags and links;
    // a few indirect tables at 0x8000.
    for (uint64_t at = desc; at < desc + 16 * size; at += 16) {
      uint64_t addr = next() % 2 ? next() % (2 << 20) : (next() % 4 ? 0x8000 : next());
      ASSERT_TRUE(mem.write_le64(at, addr));
      ASSERT_TRUE(
          mem.write_le32(at + 8, static_cast<uint32_t>(next() % 3 ? next() % 0x2000 : next())));
      ASSERT_TRUE(mem.write_le16(at + 12, static_cast<uint16_t>(next() & 7)));
      ASSERT_TRUE(
          mem.write_le16(at + 14, static_cast<uint16_t>(next() % 3 ? next() % size : next())));
    }
    for (uint64_t at = 0x8000; at < 0x8000 + 16 * 64; at += 8)
      ASSERT_TRUE(mem.write_le64(at, next()));
    for (uint64_t at = 0x8008; at < 0x8000 + 16 * 64; at += 16) {
      ASSERT_TRUE(
          mem.write_le32(at, static_cast<uint32_t>(next() % 0x1000)));  // mostly sane lengths
    }
    for (uint16_t i = 0; i < size; ++i) {
      ASSERT_TRUE(mem.write_le16(avail + 4 + 2 * i,
                                 static_cast<uint16_t>(next() % 4 ? next() % size : next())));
    }
    ASSERT_TRUE(mem.write_le16(avail + 2,
                               static_cast<uint16_t>(next() % 3 ? next() % (size + 1) : next())));
    Chain chain;
    for (int i = 0; i < size + 2; ++i) {
      auto got = vq.pop(&chain);
      if (!got) {
        ++errors;
        break;
      }
      if (!*got) break;
      ++chains;
      for (const auto* list : {&chain.out, &chain.in}) {
        for (const iovec& v : *list) {
          auto* p = static_cast<uint8_t*>(v.iov_base);
          const uint8_t* ram = mem.host_ptr(0, 1 << 20);
          ASSERT_GE(p, ram);
          ASSERT_LE(p + v.iov_len, ram + (1 << 20));
        }
      }
      ASSERT_LE(chain.out.size() + chain.in.size(), 16u * 64u + size);
      ASSERT_TRUE(vq.push(chain.head, static_cast<uint32_t>(chain.in_len)));
    }
  }
  // Both outcomes must have happened for the test to mean anything.
  EXPECT_GT(errors, 100);
  EXPECT_GT(chains, 100);
}

}  // namespace
}  // namespace corvid::virtio
