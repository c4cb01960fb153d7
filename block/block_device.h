// The block layer's driver interface: raw and qcow2 serve it; virtio-blk, corvid-img and corvid-io
// use it. Requests are asynchronous with completion callbacks, run on the IoEngine's thread.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"

namespace corvid::block {

class IoEngine;

// cache= modes as QEMU names them: none/directsync use O_DIRECT; writethrough/directsync make
// every write durable before it completes; unsafe ignores flushes.
enum class CacheMode { kWriteback, kWritethrough, kNone, kDirectSync, kUnsafe };
enum class AioMode { kIoUring, kThreads };

struct OpenOptions {
  bool read_only = false;
  CacheMode cache = CacheMode::kWriteback;
  AioMode aio = AioMode::kIoUring;
  std::string format;  // "raw", "qcow2" or empty to probe
  bool no_backing = false;
  // qemu-img check's open (BDRV_O_CHECK): no dirty-image repair, a corrupt image may be opened
  // read/write, a missing refcount table and a broken snapshot table are tolerated.
  bool check = false;
  // lazy-refcounts runtime option; empty keeps the image's compatible bit.
  std::optional<bool> lazy_refcounts;
  // backing.driver: the backing file's format, overriding the one the image records (applies
  // to the immediate backing file only); empty keeps the image's.
  std::string backing_format;
};

using Completion = std::function<void(Result<>)>;

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;
  virtual uint64_t size() const = 0;  // virtual disk size in bytes
  virtual bool read_only() const = 0;
  virtual std::string format_name() const = 0;

  virtual void read(uint64_t offset, const iovec* iov, int iovcnt, Completion done) = 0;
  virtual void write(uint64_t offset, const iovec* iov, int iovcnt, Completion done) = 0;
  virtual void flush(Completion done) = 0;
  virtual void discard(uint64_t offset, uint64_t len, Completion done) = 0;
  virtual void write_zeroes(uint64_t offset, uint64_t len, bool may_unmap, Completion done) = 0;

  // The engine this device's I/O runs on: callers drive completions with its poll() (see
  // block/io_engine.h) or register its event_fd() in an EventLoop. Null for devices that
  // complete synchronously.
  virtual IoEngine* io_engine() { return nullptr; }

  // Writes back cached metadata and releases the image (a clean close). Called by the destructor
  // when not called explicitly.
  virtual Result<> close() = 0;
};

}  // namespace corvid::block
