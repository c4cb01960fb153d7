#include "base/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>

namespace corvid {

Result<EventFd> EventFd::create(bool nonblocking) {
  int fd = ::eventfd(0, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0));
  if (fd < 0) return errno_error("eventfd");
  return EventFd(UniqueFd(fd));
}

void EventFd::signal(uint64_t n) const {
  ssize_t r;
  do {
    r = ::write(fd_.get(), &n, sizeof n);
  } while (r < 0 && errno == EINTR);
}

uint64_t EventFd::consume() const {
  uint64_t n = 0;
  ssize_t r;
  do {
    r = ::read(fd_.get(), &n, sizeof n);
  } while (r < 0 && errno == EINTR);
  return r == sizeof n ? n : 0;
}

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return errno_error("epoll_create1");
  UniqueFd epoll(ep);
  auto wake = CORVID_TRY(EventFd::create());
  std::unique_ptr<EventLoop> loop(new EventLoop(std::move(epoll), std::move(wake)));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = loop->wake_.fd();
  if (::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->wake_.fd(), &ev) < 0)
    return errno_error("epoll_ctl add wake eventfd");
  return loop;
}

EventLoop::~EventLoop() = default;

Result<> EventLoop::add(int fd, Callback callback, uint32_t events) {
  {
    std::lock_guard lock(mutex_);
    // A second registration must not replace (or, on failure, erase) the first one's callback.
    if (callbacks_.count(fd)) return errorf(EEXIST, "fd {} is already watched", fd);
    callbacks_[fd] = std::make_shared<Callback>(std::move(callback));
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    int saved = errno;
    std::lock_guard lock(mutex_);
    callbacks_.erase(fd);
    return errorf(saved, "epoll_ctl add fd {}", fd);
  }
  return {};
}

void EventLoop::remove(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  std::lock_guard lock(mutex_);
  callbacks_.erase(fd);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(fn));
  }
  wake_.signal();
}

void EventLoop::stop() {
  stop_requested_ = true;
  wake_.signal();
}

void EventLoop::drain_posted() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(mutex_);
    work.swap(posted_);
  }
  for (auto& fn : work) fn();
}

Result<int> EventLoop::run_once(int timeout_ms) {
  epoll_event events[64];
  int n = ::epoll_wait(epoll_.get(), events, 64, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return 0;
    return errno_error("epoll_wait");
  }
  int ran = 0;
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == wake_.fd()) {
      wake_.consume();
      drain_posted();
      continue;
    }
    std::shared_ptr<Callback> cb;
    {
      std::lock_guard lock(mutex_);
      auto it = callbacks_.find(fd);
      if (it == callbacks_.end()) continue;
      cb = it->second;  // kept alive even if the callback removes itself
    }
    (*cb)(events[i].events);
    ++ran;
  }
  return ran;
}

Result<> EventLoop::run() {
  while (!stop_requested_) CORVID_TRY_VOID(run_once(-1));
  return {};
}

}  // namespace corvid
