// A base for engines that wrap another one (fault injection, simulated power loss): every
// request it does not override goes to the inner engine. Forwarded requests are counted in
// in_flight_ so poll(wait) blocks on the inner engine; results the wrapper makes up itself go
// through complete_later(), which signals the inner engine's eventfd (shared with the wrapper).
#pragma once

#include <unistd.h>

#include <memory>
#include <utility>

#include "block/io_engine.h"

namespace corvid::block {

class EngineWrapper : public IoEngine {
 public:
  explicit EngineWrapper(std::unique_ptr<IoEngine> inner) : inner_(std::move(inner)) {}
  const char* name() const override { return inner_->name(); }
  int event_fd() const override { return inner_->event_fd(); }

  void readv(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    track(std::move(cb),
          [&](IoCallback c) { inner_->readv(fd, offset, iov, iovcnt, std::move(c)); });
  }
  void writev(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    track(std::move(cb),
          [&](IoCallback c) { inner_->writev(fd, offset, iov, iovcnt, std::move(c)); });
  }
  void fsync(int fd, bool datasync, IoCallback cb) override {
    track(std::move(cb), [&](IoCallback c) { inner_->fsync(fd, datasync, std::move(c)); });
  }
  void fallocate(int fd, int mode, uint64_t offset, uint64_t len, IoCallback cb) override {
    track(std::move(cb),
          [&](IoCallback c) { inner_->fallocate(fd, mode, offset, len, std::move(c)); });
  }
  void submit() override { inner_->submit(); }

  int64_t pwritev_now(int fd, uint64_t offset, const iovec* iov, int iovcnt,
                      WriteKind kind) override {
    return inner_->pwritev_now(fd, offset, iov, iovcnt, kind);
  }
  int64_t fdatasync_now(int fd) override { return inner_->fdatasync_now(fd); }
  int64_t ftruncate_now(int fd, uint64_t size) override { return inner_->ftruncate_now(fd, size); }
  int64_t fallocate_now(int fd, int mode, uint64_t offset, uint64_t len) override {
    return inner_->fallocate_now(fd, mode, offset, len);
  }

 protected:
  int reap(bool wait) override { return inner_->poll(wait); }
  void wake() override {
    uint64_t one = 1;
    (void)!::write(inner_->event_fd(), &one, sizeof one);
  }

  // The inner engine runs the callback; our in_flight_ mirrors its count so poll() waits.
  template <typename Issue>
  void track(IoCallback cb, Issue issue) {
    ++in_flight_;
    issue([this, cb = std::move(cb)](int64_t res) {
      --in_flight_;
      cb(res);
    });
  }

  std::unique_ptr<IoEngine> inner_;
};

}  // namespace corvid::block
