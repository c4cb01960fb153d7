// I/O accounting per drive, as QEMU keeps it for query-blockstats (block/accounting.c,
// BlockAcctStats): bytes, operations, failures and latency per request kind, counted at the level
// of the guest-visible device's requests. A counting BlockDevice wraps the device a frontend
// (virtio-blk) submits to; the monitor reads snapshots from another thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "block/block_device.h"

namespace corvid::block {

// QEMU's BlockAcctType: write-zeroes requests count as writes, discards as unmaps.
enum class IoKind { kRead, kWrite, kFlush, kUnmap };
inline constexpr size_t kIoKinds = 4;

struct IoStatsSnapshot {
  struct PerKind {
    uint64_t bytes = 0, operations = 0, failed = 0, invalid = 0, total_time_ns = 0;
  };
  std::array<PerKind, kIoKinds> kinds{};
  uint64_t wr_highest_offset = 0;        // end of the furthest write (QEMU's node statistic)
  std::optional<uint64_t> idle_time_ns;  // since the last accounted request; none before the first

  const PerKind& operator[](IoKind k) const { return kinds[static_cast<size_t>(k)]; }
};

// Thread-safe counters. Like QEMU with account_failed=on and account_invalid=on (its defaults),
// failed requests add to the total time and, with invalid ones, to the idle clock.
class IoStats {
 public:
  static uint64_t now_ns();  // CLOCK_MONOTONIC, the clock QEMU accounts with (QEMU_CLOCK_REALTIME)

  // A request submitted at start_ns completed (failed: with an error).
  void account_done(IoKind kind, uint64_t bytes, uint64_t start_ns, bool failed);
  // A request the frontend refused before submitting it (out of range, misaligned).
  void account_invalid(IoKind kind);
  // A write (or write-zeroes) of [offset, end) reached the device.
  void account_write_end(uint64_t end);

  IoStatsSnapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  IoStatsSnapshot counters_;
  uint64_t last_access_ns_ = 0;
};

// A BlockDevice that forwards every request to `inner` and accounts it in `stats` when it
// completes. Owns `inner`; `stats` may be shared with a reader (the monitor) and outlive it.
std::unique_ptr<BlockDevice> make_counting_device(std::unique_ptr<BlockDevice> inner,
                                                  std::shared_ptr<IoStats> stats);

}  // namespace corvid::block
