#include "block/io_engine.h"

#include <cerrno>

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

}  // namespace corvid::block
