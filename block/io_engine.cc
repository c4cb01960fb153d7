#include "block/io_engine.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <vector>

#include "base/log.h"

namespace corvid::block {

Result<std::unique_ptr<IoEngine>> IoEngine::create(AioMode mode, unsigned queue_depth) {
  if (mode == AioMode::kThreads) return create_thread_pool_engine(4);
  auto ring = create_io_uring_engine(queue_depth);
  if (ring) return ring;
  if (ring.error().code != EPERM && ring.error().code != ENOSYS) return ring;
  // Hosts (seccomp profiles, io_uring_disabled sysctl) may refuse io_uring; say so once.
  static bool warned = false;
  if (!warned) {
    warned = true;
    LOG_WARN("io_uring is not available ({}); using the thread-pool I/O engine",
             ring.error().to_string());
  }
  return create_thread_pool_engine(4);
}

void IoEngine::complete_later(IoCallback cb, int64_t res) {
  if (deferred_.empty()) wake();
  deferred_.emplace_back(std::move(cb), res);
}

int IoEngine::run_deferred() {
  int n = 0;
  // Callbacks may defer more completions; those run at the next round.
  while (!deferred_.empty()) {
    running_.swap(deferred_);
    for (auto& [cb, res] : running_) {
      cb(res);
      ++n;
    }
    running_.clear();
    if (n > 0) break;
  }
  return n;
}

int IoEngine::poll(bool wait) {
  int n = run_deferred();
  submit();
  bool block = wait && n == 0 && deferred_.empty() && in_flight_ > 0;
  n += reap(block);
  submit();  // what the callbacks queued
  if (!deferred_.empty()) wake();
  return n;
}

int64_t host_pwritev(int fd, uint64_t offset, const iovec* iov, int iovcnt) {
  std::vector<iovec> rest(iov, iov + iovcnt);
  size_t i = 0;
  int64_t total = 0;
  while (i < rest.size()) {
    if (rest[i].iov_len == 0) {
      ++i;
      continue;
    }
    int cnt = static_cast<int>(std::min<size_t>(rest.size() - i, IOV_MAX));
    ssize_t n = ::pwritev(fd, &rest[i], cnt, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -ENOSPC;
    offset += static_cast<uint64_t>(n);
    total += n;
    while (n > 0) {
      size_t step = std::min(static_cast<size_t>(n), rest[i].iov_len);
      rest[i].iov_base = static_cast<uint8_t*>(rest[i].iov_base) + step;
      rest[i].iov_len -= step;
      n -= static_cast<ssize_t>(step);
      if (rest[i].iov_len == 0) ++i;
    }
  }
  return total;
}

int64_t host_fdatasync(int fd) {
  return ::fdatasync(fd) < 0 ? -errno : 0;
}

int64_t host_ftruncate(int fd, uint64_t size) {
  return ::ftruncate(fd, static_cast<off_t>(size)) < 0 ? -errno : 0;
}

int64_t host_fallocate(int fd, int mode, uint64_t offset, uint64_t len) {
  return ::fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(len)) < 0 ? -errno
                                                                                        : 0;
}

int64_t IoEngine::pwritev_now(int fd, uint64_t offset, const iovec* iov, int iovcnt, WriteKind) {
  return host_pwritev(fd, offset, iov, iovcnt);
}
int64_t IoEngine::fdatasync_now(int fd) {
  return host_fdatasync(fd);
}
int64_t IoEngine::ftruncate_now(int fd, uint64_t size) {
  return host_ftruncate(fd, size);
}
int64_t IoEngine::fallocate_now(int fd, int mode, uint64_t offset, uint64_t len) {
  return host_fallocate(fd, mode, offset, len);
}

}  // namespace corvid::block
