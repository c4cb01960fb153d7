// The thread-pool engine: blocking preadv/pwritev/fdatasync/fallocate on worker threads, for
// hosts that refuse io_uring and for aio=threads. Results come back through a queue and an
// eventfd; callbacks run on the owner's thread in poll().
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/event_loop.h"
#include "block/io_engine.h"

namespace corvid::block {
namespace {

enum class Op { kRead, kWrite, kFsync, kFdatasync, kFallocate };

struct Request {
  Op op;
  int fd;
  uint64_t offset;
  const iovec* iov;
  int iovcnt;
  int mode;
  uint64_t len;
  IoCallback cb;
  int64_t res = 0;
};

int64_t execute(const Request& r) {
  ssize_t n = 0;
  switch (r.op) {
    case Op::kRead:
      n = ::preadv(r.fd, r.iov, r.iovcnt, static_cast<off_t>(r.offset));
      break;
    case Op::kWrite:
      n = ::pwritev(r.fd, r.iov, r.iovcnt, static_cast<off_t>(r.offset));
      break;
    case Op::kFsync:
      n = ::fsync(r.fd);
      break;
    case Op::kFdatasync:
      n = ::fdatasync(r.fd);
      break;
    case Op::kFallocate:
      n = ::fallocate(r.fd, r.mode, static_cast<off_t>(r.offset), static_cast<off_t>(r.len));
      break;
  }
  return n < 0 ? -errno : n;
}

class ThreadPoolEngine final : public IoEngine {
 public:
  ThreadPoolEngine(EventFd efd, unsigned workers) : efd_(std::move(efd)) {
    for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  ~ThreadPoolEngine() override {
    submit();
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  const char* name() const override { return "threads"; }
  int event_fd() const override { return efd_.fd(); }

 protected:
  void wake() override { efd_.signal(); }

 public:
  void readv(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    add({Op::kRead, fd, offset, iov, iovcnt, 0, 0, std::move(cb)});
  }
  void writev(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    add({Op::kWrite, fd, offset, iov, iovcnt, 0, 0, std::move(cb)});
  }
  void fsync(int fd, bool datasync, IoCallback cb) override {
    add({datasync ? Op::kFdatasync : Op::kFsync, fd, 0, nullptr, 0, 0, 0, std::move(cb)});
  }
  void fallocate(int fd, int mode, uint64_t offset, uint64_t len, IoCallback cb) override {
    add({Op::kFallocate, fd, offset, nullptr, 0, mode, len, std::move(cb)});
  }

  void submit() override {
    if (batch_.empty()) return;
    {
      std::lock_guard lock(mutex_);
      for (auto& r : batch_) todo_.push_back(std::move(r));
    }
    batch_.clear();
    cv_.notify_all();
  }

 protected:
  int reap(bool wait) override {
    std::deque<Request> done;
    {
      std::unique_lock lock(mutex_);
      if (wait) done_cv_.wait(lock, [this] { return !done_.empty() || in_flight_ == 0; });
      done.swap(done_);
    }
    efd_.consume();
    int n = 0;
    for (auto& r : done) {
      --in_flight_;
      r.cb(r.res);
      ++n;
    }
    return n;
  }

 private:
  void add(Request r) {
    ++in_flight_;
    batch_.push_back(std::move(r));
  }
  void work() {
    for (;;) {
      Request r;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return stopping_ || !todo_.empty(); });
        if (todo_.empty()) return;
        r = std::move(todo_.front());
        todo_.pop_front();
      }
      r.res = execute(r);
      {
        std::lock_guard lock(mutex_);
        done_.push_back(std::move(r));
      }
      done_cv_.notify_one();
      efd_.signal();
    }
  }

  EventFd efd_;
  std::vector<Request> batch_;
  std::mutex mutex_;
  std::condition_variable cv_, done_cv_;
  std::deque<Request> todo_, done_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

Result<std::unique_ptr<IoEngine>> create_thread_pool_engine(unsigned workers) {
  auto efd = CORVID_TRY(EventFd::create(true));
  return std::unique_ptr<IoEngine>(new ThreadPoolEngine(std::move(efd), workers));
}

}  // namespace corvid::block
