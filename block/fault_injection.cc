#include "block/fault_injection.h"

#include <unistd.h>

namespace corvid::block {
namespace {

FaultPlan* g_plan = nullptr;

class FaultEngine final : public IoEngine {
 public:
  explicit FaultEngine(std::unique_ptr<IoEngine> inner) : inner_(std::move(inner)) {}
  const char* name() const override { return inner_->name(); }
  int event_fd() const override { return inner_->event_fd(); }

  void readv(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    track(std::move(cb),
          [&](IoCallback c) { inner_->readv(fd, offset, iov, iovcnt, std::move(c)); });
  }
  void writev(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    if (int err = fault_for_write()) return fail(std::move(cb), err);
    track(std::move(cb),
          [&](IoCallback c) { inner_->writev(fd, offset, iov, iovcnt, std::move(c)); });
  }
  void fsync(int fd, bool datasync, IoCallback cb) override {
    track(std::move(cb), [&](IoCallback c) { inner_->fsync(fd, datasync, std::move(c)); });
  }
  void fallocate(int fd, int mode, uint64_t offset, uint64_t len, IoCallback cb) override {
    if (int err = fault_for_write()) return fail(std::move(cb), err);
    track(std::move(cb),
          [&](IoCallback c) { inner_->fallocate(fd, mode, offset, len, std::move(c)); });
  }
  void submit() override { inner_->submit(); }

 protected:
  int reap(bool wait) override { return inner_->poll(wait); }
  void wake() override { inner_event_signal(); }

 private:
  // The inner engine runs the callback; our in_flight_ mirrors its count so poll() waits.
  template <typename Issue>
  void track(IoCallback cb, Issue issue) {
    ++in_flight_;
    issue([this, cb = std::move(cb)](int64_t res) {
      --in_flight_;
      cb(res);
    });
  }
  void fail(IoCallback cb, int err) { complete_later(std::move(cb), -err); }

  // The inner engine's event fd is ours too; a write makes it readable.
  void inner_event_signal() {
    uint64_t one = 1;
    (void)!::write(inner_->event_fd(), &one, sizeof one);
  }

  std::unique_ptr<IoEngine> inner_;
};

}  // namespace

void set_fault_plan(FaultPlan* plan) {
  g_plan = plan;
}

int fault_for_write() {
  if (g_plan == nullptr) return 0;
  int64_t n = g_plan->writes++;
  if (g_plan->fail_at < 0) return 0;
  if (n == g_plan->fail_at || (g_plan->sticky && n > g_plan->fail_at)) return g_plan->error;
  return 0;
}

std::unique_ptr<IoEngine> fault_injecting_engine(std::unique_ptr<IoEngine> inner) {
  return std::make_unique<FaultEngine>(std::move(inner));
}

}  // namespace corvid::block
