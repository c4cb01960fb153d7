// The host file under an image: a descriptor for guest data (O_DIRECT under cache=none and
// directsync) and a buffered one for metadata and unaligned requests, plus blocking helpers
// used for metadata (short reads past EOF read as zeros, as QEMU's do). Every blocking write,
// truncate, hole punch and sync goes through the attached engine's *_now requests, so engine
// wrappers (block/power_loss.h, block/fault_injection.h) see all of a driver's writes.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "block/block_device.h"
#include "block/io_engine.h"

namespace corvid::block {

class ImageFile {
 public:
  static Result<ImageFile> open(const std::string& path, bool read_only, CacheMode cache);

  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  CacheMode cache() const { return cache_; }
  bool direct() const { return direct_; }
  int data_fd() const { return data_.get(); }
  int meta_fd() const { return meta_.valid() ? meta_.get() : data_.get(); }
  // O_DIRECT needs offsets, lengths and buffers aligned to the logical block size.
  static constexpr uint64_t kDirectAlign = 512;
  bool is_aligned(uint64_t offset, const iovec* iov, int iovcnt) const;

  // The engine the blocking writes go through (none: plain system calls).
  void attach(IoEngine* engine) { engine_ = engine; }

  Result<> pread(void* buf, size_t len, uint64_t offset) const;
  // A metadata write.
  Result<> pwrite(const void* buf, size_t len, uint64_t offset) const;
  // A blocking write on the buffered descriptor (guest data on qcow2's allocating path).
  Result<> pwritev(const iovec* iov, int iovcnt, uint64_t offset, WriteKind kind) const;
  Result<uint64_t> size() const;
  Result<uint64_t> allocated_bytes() const;  // st_blocks * 512
  Result<> truncate(uint64_t size) const;
  Result<> punch_hole(uint64_t offset, uint64_t len) const;  // keeps the size
  Result<> sync() const;                                     // fdatasync (no-op under cache=unsafe)

 private:
  std::string path_;
  bool read_only_ = false, direct_ = false;
  CacheMode cache_ = CacheMode::kWriteback;
  UniqueFd data_, meta_;
  IoEngine* engine_ = nullptr;
};

}  // namespace corvid::block
