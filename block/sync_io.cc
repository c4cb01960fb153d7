#include "block/sync_io.h"

#include "block/io_engine.h"

namespace corvid::block {
namespace {

template <typename Issue>
Result<> run(BlockDevice& dev, Issue issue) {
  bool done = false;
  Result<> result;
  issue([&](Result<> r) {
    result = std::move(r);
    done = true;
  });
  drive_until(dev, done);
  return result;
}

}  // namespace

void drive_until(BlockDevice& dev, const bool& done) {
  IoEngine* engine = dev.io_engine();
  while (!done && engine != nullptr) {
    if (engine->poll(true) == 0 && engine->in_flight() == 0) break;
  }
}

Result<> readv_sync(BlockDevice& dev, uint64_t offset, const iovec* iov, int iovcnt) {
  return run(dev, [&](Completion c) { dev.read(offset, iov, iovcnt, std::move(c)); });
}
Result<> writev_sync(BlockDevice& dev, uint64_t offset, const iovec* iov, int iovcnt) {
  return run(dev, [&](Completion c) { dev.write(offset, iov, iovcnt, std::move(c)); });
}
Result<> read_sync(BlockDevice& dev, uint64_t offset, void* buf, size_t len) {
  iovec iov{buf, len};
  return readv_sync(dev, offset, &iov, 1);
}
Result<> write_sync(BlockDevice& dev, uint64_t offset, const void* buf, size_t len) {
  iovec iov{const_cast<void*>(buf), len};
  return writev_sync(dev, offset, &iov, 1);
}
Result<> flush_sync(BlockDevice& dev) {
  return run(dev, [&](Completion c) { dev.flush(std::move(c)); });
}
Result<> discard_sync(BlockDevice& dev, uint64_t offset, uint64_t len) {
  return run(dev, [&](Completion c) { dev.discard(offset, len, std::move(c)); });
}
Result<> write_zeroes_sync(BlockDevice& dev, uint64_t offset, uint64_t len, bool may_unmap) {
  return run(dev, [&](Completion c) { dev.write_zeroes(offset, len, may_unmap, std::move(c)); });
}

}  // namespace corvid::block
