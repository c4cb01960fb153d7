// Scatter/gather helpers over iovec arrays: length, slicing, copying and zero filling.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace corvid::block {

inline uint64_t iov_length(const iovec* iov, int iovcnt) {
  uint64_t n = 0;
  for (int i = 0; i < iovcnt; ++i) n += iov[i].iov_len;
  return n;
}

// Applies fn(base, len) to the bytes [skip, skip + len) of the vector, in order.
template <typename Fn>
void iov_for_range(const iovec* iov, int iovcnt, uint64_t skip, uint64_t len, Fn&& fn) {
  for (int i = 0; i < iovcnt && len > 0; ++i) {
    if (skip >= iov[i].iov_len) {
      skip -= iov[i].iov_len;
      continue;
    }
    uint64_t n = std::min<uint64_t>(iov[i].iov_len - skip, len);
    fn(static_cast<uint8_t*>(iov[i].iov_base) + skip, n);
    len -= n;
    skip = 0;
  }
}

// Zero-fills iov from byte `from` on (short reads at EOF, unallocated ranges).
inline void iov_zero_from(const iovec* iov, int iovcnt, uint64_t from) {
  iov_for_range(iov, iovcnt, from, UINT64_MAX,
                [](uint8_t* p, uint64_t n) { std::memset(p, 0, n); });
}

// Appends the iovecs covering bytes [skip, skip + len) to out.
inline void iov_slice(const iovec* iov, int iovcnt, uint64_t skip, uint64_t len,
                      std::vector<iovec>& out) {
  iov_for_range(iov, iovcnt, skip, len, [&](uint8_t* p, uint64_t n) { out.push_back({p, n}); });
}

inline void iov_from_buf(const iovec* iov, int iovcnt, uint64_t skip, const uint8_t* buf,
                         uint64_t len) {
  iov_for_range(iov, iovcnt, skip, len, [&](uint8_t* p, uint64_t n) {
    std::memcpy(p, buf, n);
    buf += n;
  });
}

}  // namespace corvid::block
