// virtio-blk (§5.2) over virtio-mmio with an in-memory disk, plus one run on the block layer's
// raw driver so completions really arrive asynchronously through the I/O engine.
#include "virtio/blk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/endian.h"
#include "block/image.h"
#include "block/io_engine.h"
#include "virtio/mmio_transport.h"
#include "virtio_test_support.h"

namespace corvid::virtio {
namespace {

using testing::DriverRing;
using testing::MemDisk;
using testing::MmioDriver;
using testing::TestVm;

constexpr uint32_t kIn = 0, kOut = 1, kFlush = 4, kGetId = 8, kDiscard = 11, kWriteZeroes = 13;
constexpr uint64_t kHdr = 0x100000, kData = 0x200000, kStatus = 0x180000;
constexpr uint64_t kDiskSize = 1 << 20;

class BlkTest : public ::testing::Test {
 protected:
  void SetUp() override { create(std::make_unique<MemDisk>(kDiskSize)); }
  void create(std::unique_ptr<block::BlockDevice> disk,
              BlkConfig config = {"corvid-disk-0", 2, 16, true}) {
    transport.reset();
    mem_disk = dynamic_cast<MemDisk*>(disk.get());
    auto dev = make_virtio_blk(vm.services(), std::move(disk), config);
    ASSERT_TRUE(dev.has_value()) << dev.error().message;
    transport = std::move(*make_virtio_mmio(std::move(*dev), vm.services(), 0xd0000000, 16));
    drv = std::make_unique<MmioDriver>(*transport);
    ASSERT_TRUE(drv->negotiate(transport->device().offered_features()));
    rings.clear();
    for (unsigned q = 0; q < config.num_queues; ++q) {
      rings.push_back(std::make_unique<DriverRing>(vm.memory, 0x10000 + 0x1000 * q, 16));
      drv->setup_queue(q, *rings.back());
    }
    drv->driver_ok();
  }
  // Builds header [+ data out] [+ data in] + status as a 3-descriptor chain and submits it.
  void submit(unsigned q, uint32_t type, uint64_t sector, uint32_t data_len, bool data_in,
              uint16_t head = 0) {
    DriverRing& r = *rings[q];
    ASSERT_TRUE(vm.memory.write_le32(kHdr, type));
    ASSERT_TRUE(vm.memory.write_le32(kHdr + 4, 0));
    ASSERT_TRUE(vm.memory.write_le64(kHdr + 8, sector));
    ASSERT_TRUE(vm.memory.write_u8(kStatus, 0xee));
    r.set_desc(head, kHdr, 16, kDescFlagNext, head + 1);
    if (data_len > 0) {
      r.set_desc(head + 1, kData, data_len, kDescFlagNext | (data_in ? kDescFlagWrite : 0),
                 head + 2);
      r.set_desc(head + 2, kStatus, 1, kDescFlagWrite);
    } else {
      r.set_desc(head + 1, kStatus, 1, kDescFlagWrite);
    }
    r.make_available(head);
    drv->notify(q);
    vm.run_io();
  }
  uint8_t status() { return *vm.memory.read_u8(kStatus); }
  void put_segment(uint64_t sector, uint32_t count, uint32_t flags) {
    ASSERT_TRUE(vm.memory.write_le64(kData, sector));
    ASSERT_TRUE(vm.memory.write_le32(kData + 8, count));
    ASSERT_TRUE(vm.memory.write_le32(kData + 12, flags));
  }

  TestVm vm;
  MemDisk* mem_disk = nullptr;
  std::unique_ptr<MmioTransport> transport;
  std::unique_ptr<MmioDriver> drv;
  std::vector<std::unique_ptr<DriverRing>> rings;
};

TEST_F(BlkTest, ConfigSpaceReportsCapacityQueuesAndLimits) {
  EXPECT_EQ(drv->read(0x100), kDiskSize / 512);  // capacity low word
  EXPECT_EQ(drv->read(0x104), 0u);
  EXPECT_EQ(transport->io_read(0x100 + 34, 2), 2u);  // num_queues
  EXPECT_EQ(drv->read(0x100 + 20), 512u);            // blk_size
  EXPECT_EQ(drv->read(0x100 + 40), 1u);              // max_discard_seg
  const uint64_t f = transport->device().offered_features();
  EXPECT_TRUE(f & (1ull << 9));   // FLUSH
  EXPECT_TRUE(f & (1ull << 12));  // MQ
  EXPECT_TRUE(f & (1ull << 13));  // DISCARD
  EXPECT_TRUE(f & (1ull << 14));  // WRITE_ZEROES
  EXPECT_FALSE(f & (1ull << 5));  // not RO
}

TEST_F(BlkTest, WriteThenReadBack) {
  ASSERT_TRUE(vm.memory.fill(kData, 0x5a, 1024));
  submit(0, kOut, 3, 1024, false);
  EXPECT_EQ(status(), 0);
  EXPECT_EQ(rings[0]->used_elem(0), std::make_pair(0u, 1u));
  EXPECT_EQ(mem_disk->data[3 * 512], 0x5a);
  EXPECT_EQ(mem_disk->data[3 * 512 + 1023], 0x5a);
  EXPECT_EQ(mem_disk->data[3 * 512 + 1024], 0);

  ASSERT_TRUE(vm.memory.fill(kData, 0, 2048));
  mem_disk->data[4 * 512 + 7] = 0x77;
  submit(0, kIn, 3, 2048, true);
  EXPECT_EQ(status(), 0);
  EXPECT_EQ(rings[0]->used_elem(1), std::make_pair(0u, 2049u));  // data + status byte
  EXPECT_EQ(*vm.memory.read_u8(kData), 0x5a);
  EXPECT_EQ(*vm.memory.read_u8(kData + 512 + 7), 0x77);
  EXPECT_EQ(*vm.memory.read_u8(kData + 1024), 0);
}

TEST_F(BlkTest, HeaderAndStatusMayShareDescriptorsAnyWay) {
  // §2.7.4: no framing assumptions. Header split 10+6, data and status in one buffer.
  DriverRing& r = *rings[0];
  ASSERT_TRUE(vm.memory.write_le32(kHdr, kIn));
  ASSERT_TRUE(vm.memory.write_le64(kHdr + 8, 0));
  mem_disk->data[5] = 0x42;
  r.set_desc(0, kHdr, 10, kDescFlagNext, 1);
  r.set_desc(1, kHdr + 10, 6, kDescFlagNext, 2);
  r.set_desc(2, kData, 513, kDescFlagWrite);
  r.make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(r.used_idx(), 1);
  EXPECT_EQ(*vm.memory.read_u8(kData + 5), 0x42);
  EXPECT_EQ(*vm.memory.read_u8(kData + 512), 0);  // status OK in the last byte
}

TEST_F(BlkTest, FlushReachesTheDisk) {
  submit(0, kFlush, 0, 0, false);
  EXPECT_EQ(status(), 0);
  EXPECT_EQ(mem_disk->flushes, 1);
}

TEST_F(BlkTest, GetIdReturnsSerial) {
  ASSERT_TRUE(vm.memory.fill(kData, 0xff, 20));
  submit(0, kGetId, 0, 20, true);
  EXPECT_EQ(status(), 0);
  char id[21] = {};
  ASSERT_TRUE(vm.memory.read(kData, id, 20));
  EXPECT_STREQ(id, "corvid-disk-0");
  EXPECT_EQ(rings[0]->used_elem(0).second, 21u);
}

TEST_F(BlkTest, GetIdIsTwentyBytesNulPaddedAndFitsShortBuffers) {
  // §5.2.6: the ID is NUL-padded up to 20 bytes, with no terminator when it is 20 bytes long.
  create(std::make_unique<MemDisk>(kDiskSize), {"0123456789abcdefghijKLMN", 1, 16, true});
  ASSERT_TRUE(vm.memory.fill(kData, 0xff, 32));
  submit(0, kGetId, 0, 32, true);
  EXPECT_EQ(status(), 0);
  char id[32] = {};
  ASSERT_TRUE(vm.memory.read(kData, id, 32));
  EXPECT_EQ(std::string(id, 20), "0123456789abcdefghij") << "a longer serial is cut at 20 bytes";
  EXPECT_EQ(static_cast<uint8_t>(id[20]), 0xff) << "nothing past the 20 ID bytes is written";
  EXPECT_EQ(rings[0]->used_elem(0).second, 21u);

  // A buffer shorter than the ID gets what fits, and the request still completes.
  create(std::make_unique<MemDisk>(kDiskSize), {"serial", 1, 16, true});
  ASSERT_TRUE(vm.memory.fill(kData, 0xff, 32));
  submit(0, kGetId, 0, 4, true);
  EXPECT_EQ(status(), 0);
  ASSERT_TRUE(vm.memory.read(kData, id, 8));
  EXPECT_EQ(std::string(id, 4), "seri");
  EXPECT_EQ(static_cast<uint8_t>(id[4]), 0xff);
  EXPECT_EQ(rings[0]->used_elem(0).second, 5u);

  // No serial: twenty NUL bytes.
  create(std::make_unique<MemDisk>(kDiskSize), {"", 1, 16, true});
  ASSERT_TRUE(vm.memory.fill(kData, 0xff, 32));
  submit(0, kGetId, 0, 20, true);
  ASSERT_TRUE(vm.memory.read(kData, id, 21));
  EXPECT_EQ(std::string(id, 20), std::string(20, '\0'));
}

TEST_F(BlkTest, QueuesCompleteIndependently) {
  // Requests in flight on both queues; each completion lands on its own queue's used ring.
  mem_disk->deferred = true;
  submit(0, kFlush, 0, 0, false);
  submit(1, kFlush, 0, 0, false, 4);
  EXPECT_EQ(rings[0]->used_idx(), 0);
  EXPECT_EQ(rings[1]->used_idx(), 0);
  mem_disk->complete_pending();
  EXPECT_EQ(rings[0]->used_idx(), 1);
  EXPECT_EQ(rings[1]->used_idx(), 1);
  EXPECT_EQ(rings[0]->used_elem(0).first, 0u);
  EXPECT_EQ(rings[1]->used_elem(0).first, 4u);
}

TEST_F(BlkTest, DiscardAndWriteZeroes) {
  put_segment(8, 16, 0);
  submit(0, kDiscard, 0, 16, false);
  EXPECT_EQ(status(), 0);
  ASSERT_EQ(mem_disk->discards.size(), 1u);
  EXPECT_EQ(mem_disk->discards[0], std::make_pair(uint64_t{8 * 512}, uint64_t{16 * 512}));

  std::fill(mem_disk->data.begin(), mem_disk->data.end(), 0xab);
  put_segment(2, 1, 1);  // unmap allowed
  submit(0, kWriteZeroes, 0, 16, false);
  EXPECT_EQ(status(), 0);
  EXPECT_TRUE(mem_disk->last_may_unmap);
  EXPECT_EQ(mem_disk->data[2 * 512], 0);
  EXPECT_EQ(mem_disk->data[3 * 512 - 1], 0);
  EXPECT_EQ(mem_disk->data[3 * 512], 0xab);

  put_segment(0, 1, 1);  // §5.2.6.2: unmap flag on discard is unsupported
  submit(0, kDiscard, 0, 16, false);
  EXPECT_EQ(status(), 2);
  put_segment(kDiskSize / 512, 1, 0);  // past the end
  submit(0, kWriteZeroes, 0, 16, false);
  EXPECT_EQ(status(), 1);
}

TEST_F(BlkTest, BadRequestsFailWithStatusNotCrash) {
  submit(0, kIn, kDiskSize / 512, 512, true);  // beyond capacity
  EXPECT_EQ(status(), 1);
  submit(0, kOut, ~0ull / 512, 512, false);  // sector*512 overflows
  EXPECT_EQ(status(), 1);
  submit(0, kIn, 0, 100, true);  // not a multiple of 512
  EXPECT_EQ(status(), 1);
  submit(0, 99, 0, 0, false);  // unknown type
  EXPECT_EQ(status(), 2);
  EXPECT_FALSE(transport->device().broken());
}

TEST_F(BlkTest, RefusedRequestsAreCountedAsQemuCountsThem) {
  auto stats = std::make_shared<block::IoStats>();
  create(std::make_unique<MemDisk>(kDiskSize), {"corvid-disk-0", 1, 16, true, stats});
  submit(0, kIn, kDiskSize / 512, 512, true);    // beyond capacity: invalid read
  submit(0, kIn, 0, 100, true);                  // misaligned: invalid read
  submit(0, kOut, kDiskSize / 512, 512, false);  // invalid write
  put_segment(kDiskSize / 512, 1, 0);
  submit(0, kWriteZeroes, 0, 16, false);  // out of range: an invalid write, as in QEMU
  block::IoStatsSnapshot s = stats->snapshot();
  EXPECT_EQ(s[block::IoKind::kRead].invalid, 2u);
  EXPECT_EQ(s[block::IoKind::kWrite].invalid, 2u);
  EXPECT_EQ(s[block::IoKind::kRead].operations + s[block::IoKind::kWrite].operations, 0u);
  EXPECT_TRUE(s.idle_time_ns.has_value());
}

TEST_F(BlkTest, DiskErrorBecomesIoErr) {
  mem_disk->fail_next = true;
  submit(0, kOut, 0, 512, false);
  EXPECT_EQ(status(), 1);
}

TEST_F(BlkTest, MissingStatusByteBreaksDevice) {
  DriverRing& r = *rings[0];
  ASSERT_TRUE(vm.memory.write_le32(kHdr, kFlush));
  r.set_desc(0, kHdr, 16, 0);  // no device-writable part at all
  r.make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_TRUE(drv->status() & kStatusNeedsReset);
  EXPECT_EQ(r.used_idx(), 0);
}

TEST_F(BlkTest, SecondQueueServesRequests) {
  ASSERT_TRUE(vm.memory.fill(kData, 0x33, 512));
  submit(1, kOut, 0, 512, false);
  EXPECT_EQ(status(), 0);
  EXPECT_EQ(rings[1]->used_idx(), 1);
  EXPECT_EQ(rings[0]->used_idx(), 0);
  EXPECT_EQ(mem_disk->data[0], 0x33);
}

TEST_F(BlkTest, AsyncCompletionIsPushedWhenTheDiskCompletes) {
  mem_disk->deferred = true;
  submit(0, kFlush, 0, 0, false);
  EXPECT_EQ(rings[0]->used_idx(), 0);  // in flight
  EXPECT_EQ(drv->read(0x60), 0u);
  mem_disk->complete_pending();  // as the engine's poll() would, on the I/O thread
  EXPECT_EQ(rings[0]->used_idx(), 1);
  EXPECT_EQ(status(), 0);
  EXPECT_EQ(drv->read(0x60), 1u);
}

TEST_F(BlkTest, CompletionAfterResetIsDropped) {
  mem_disk->deferred = true;
  submit(0, kFlush, 0, 0, false);
  drv->write(0x70, 0);  // reset while the flush is in flight
  mem_disk->complete_pending();
  EXPECT_EQ(rings[0]->used_idx(), 0);
  EXPECT_EQ(status(), 0xee);  // untouched
}

TEST(BlkReadOnly, WritesFailAndRoIsOffered) {
  TestVm vm;
  auto dev = make_virtio_blk(vm.services(), std::make_unique<MemDisk>(kDiskSize, true));
  ASSERT_TRUE(dev.has_value());
  EXPECT_TRUE((*dev)->offered_features() & (1ull << 5));
}

TEST(BlkConfigCheck, RejectsBadQueueParameters) {
  TestVm vm;
  EXPECT_FALSE(
      make_virtio_blk(vm.services(), std::make_unique<MemDisk>(4096), {"", 0, 16}).has_value());
  EXPECT_FALSE(
      make_virtio_blk(vm.services(), std::make_unique<MemDisk>(4096), {"", 1, 100}).has_value());
  EXPECT_FALSE(make_virtio_blk(vm.services(), nullptr).has_value());
}

// A disk whose completions come from its IoEngine without any kernel I/O (complete_later), one
// deferred completion queuing the next, as qcow2 does for cached metadata and zero clusters.
// Nothing signals the engine's eventfd for those: the device must keep polling until they ran.
class DeferredEngineDisk : public MemDisk {
 public:
  DeferredEngineDisk()
      : MemDisk(kDiskSize),
        engine_(std::move(*block::IoEngine::create(block::AioMode::kThreads))) {}
  block::IoEngine* io_engine() override { return engine_.get(); }
  void flush(block::Completion done) override {
    engine_->complete_later(
        [this, done](int64_t) {
          engine_->complete_later(
              [done](int64_t res) { done(res == 0 ? Result<>{} : make_error(EIO, "x")); }, 0);
        },
        0);
  }

 private:
  std::unique_ptr<block::IoEngine> engine_;
};

TEST(BlkOnIoEngine, CompletionsWithoutKernelIoAreDriven) {
  TestVm vm;
  auto dev =
      make_virtio_blk(vm.services(), std::make_unique<DeferredEngineDisk>(), {"", 1, 16, true});
  ASSERT_TRUE(dev.has_value());
  auto t = make_virtio_mmio(std::move(*dev), vm.services(), 0xd0000000, 16);
  MmioDriver drv(**t);
  DriverRing ring(vm.memory, 0x10000, 16);
  ASSERT_TRUE(drv.negotiate(kFeatureVersion1));
  drv.setup_queue(0, ring);
  drv.driver_ok();
  ASSERT_TRUE(vm.memory.write_le32(kHdr, kFlush));
  ASSERT_TRUE(vm.memory.write_u8(kStatus, 0xee));
  ring.set_desc(0, kHdr, 16, kDescFlagNext, 1);
  ring.set_desc(1, kStatus, 1, kDescFlagWrite);
  ring.make_available(0);
  drv.notify(0);
  vm.run_io();
  EXPECT_EQ(ring.used_idx(), 1);
  EXPECT_EQ(*vm.memory.read_u8(kStatus), 0);
}

// The real block layer: a raw image on the I/O engine, completions through the event loop.
TEST(BlkOnRawImage, WriteFlushReadThroughIoEngine) {
  char path[] = "/tmp/corvid-virtio-blk-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, kDiskSize), 0);
  close(fd);
  block::OpenOptions options;
  options.format = "raw";
  auto disk = block::open_image(path, options);
  ASSERT_TRUE(disk.has_value()) << disk.error().to_string();

  TestVm vm;
  auto dev = make_virtio_blk(vm.services(), std::move(*disk), {"raw", 1, 16});
  ASSERT_TRUE(dev.has_value());
  auto t = make_virtio_mmio(std::move(*dev), vm.services(), 0xd0000000, 16);
  MmioDriver drv(**t);
  DriverRing ring(vm.memory, 0x10000, 16);
  ASSERT_TRUE(drv.negotiate(kFeatureVersion1));
  drv.setup_queue(0, ring);
  drv.driver_ok();

  auto request = [&](uint16_t head, uint32_t type, uint64_t sector, uint32_t len, bool in) {
    const uint64_t hdr = kHdr + head * 0x100, st = kStatus + head;
    ASSERT_TRUE(vm.memory.write_le32(hdr, type));
    ASSERT_TRUE(vm.memory.write_le64(hdr + 8, sector));
    ring.set_desc(head, hdr, 16, kDescFlagNext, head + 1);
    ring.set_desc(head + 1, kData + head * 0x1000, len, kDescFlagNext | (in ? kDescFlagWrite : 0),
                  head + 2);
    ring.set_desc(head + 2, st, 1, kDescFlagWrite);
    ring.make_available(head);
  };
  ASSERT_TRUE(vm.memory.fill(kData, 0xc3, 4096));
  request(0, kOut, 16, 4096, false);
  drv.notify(0);
  for (int i = 0; i < 100 && ring.used_idx() < 1; ++i) (void)vm.loop->run_once(50);
  ASSERT_EQ(ring.used_idx(), 1);
  EXPECT_EQ(*vm.memory.read_u8(kStatus), 0);

  request(3, kIn, 16, 4096, true);
  drv.notify(0);
  for (int i = 0; i < 100 && ring.used_idx() < 2; ++i) (void)vm.loop->run_once(50);
  ASSERT_EQ(ring.used_idx(), 2);
  EXPECT_EQ(*vm.memory.read_u8(kStatus + 3), 0);
  EXPECT_EQ(*vm.memory.read_u8(kData + 3 * 0x1000 + 4095), 0xc3);
  t->reset();

  // What landed in the file, read without corvid.
  fd = open(path, O_RDONLY);
  uint8_t byte = 0;
  ASSERT_EQ(pread(fd, &byte, 1, 16 * 512 + 100), 1);
  EXPECT_EQ(byte, 0xc3);
  close(fd);
  unlink(path);
}

}  // namespace
}  // namespace corvid::virtio
