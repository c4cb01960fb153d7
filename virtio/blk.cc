#include "virtio/blk.h"

#include <algorithm>
#include <cstring>

#include "base/endian.h"
#include "base/log.h"
#include "block/io_engine.h"

namespace corvid::virtio {

namespace {

// §5.2.3 feature bits.
constexpr uint64_t kFeatureSegMax = 1ull << 2;
constexpr uint64_t kFeatureRo = 1ull << 5;
constexpr uint64_t kFeatureBlkSize = 1ull << 6;
constexpr uint64_t kFeatureFlush = 1ull << 9;
constexpr uint64_t kFeatureMq = 1ull << 12;
constexpr uint64_t kFeatureDiscard = 1ull << 13;
constexpr uint64_t kFeatureWriteZeroes = 1ull << 14;

// §5.2.6 request types and status values.
constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4, kTypeGetId = 8, kTypeDiscard = 11,
                   kTypeWriteZeroes = 13;
constexpr uint8_t kStatusOk = 0, kStatusIoErr = 1, kStatusUnsupp = 2;
constexpr uint32_t kWriteZeroesUnmap = 1;

constexpr uint64_t kSector = 512;
constexpr uint32_t kIdBytes = 20;  // VIRTIO_BLK_ID_BYTES
constexpr uint64_t kHeaderBytes = 16;
constexpr uint64_t kSegmentBytes = 16;             // struct virtio_blk_discard_write_zeroes
constexpr uint32_t kMaxDiscardSectors = 1u << 22;  // 2 GiB per segment
constexpr uint32_t kConfigSize = 60;               // up to write_zeroes_may_unmap and padding

struct Request {
  unsigned queue = 0;
  uint16_t head = 0;
  uint8_t* status = nullptr;  // the last device-writable byte (§5.2.6)
  uint32_t written = 1;       // bytes written into the chain on success
  uint64_t generation = 0;
  std::vector<iovec> data;
};

class BlkDevice final : public VirtioDevice {
 public:
  BlkDevice(std::unique_ptr<block::BlockDevice> disk, const BlkConfig& config)
      : disk_(std::move(disk)), config_(config), engine_(disk_->io_engine()) {}

  ~BlkDevice() override {
    closing_ = true;
    if (owns_engine_watch_) services().loop->remove(engine_->event_fd());
    auto closed = disk_->close();
    if (!closed) LOG_WARN("virtio-blk: closing the disk: {}", closed.error().to_string());
  }

  Result<> start(const DeviceServices& services) {
    CORVID_TRY_VOID(init(services));
    if (engine_ != nullptr && config_.poll_engine) {
      CORVID_TRY_VOID(
          services.loop->add(engine_->event_fd(), [this](uint32_t) { drive_engine(); }));
      owns_engine_watch_ = true;
    }
    return {};
  }

  uint32_t device_id() const override { return 2; }
  std::string name() const override { return "blk"; }
  uint32_t pci_class() const override { return 0x018000; }  // mass storage, other
  unsigned num_queues() const override { return config_.num_queues; }
  uint16_t max_queue_size() const override { return config_.queue_size; }
  uint32_t config_size() const override { return kConfigSize; }

  uint64_t device_features() const override {
    uint64_t f =
        kFeatureSegMax | kFeatureBlkSize | kFeatureFlush | kFeatureDiscard | kFeatureWriteZeroes;
    if (disk_->read_only()) f |= kFeatureRo;
    if (config_.num_queues > 1) f |= kFeatureMq;
    return f;
  }

  void read_config(uint32_t offset, uint8_t* data, uint32_t len) override {
    // struct virtio_blk_config (§5.2.4).
    uint8_t c[kConfigSize] = {};
    store_le64(c + 0, disk_->size() / kSector);   // capacity
    store_le32(c + 12, config_.queue_size - 2u);  // seg_max
    store_le32(c + 20, kSector);                  // blk_size
    c[32] = 1;                                    // writeback
    store_le16(c + 34, static_cast<uint16_t>(config_.num_queues));
    store_le32(c + 36, kMaxDiscardSectors);  // max_discard_sectors
    store_le32(c + 40, 1);                   // max_discard_seg
    store_le32(c + 44, 1);                   // discard_sector_alignment
    store_le32(c + 48, kMaxDiscardSectors);  // max_write_zeroes_sectors
    store_le32(c + 52, 1);                   // max_write_zeroes_seg
    c[56] = 1;                               // write_zeroes_may_unmap
    for (uint32_t i = 0; i < len; ++i) data[i] = offset + i < kConfigSize ? c[offset + i] : 0;
  }

 protected:
  void process_queue(unsigned queue) override {
    Chain chain;
    while (pop(queue, &chain)) handle(queue, chain);
    if (engine_ != nullptr && config_.poll_engine) drive_engine();
  }

 private:
  void handle(unsigned queue, const Chain& chain) {
    // A request without its header or status byte cannot even be failed: the driver broke the
    // protocol (§5.2.6.1), so the device needs a reset.
    if (chain.out_len < kHeaderBytes || chain.in_len < 1) {
      mark_broken(Error{EINVAL, fmt::format("queue {}: request {} lacks its header or status byte",
                                            queue, chain.head)});
      return;
    }
    uint8_t header[kHeaderBytes];
    copy_from_iov(chain.out, 0, header, sizeof header);
    const uint32_t type = load_le32(header);
    const uint64_t sector = load_le64(header + 8);

    auto req = std::make_shared<Request>();
    req->queue = queue;
    req->head = chain.head;
    req->status = static_cast<uint8_t*>(slice_iov(chain.in, chain.in_len - 1, 1).front().iov_base);
    req->generation = generation();
    const uint64_t in_data = chain.in_len - 1;
    const uint64_t out_data = chain.out_len - kHeaderBytes;

    switch (type) {
      case kTypeIn:
      case kTypeOut: {
        const bool write = type == kTypeOut;
        const uint64_t len = write ? out_data : in_data;
        if (write && disk_->read_only()) {
          account_refused(block::IoKind::kWrite, len, /*invalid=*/false);
          return finish(req, kStatusIoErr);
        }
        if (len % kSector != 0 || !in_range(sector, len / kSector)) {
          account_refused(write ? block::IoKind::kWrite : block::IoKind::kRead, len, true);
          return finish(req, kStatusIoErr);
        }
        if (len > UINT32_MAX - 1) return finish(req, kStatusIoErr);
        if (!write) req->written = static_cast<uint32_t>(len + 1);
        req->data = write ? slice_iov(chain.out, kHeaderBytes, len) : slice_iov(chain.in, 0, len);
        if (len == 0) return finish(req, kStatusOk);
        auto done = [this, req](Result<> r) { complete(req, r); };
        if (write) {
          disk_->write(sector * kSector, req->data.data(), static_cast<int>(req->data.size()),
                       done);
        } else {
          disk_->read(sector * kSector, req->data.data(), static_cast<int>(req->data.size()), done);
        }
        return;
      }
      case kTypeFlush:
        disk_->flush([this, req](Result<> r) { complete(req, r); });
        return;
      case kTypeGetId: {
        // §5.2.6: up to 20 bytes, NUL-padded (no terminator when exactly 20 long).
        uint8_t id[kIdBytes] = {};
        std::memcpy(id, config_.serial.data(), std::min<size_t>(config_.serial.size(), kIdBytes));
        const uint64_t n = std::min<uint64_t>(in_data, kIdBytes);
        copy_to_iov(chain.in, 0, id, n);
        req->written = static_cast<uint32_t>(n + 1);
        return finish(req, kStatusOk);
      }
      case kTypeDiscard:
      case kTypeWriteZeroes:
        return discard_or_zero(req, chain, type == kTypeDiscard);
      default:
        return finish(req, kStatusUnsupp);
    }
  }

  void discard_or_zero(const std::shared_ptr<Request>& req, const Chain& chain, bool discard) {
    const uint64_t payload = chain.out_len - kHeaderBytes;
    // One segment (max_discard_seg = max_write_zeroes_seg = 1).
    if (payload != kSegmentBytes) return finish(req, kStatusIoErr);
    uint8_t seg[kSegmentBytes];
    copy_from_iov(chain.out, kHeaderBytes, seg, sizeof seg);
    const uint64_t sector = load_le64(seg);
    const uint32_t count = load_le32(seg + 8);
    const uint32_t flags = load_le32(seg + 12);
    // §5.2.6.2: unmap is meaningless for discard, and unknown flag bits are unsupported.
    if ((discard && flags != 0) || (!discard && (flags & ~kWriteZeroesUnmap) != 0))
      return finish(req, kStatusUnsupp);
    const block::IoKind kind = discard ? block::IoKind::kUnmap : block::IoKind::kWrite;
    if (disk_->read_only()) {
      account_refused(kind, uint64_t{count} * kSector, /*invalid=*/false);
      return finish(req, kStatusIoErr);
    }
    if (count > kMaxDiscardSectors || !in_range(sector, count)) {
      account_refused(kind, 0, /*invalid=*/true);
      return finish(req, kStatusIoErr);
    }
    if (count == 0) return finish(req, kStatusOk);
    auto done = [this, req](Result<> r) { complete(req, r); };
    if (discard) {
      disk_->discard(sector * kSector, uint64_t{count} * kSector, done);
    } else {
      disk_->write_zeroes(sector * kSector, uint64_t{count} * kSector, flags & kWriteZeroesUnmap,
                          done);
    }
  }

  // Runs the engine until only kernel I/O is outstanding: completions known without I/O
  // (IoEngine::complete_later) and requests queued by completion callbacks (a qcow2 allocation
  // chains data, refcount and L2 writes) signal no eventfd, so polling once would strand them.
  void drive_engine() {
    for (int round = 0; round < 1024; ++round) {
      if (engine_->poll(false) == 0) break;
    }
    engine_->submit();
  }

  // QEMU's virtio-blk (hw/block/virtio-blk.c) calls block_acct_invalid() for a request out of
  // range or misaligned; a write to a read-only disk fails in its block layer (EPERM), a failure.
  void account_refused(block::IoKind kind, uint64_t bytes, bool invalid) {
    if (!config_.stats) return;
    if (invalid)
      config_.stats->account_invalid(kind);
    else
      config_.stats->account_done(kind, bytes, block::IoStats::now_ns(), /*failed=*/true);
  }

  bool in_range(uint64_t sector, uint64_t count) const {
    const uint64_t capacity = disk_->size() / kSector;
    return sector <= capacity && count <= capacity - sector;
  }

  // Block-layer completion, on the I/O thread: from the engine's poll(), or from inside
  // process_queue() when a disk completes at once (the lock is recursive).
  void complete(const std::shared_ptr<Request>& req, const Result<>& result) {
    std::lock_guard lock(mutex());
    if (!result) {
      LOG_WARN("virtio-blk: request failed: {}", result.error().to_string());
      req->written = 1;
    }
    finish(req, result ? kStatusOk : kStatusIoErr);
  }

  void finish(const std::shared_ptr<Request>& req, uint8_t status) {
    // A reset since submission returned the rings to the driver: this request is forgotten.
    if (closing_ || req->generation != generation() || !live()) return;
    *req->status = status;
    push(req->queue, req->head, req->written);
  }

  std::unique_ptr<block::BlockDevice> disk_;
  BlkConfig config_;
  block::IoEngine* engine_;
  bool closing_ = false;
  bool owns_engine_watch_ = false;
};

}  // namespace

Result<std::unique_ptr<VirtioDevice>> make_virtio_blk(const DeviceServices& services,
                                                      std::unique_ptr<block::BlockDevice> disk,
                                                      const BlkConfig& config) {
  if (!disk) return errorf(EINVAL, "virtio-blk: no disk");
  if (config.num_queues == 0 || config.num_queues > 64) {
    return errorf(EINVAL, "virtio-blk: {} queues (1..64 supported)", config.num_queues);
  }
  if (config.queue_size < 4 || config.queue_size > kMaxQueueSize ||
      (config.queue_size & (config.queue_size - 1))) {
    return errorf(EINVAL, "virtio-blk: queue size {} is not a power of two in 4..32768",
                  config.queue_size);
  }
  auto dev = std::make_unique<BlkDevice>(std::move(disk), config);
  CORVID_TRY_VOID(dev->start(services));
  return std::unique_ptr<VirtioDevice>(std::move(dev));
}

}  // namespace corvid::virtio
