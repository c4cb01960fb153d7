// RAII owner of an mmap()ed region.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "base/result.h"

namespace corvid {

class Mapping {
 public:
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept;
  ~Mapping() { reset(); }

  // Anonymous private memory, zero filled. With hugepages, MADV_HUGEPAGE is requested
  // (transparent huge pages); it is advice, so failure to honour it is not an error.
  static Result<Mapping> anonymous(size_t size, bool hugepages = false);
  // Maps size bytes of fd at offset (prot/flags as for mmap).
  static Result<Mapping> file(int fd, size_t size, int prot, int flags, off_t offset = 0);

  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return size_; }
  bool valid() const { return addr_ != nullptr; }
  void reset();

 private:
  Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace corvid
