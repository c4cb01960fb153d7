// A small epoll event loop. An I/O thread owns one: it watches eventfds (virtqueue kicks,
// io_uring completions, timers) and runs their callbacks on its own thread.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace corvid {

// An eventfd: a counter other threads (or the kernel, via ioeventfd/irqfd) can signal.
class EventFd {
 public:
  static Result<EventFd> create(bool nonblocking = true);
  int fd() const { return fd_.get(); }
  void signal(uint64_t n = 1) const;
  // Reads and resets the counter; 0 when nothing was signalled (non-blocking fds).
  uint64_t consume() const;

 private:
  explicit EventFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  static Result<std::unique_ptr<EventLoop>> create();
  ~EventLoop();

  // Watches fd for events (EPOLLIN by default). The callback runs on the loop's thread.
  // Registration is safe from any thread.
  Result<> add(int fd, Callback callback, uint32_t events = EPOLLIN);
  void remove(int fd);

  // Waits up to timeout_ms (-1: forever) and dispatches what is ready; returns the number of
  // callbacks run.
  Result<int> run_once(int timeout_ms);
  // Dispatches until stop() is called (from any thread, including a callback).
  Result<> run();
  void stop();
  bool stopped() const { return stop_requested_; }

  // Runs fn on the loop's thread at its next iteration.
  void post(std::function<void()> fn);

 private:
  EventLoop(UniqueFd epoll, EventFd wake) : epoll_(std::move(epoll)), wake_(std::move(wake)) {}
  void drain_posted();

  UniqueFd epoll_;
  EventFd wake_;
  std::mutex mutex_;
  std::unordered_map<int, std::shared_ptr<Callback>> callbacks_;
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace corvid
