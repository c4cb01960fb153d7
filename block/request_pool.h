// A free list of per-request records, so steady-state I/O allocates nothing: records are
// recycled, and engine callbacks capture only {device, record} (small enough for
// std::function's inline storage).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace corvid::block {

template <typename T>
class RequestPool {
 public:
  T* get() {
    if (free_.empty()) {
      all_.push_back(std::make_unique<T>());
      return all_.back().get();
    }
    T* r = free_.back();
    free_.pop_back();
    return r;
  }
  void put(T* r) {
    *r = T{};
    free_.push_back(r);
  }

 private:
  std::vector<std::unique_ptr<T>> all_;
  std::vector<T*> free_;
};

inline uint64_t iov_length(const iovec* iov, int iovcnt) {
  uint64_t n = 0;
  for (int i = 0; i < iovcnt; ++i) n += iov[i].iov_len;
  return n;
}

// Zero-fills iov from byte `from` on (short reads at EOF, unallocated ranges).
inline void iov_zero_from(const iovec* iov, int iovcnt, uint64_t from) {
  for (int i = 0; i < iovcnt; ++i) {
    if (from >= iov[i].iov_len) {
      from -= iov[i].iov_len;
      continue;
    }
    std::memset(static_cast<char*>(iov[i].iov_base) + from, 0, iov[i].iov_len - from);
    from = 0;
  }
}

}  // namespace corvid::block
