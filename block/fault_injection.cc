#include "block/fault_injection.h"

#include "block/engine_wrapper.h"

namespace corvid::block {
namespace {

enum class Kind { kData, kMetadata, kFlush };

class FaultEngine final : public EngineWrapper {
 public:
  FaultEngine(std::unique_ptr<IoEngine> inner, FaultPlan* plan)
      : EngineWrapper(std::move(inner)), plan_(plan) {}

  void writev(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) override {
    if (int err = fault(Kind::kData)) return complete_later(std::move(cb), -err);
    EngineWrapper::writev(fd, offset, iov, iovcnt, std::move(cb));
  }
  void fsync(int fd, bool datasync, IoCallback cb) override {
    if (int err = fault(Kind::kFlush)) return complete_later(std::move(cb), -err);
    EngineWrapper::fsync(fd, datasync, std::move(cb));
  }
  void fallocate(int fd, int mode, uint64_t offset, uint64_t len, IoCallback cb) override {
    if (int err = fault(Kind::kData)) return complete_later(std::move(cb), -err);
    EngineWrapper::fallocate(fd, mode, offset, len, std::move(cb));
  }
  int64_t pwritev_now(int fd, uint64_t offset, const iovec* iov, int iovcnt,
                      WriteKind kind) override {
    if (int err = fault(kind == WriteKind::kData ? Kind::kData : Kind::kMetadata)) return -err;
    return EngineWrapper::pwritev_now(fd, offset, iov, iovcnt, kind);
  }
  int64_t fdatasync_now(int fd) override {
    if (int err = fault(Kind::kFlush)) return -err;
    return EngineWrapper::fdatasync_now(fd);
  }
  int64_t ftruncate_now(int fd, uint64_t size) override {
    if (int err = fault(Kind::kMetadata)) return -err;
    return EngineWrapper::ftruncate_now(fd, size);
  }
  int64_t fallocate_now(int fd, int mode, uint64_t offset, uint64_t len) override {
    if (int err = fault(Kind::kMetadata)) return -err;
    return EngineWrapper::fallocate_now(fd, mode, offset, len);
  }

 private:
  bool targeted(Kind k) const {
    switch (plan_->target) {
      case FaultTarget::kAnyWrite:
        return k != Kind::kFlush;
      case FaultTarget::kDataWrite:
        return k == Kind::kData;
      case FaultTarget::kMetadataWrite:
        return k == Kind::kMetadata;
      case FaultTarget::kFlush:
        return k == Kind::kFlush;
    }
    return false;
  }
  // Counts one request; returns the errno to fail it with, or 0.
  int fault(Kind k) {
    if (!targeted(k)) return 0;
    int64_t n = plan_->seen++;
    if (plan_->fail_at < 0) return 0;
    if (n == plan_->fail_at || (plan_->sticky && n > plan_->fail_at)) {
      ++plan_->injected;
      return plan_->error;
    }
    return 0;
  }

  FaultPlan* plan_;
};

}  // namespace

std::unique_ptr<IoEngine> fault_injecting_engine(std::unique_ptr<IoEngine> inner, FaultPlan* plan) {
  return std::make_unique<FaultEngine>(std::move(inner), plan);
}

}  // namespace corvid::block
