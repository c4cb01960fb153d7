// The io_uring engine: one ring per engine (so per I/O thread). Requests become SQEs at once
// and reach the kernel in one io_uring_submit() per batch; the request slot pool grows only
// when more requests are in flight than ever before, so steady-state I/O does not allocate.
#include <liburing.h>

#include <cerrno>
#include <cstring>

#include "base/event_loop.h"
#include "block/io_engine.h"

namespace corvid::block {
namespace {

class IoUringEngine final : public IoEngine {
 public:
  IoUringEngine(io_uring ring, EventFd efd) : ring_(ring), efd_(std::move(efd)) {}
  ~IoUringEngine() override {
    // Requests still in the kernel reference our slots; wait for them before freeing.
    while (in_flight_ > 0) {
      if (reap(true) < 0) break;
    }
    io_uring_queue_exit(&ring_);
  }

  const char* name() const override { return "io_uring"; }
  int event_fd() const override { return efd_.fd(); }

 protected:
  void wake() override { efd_.signal(); }

 public:
  void readv(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_readv(sqe, fd, iov, iovcnt, offset);
    queue(sqe, std::move(cb));
  }
  void writev(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_writev(sqe, fd, iov, iovcnt, offset);
    queue(sqe, std::move(cb));
  }
  void fsync(int fd, bool datasync, IoCallback cb) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    queue(sqe, std::move(cb));
  }
  void fallocate(int fd, int mode, uint64_t offset, uint64_t len, IoCallback cb) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_fallocate(sqe, fd, mode, offset, len);
    queue(sqe, std::move(cb));
  }

  void submit() override {
    if (unsubmitted_ == 0) return;
    int r;
    do {
      r = io_uring_submit(&ring_);
    } while (r == -EINTR);
    if (r >= 0) unsubmitted_ = 0;
  }

 protected:
  int reap(bool wait) override {
    int n = 0;
    if (wait && in_flight_ > 0) {
      io_uring_cqe* cqe = nullptr;
      int r;
      do {
        r = io_uring_wait_cqe(&ring_, &cqe);
      } while (r == -EINTR);
      if (r < 0) return r;
    }
    efd_.consume();
    io_uring_cqe* cqes[64];
    for (;;) {
      unsigned got = io_uring_peek_batch_cqe(&ring_, cqes, 64);
      if (got == 0) break;
      for (unsigned i = 0; i < got; ++i) {
        auto slot = static_cast<uint32_t>(io_uring_cqe_get_data64(cqes[i]));
        int64_t res = cqes[i]->res;
        io_uring_cqe_seen(&ring_, cqes[i]);
        IoCallback cb = std::move(slots_[slot]);
        free_.push_back(slot);
        --in_flight_;
        cb(res);
        ++n;
      }
    }
    return n;
  }

 private:
  io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      // The submission queue is full: hand the batch to the kernel and continue.
      unsubmitted_ = 1;
      submit();
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }
  void queue(io_uring_sqe* sqe, IoCallback cb) {
    uint32_t slot;
    if (free_.empty()) {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
      free_.reserve(slots_.capacity());
    } else {
      slot = free_.back();
      free_.pop_back();
    }
    slots_[slot] = std::move(cb);
    io_uring_sqe_set_data64(sqe, slot);
    ++unsubmitted_;
    ++in_flight_;
  }

  io_uring ring_;
  EventFd efd_;
  std::vector<IoCallback> slots_;
  std::vector<uint32_t> free_;
  unsigned unsubmitted_ = 0;
};

}  // namespace

Result<std::unique_ptr<IoEngine>> create_io_uring_engine(unsigned queue_depth) {
  io_uring ring;
  int r = io_uring_queue_init(queue_depth, &ring, 0);
  if (r < 0) return make_error(-r, "io_uring_queue_init");
  auto efd = EventFd::create(true);
  if (!efd) {
    io_uring_queue_exit(&ring);
    return tl::unexpected(efd.error());
  }
  r = io_uring_register_eventfd(&ring, efd->fd());
  if (r < 0) {
    io_uring_queue_exit(&ring);
    return make_error(-r, "io_uring_register_eventfd");
  }
  return std::unique_ptr<IoEngine>(new IoUringEngine(ring, std::move(*efd)));
}

}  // namespace corvid::block
