// The asynchronous I/O engine under every block driver: io_uring where the host allows it, a
// thread pool otherwise (or when aio=threads asks for it).
//
// Threading: an engine belongs to one thread. Requests are queued and submitted in batches
// (submit(), or implicitly by poll()); callbacks run only from poll(), never from inside the
// call that queued the request, so a callback may safely queue more requests.
// The iovec array passed to readv/writev must stay valid until the callback runs.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/result.h"
#include "block/block_device.h"

namespace corvid::block {

// res >= 0: bytes transferred (0 for fsync/fallocate); res < 0: -errno.
using IoCallback = std::function<void(int64_t res)>;

// What a write carries, for wrappers that treat them differently (fault injection).
enum class WriteKind { kData, kMetadata };

class IoEngine {
 public:
  // aio=io_uring falls back to the thread pool (with one warning line) when the kernel refuses
  // io_uring (EPERM, ENOSYS); aio=threads always uses the pool.
  static Result<std::unique_ptr<IoEngine>> create(AioMode mode, unsigned queue_depth = 256);

  virtual ~IoEngine() = default;
  virtual const char* name() const = 0;

  virtual void readv(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) = 0;
  virtual void writev(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) = 0;
  virtual void fsync(int fd, bool datasync, IoCallback cb) = 0;
  // fallocate(2) with `mode` (FALLOC_FL_PUNCH_HOLE|KEEP_SIZE, FALLOC_FL_ZERO_RANGE, 0).
  virtual void fallocate(int fd, int mode, uint64_t offset, uint64_t len, IoCallback cb) = 0;

  // Hands every queued request to the kernel / the workers in one go.
  virtual void submit() = 0;

  // Blocking requests on the calling thread, for metadata that must reach the file before the
  // caller goes on (block/image_file.h routes its writes here). They never run callbacks.
  // Wrappers (power loss, fault injection) see them like the queued requests. Return the
  // bytes written (pwritev_now: all of them, retrying short writes) or 0, or -errno.
  virtual int64_t pwritev_now(int fd, uint64_t offset, const iovec* iov, int iovcnt,
                              WriteKind kind);
  virtual int64_t fdatasync_now(int fd);
  virtual int64_t ftruncate_now(int fd, uint64_t size);
  virtual int64_t fallocate_now(int fd, int mode, uint64_t offset, uint64_t len);

  // Completes `cb` with `res` at the next poll(): for results known without any I/O. Signals
  // event_fd() so an event-loop user polls again.
  void complete_later(IoCallback cb, int64_t res);

  // Submits, then runs the callbacks of finished requests. With wait, blocks until at least
  // one callback ran (returns 0 at once when nothing is in flight). Returns callbacks run.
  int poll(bool wait);

  // Requests queued or in flight, including deferred completions.
  unsigned in_flight() const { return in_flight_ + static_cast<unsigned>(deferred_.size()); }

  // A descriptor that becomes readable when completions are ready (for an EventLoop); after it
  // fires, call poll(false). Requests queued by callbacks are submitted before poll returns.
  virtual int event_fd() const = 0;

 protected:
  // Makes event_fd() readable (deferred completions are waiting).
  virtual void wake() = 0;
  // Reaps finished requests, running their callbacks; blocks for one when wait.
  virtual int reap(bool wait) = 0;
  unsigned in_flight_ = 0;

 private:
  int run_deferred();
  std::vector<std::pair<IoCallback, int64_t>> deferred_, running_;
};

// The plain system calls behind the blocking requests (-errno on failure).
int64_t host_pwritev(int fd, uint64_t offset, const iovec* iov, int iovcnt);
int64_t host_fdatasync(int fd);
int64_t host_ftruncate(int fd, uint64_t size);
int64_t host_fallocate(int fd, int mode, uint64_t offset, uint64_t len);

Result<std::unique_ptr<IoEngine>> create_io_uring_engine(unsigned queue_depth);
Result<std::unique_ptr<IoEngine>> create_thread_pool_engine(unsigned workers);

}  // namespace corvid::block
