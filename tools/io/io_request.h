// Helpers shared by qemu-io's synchronous and asynchronous data commands: aligned buffers,
// option flags, pattern checks and the parsing of "off len [len...]" vectors.
#pragma once

#include <getopt.h>
#include <sys/uio.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "base/result.h"
#include "tools/io/io_commands.h"
#include "tools/io/io_format.h"

namespace corvid::io {

// qemu's BDRV_REQUEST_MAX_BYTES: the largest single request (INT_MAX rounded down to 512).
constexpr int64_t kMaxRequest = 2147483136;

// Page-aligned so the same buffers serve O_DIRECT (-n / -t none) opens.
class Buffer {
 public:
  explicit Buffer(size_t len, int fill = -1)
      : len_(len),
        data_(static_cast<uint8_t*>(std::aligned_alloc(4096, (len + 4095) / 4096 * 4096 + 4096))) {
    if (fill >= 0) std::memset(data_, fill, len);
  }
  ~Buffer() { std::free(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() { return data_; }
  size_t size() const { return len_; }

 private:
  size_t len_;
  uint8_t* data_;
};

inline const char* error_text(const Error& e) {
  return std::strerror(e.code != 0 ? e.code : EIO);
}

// First index where buf differs from the pattern byte, or -1.
inline bool matches_pattern(const uint8_t* buf, int64_t len, int pattern) {
  for (int64_t i = 0; i < len; ++i)
    if (buf[i] != pattern) return false;
  return true;
}

struct Flags {
  bool csv = false, quiet = false, verbose = false, zero = false, unmap = false, fua = false;
  bool compressed = false, invalid = false;
  int pattern = -1;
};

// Parses a data command's options with getopt. The letters that set Flags are handled here
// (C csv, c compressed, f fua, i invalid, P pattern, q quiet, u unmap, v verbose, z zero; p is
// accepted and ignored, as in qemu-io); any other letter of `spec` goes to other(c), which
// returns 0 or what the command should return. Returns 0, or the command's return value (the
// usage line printed for an unknown option).
template <typename Other>
int parse_flags(Args& a, const char* name, const char* spec, Flags* f, Other&& other) {
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), spec)) != -1;) {
    int r = 0;
    switch (c) {
      case 'C':
        f->csv = true;
        break;
      case 'c':
        f->compressed = true;
        break;
      case 'f':
        f->fua = true;
        break;
      case 'i':
        f->invalid = true;
        break;
      case 'p':
        break;
      case 'P': {
        auto p = parse_pattern(optarg);
        if (!p) return -EINVAL;
        f->pattern = *p;
        break;
      }
      case 'q':
        f->quiet = true;
        break;
      case 'u':
        f->unmap = true;
        break;
      case 'v':
        f->verbose = true;
        break;
      case 'z':
        f->zero = true;
        break;
      case '?':
        return print_usage(name);
      default:
        r = other(c);
    }
    if (r != 0) return r;
  }
  return 0;
}
inline int parse_flags(Args& a, const char* name, const char* spec, Flags* f) {
  return parse_flags(a, name, spec, f, [name](int) { return print_usage(name); });
}

// Prints qemu-io's pattern mismatch line; false when buf[0, count) is not all `pattern`.
inline bool verify_pattern(const uint8_t* buf, int64_t offset, int64_t count, int pattern) {
  if (pattern < 0 || matches_pattern(buf, count, pattern)) return true;
  std::printf("Pattern verification failed at offset %" PRId64 ", %" PRId64 " bytes\n", offset,
              count);
  return false;
}

// Runs one synchronous request and times it; prints "<what> failed: <strerror>" when it fails.
template <typename Op>
std::optional<Elapsed> timed_request(const char* what, Op&& op) {
  Stopwatch clock;
  Result<> r = op();
  Elapsed t = clock.elapsed();
  if (!r) {
    std::printf("%s failed: %s\n", what, error_text(r.error()));
    return std::nullopt;
  }
  return t;
}

// Parses "off len" (a[first], a[first + 1]) as read/write/discard take them; prints qemu-io's
// error for a length over the request limit.
inline bool parse_offset_length(Args& a, int first, int64_t* offset, int64_t* length) {
  auto off = parse_number(a[first]);
  if (!off) return false;
  auto len = parse_number(a[first + 1]);
  if (!len) return false;
  if (*len > kMaxRequest) {
    std::printf("length cannot exceed %" PRId64 ", given %s\n", kMaxRequest, a[first + 1]);
    return false;
  }
  *offset = *off;
  *length = *len;
  return true;
}

// Parses "off len [len...]" into one buffer split as iovecs; prints qemu-io's errors.
inline bool parse_vector(Args& a, int first, int64_t* offset, std::vector<int64_t>* lens,
                         int64_t* total) {
  auto off = parse_number(a[first]);
  if (!off) return false;
  *offset = *off;
  *total = 0;
  for (size_t i = first + 1; i < a.size(); ++i) {
    auto len = parse_number(a[i]);
    if (!len) return false;
    if (*len > kMaxRequest) {
      std::printf("Argument '%s' exceeds maximum size %" PRId64 "\n", a[i], kMaxRequest);
      return false;
    }
    if (*total > kMaxRequest - *len) {
      std::printf("The total number of bytes exceed the maximum size %" PRId64 "\n", kMaxRequest);
      return false;
    }
    lens->push_back(*len);
    *total += *len;
  }
  return true;
}

inline std::vector<iovec> split(Buffer& buf, const std::vector<int64_t>& lens) {
  std::vector<iovec> iov;
  size_t pos = 0;
  for (int64_t len : lens) {
    iov.push_back(iovec{buf.data() + pos, static_cast<size_t>(len)});
    pos += len;
  }
  return iov;
}

}  // namespace corvid::io
