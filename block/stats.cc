#include "block/stats.h"

#include <time.h>

#include <utility>

namespace corvid::block {

uint64_t IoStats::now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void IoStats::account_done(IoKind kind, uint64_t bytes, uint64_t start_ns, bool failed) {
  const uint64_t now = now_ns();
  std::lock_guard lock(mutex_);
  auto& k = counters_.kinds[static_cast<size_t>(kind)];
  // block_account_one_io(): a failure counts once and brings no bytes.
  if (failed) {
    ++k.failed;
  } else {
    k.bytes += bytes;
    ++k.operations;
  }
  k.total_time_ns += now > start_ns ? now - start_ns : 0;
  last_access_ns_ = now;
}

void IoStats::account_invalid(IoKind kind) {
  // block_acct_invalid(): no time is accounted, there was no I/O, but the device was accessed.
  const uint64_t now = now_ns();
  std::lock_guard lock(mutex_);
  ++counters_.kinds[static_cast<size_t>(kind)].invalid;
  last_access_ns_ = now;
}

void IoStats::account_write_end(uint64_t end) {
  std::lock_guard lock(mutex_);
  if (end > counters_.wr_highest_offset) counters_.wr_highest_offset = end;
}

IoStatsSnapshot IoStats::snapshot() const {
  const uint64_t now = now_ns();
  std::lock_guard lock(mutex_);
  IoStatsSnapshot s = counters_;
  if (last_access_ns_ != 0) s.idle_time_ns = now > last_access_ns_ ? now - last_access_ns_ : 0;
  return s;
}

namespace {

uint64_t iov_bytes(const iovec* iov, int iovcnt) {
  uint64_t n = 0;
  for (int i = 0; i < iovcnt; ++i) n += iov[i].iov_len;
  return n;
}

class CountingDevice final : public BlockDevice {
 public:
  CountingDevice(std::unique_ptr<BlockDevice> inner, std::shared_ptr<IoStats> stats)
      : inner_(std::move(inner)), stats_(std::move(stats)) {}

  uint64_t size() const override { return inner_->size(); }
  bool read_only() const override { return inner_->read_only(); }
  std::string format_name() const override { return inner_->format_name(); }
  IoEngine* io_engine() override { return inner_->io_engine(); }
  Result<> close() override { return inner_->close(); }

  void read(uint64_t offset, const iovec* iov, int iovcnt, Completion done) override {
    inner_->read(offset, iov, iovcnt,
                 counted(IoKind::kRead, iov_bytes(iov, iovcnt), std::move(done)));
  }
  void write(uint64_t offset, const iovec* iov, int iovcnt, Completion done) override {
    const uint64_t bytes = iov_bytes(iov, iovcnt);
    inner_->write(offset, iov, iovcnt, counted(IoKind::kWrite, bytes, std::move(done), offset));
  }
  void flush(Completion done) override {
    inner_->flush(counted(IoKind::kFlush, 0, std::move(done)));
  }
  void discard(uint64_t offset, uint64_t len, Completion done) override {
    inner_->discard(offset, len, counted(IoKind::kUnmap, len, std::move(done)));
  }
  void write_zeroes(uint64_t offset, uint64_t len, bool may_unmap, Completion done) override {
    // virtio-blk accounts write-zeroes as a write of its length (QEMU hw/block/virtio-blk.c).
    inner_->write_zeroes(offset, len, may_unmap,
                         counted(IoKind::kWrite, len, std::move(done), offset));
  }

 private:
  // The completion that accounts the request before handing the result on. write_offset, for
  // writes: wr_highest_offset grows whether or not the write succeeded, as in QEMU's
  // bdrv_co_write_req_finish().
  Completion counted(IoKind kind, uint64_t bytes, Completion done,
                     std::optional<uint64_t> write_offset = std::nullopt) {
    return [stats = stats_, kind, bytes, write_offset, start = IoStats::now_ns(),
            done = std::move(done)](Result<> r) {
      if (write_offset) stats->account_write_end(*write_offset + bytes);
      stats->account_done(kind, bytes, start, !r.has_value());
      done(std::move(r));
    };
  }

  std::unique_ptr<BlockDevice> inner_;
  std::shared_ptr<IoStats> stats_;
};

}  // namespace

std::unique_ptr<BlockDevice> make_counting_device(std::unique_ptr<BlockDevice> inner,
                                                  std::shared_ptr<IoStats> stats) {
  return std::make_unique<CountingDevice>(std::move(inner), std::move(stats));
}

}  // namespace corvid::block
