// Simulated power loss (issue 4 item 7): an engine wrapper that models a disk with a volatile
// write cache. Writes reach the file at once (so reads see them, as they would see the page
// cache), but each one is journalled with the bytes it replaced until a completed flush of its
// file makes it durable; a write on an O_DSYNC descriptor is durable when it completes. At the
// cut -- the chosen request, or cut() -- every write not yet durable is undone, newest first,
// and then (keep_some) a random subset of them is applied again in random order, each torn
// into tear_size pieces of which a random subset lands: what a disk that reorders its cache
// may have written before the power went. From then on every request fails with EIO.
// Truncates and hole punches are journalled like writes.
//
// Requests are carried out synchronously on the caller's thread (completions still arrive
// from poll()), so a run is deterministic for a seed. Flushes do not reach the disk: only the
// model's durability matters. Reads go to the inner engine. For tests and benchmarks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "block/engine_wrapper.h"

namespace corvid::block {

struct PowerLossOptions {
  uint64_t seed = 1;
  // The power goes out when this mutating request (write, truncate, hole punch, flush;
  // 0-based) is issued; that request fails. -1: only when cut() is called.
  int64_t cut_at = -1;
  bool keep_some = true;     // unflushed writes may survive (random subset, random order)
  uint32_t tear_size = 512;  // survivors land in pieces of this size (0: whole writes)
};

struct PowerLossStats {
  int64_t requests = 0;         // mutating requests seen
  int64_t flushes = 0;          // completed flushes (durability points)
  int64_t volatile_writes = 0;  // not yet durable at the cut
  int64_t kept = 0;             // of those, applied again (whole or in part)
  int64_t torn = 0;             // of those, applied only in part
};

class PowerLossEngine final : public EngineWrapper {
 public:
  PowerLossEngine(std::unique_ptr<IoEngine> inner, PowerLossOptions options);

  // The power goes out now (idempotent).
  void cut();
  bool power_is_off() const { return off_; }
  const PowerLossStats& stats() const { return stats_; }

  void readv(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override;
  void writev(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override;
  void fsync(int fd, bool datasync, IoCallback cb) override;
  void fallocate(int fd, int mode, uint64_t offset, uint64_t len, IoCallback cb) override;
  int64_t pwritev_now(int fd, uint64_t offset, const iovec* iov, int iovcnt,
                      WriteKind kind) override;
  int64_t fdatasync_now(int fd) override;
  int64_t ftruncate_now(int fd, uint64_t size) override;
  int64_t fallocate_now(int fd, int mode, uint64_t offset, uint64_t len) override;

 private:
  // One change not yet durable: the bytes [offset, offset + before.size()) it replaced and
  // the file size before; what it left (after, size_after) for replaying it.
  struct Change {
    uint64_t offset = 0;
    std::vector<uint8_t> before, after;
    uint64_t size_before = 0, size_after = 0;
    bool truncate = false;
  };
  struct File {
    UniqueFd fd;  // our own descriptor: the journal outlives the driver's
    std::vector<Change> changes;
  };
  using Key = std::pair<dev_t, ino_t>;

  // Counts a mutating request; true when the power is (now) off and it must fail.
  bool fails();
  File* file_of(int fd);
  // Journals and carries out a change of [offset, offset + len) made by `apply`.
  template <typename Apply>
  int64_t change(int fd, uint64_t offset, uint64_t len, bool truncate, Apply apply);
  int64_t flush_file(int fd);
  void lose_power(File& f);

  PowerLossOptions options_;
  std::mt19937_64 rng_;
  std::map<Key, File> files_;
  PowerLossStats stats_;
  bool off_ = false;
};

}  // namespace corvid::block
