// The data commands of qemu-io: read, readv, write, writev, aio_read, aio_write, discard.
#include <getopt.h>
#include <sys/uio.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "block/image.h"
#include "block/io_engine.h"
#include "block/sync_io.h"
#include "tools/io/io_commands.h"
#include "tools/io/io_format.h"

namespace corvid::io {

namespace {

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

const char* error_text(const Error& e) {
  return std::strerror(e.code != 0 ? e.code : EIO);
}

// First index where buf differs from the pattern byte, or -1.
bool matches_pattern(const uint8_t* buf, int64_t len, int pattern) {
  for (int64_t i = 0; i < len; ++i)
    if (buf[i] != pattern) return false;
  return true;
}

struct Flags {
  bool csv = false, quiet = false, verbose = false, zero = false, unmap = false, fua = false;
  bool compressed = false, invalid = false;
  int pattern = -1;
};

// Parses "off len [len...]" into one buffer split as iovecs; prints qemu-io's errors.
bool parse_vector(Args& a, int first, int64_t* offset, std::vector<int64_t>* lens, int64_t* total) {
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

std::vector<iovec> split(Buffer& buf, const std::vector<int64_t>& lens) {
  std::vector<iovec> iov;
  size_t pos = 0;
  for (int64_t len : lens) {
    iov.push_back(iovec{buf.data() + pos, static_cast<size_t>(len)});
    pos += len;
  }
  return iov;
}

}  // namespace

struct AioRequest {
  bool write = false;
  int64_t offset = 0, total = 0;
  Flags flags;
  std::unique_ptr<Buffer> buf;
  std::vector<iovec> iov;
  Stopwatch clock;
};

IoSession::IoSession() = default;
IoSession::~IoSession() = default;

int read_cmd(IoSession& s, Args& a) {
  Flags f;
  bool lflag = false, sflag = false;
  int64_t pattern_offset = 0, pattern_count = 0;
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "bCl:pP:qs:v")) != -1;) {
    switch (c) {
      case 'b':
        std::printf("read failed: %s\n", std::strerror(ENOTSUP));
        return -ENOTSUP;
      case 'C':
        f.csv = true;
        break;
      case 'l': {
        auto n = parse_number(optarg);
        if (!n) return -EINVAL;
        pattern_count = *n;
        lflag = true;
        break;
      }
      case 'p':
        break;
      case 'P': {
        auto p = parse_pattern(optarg);
        if (!p) return -EINVAL;
        f.pattern = *p;
        break;
      }
      case 'q':
        f.quiet = true;
        break;
      case 's': {
        auto n = parse_number(optarg);
        if (!n) return -EINVAL;
        pattern_offset = *n;
        sflag = true;
        break;
      }
      case 'v':
        f.verbose = true;
        break;
      default:
        return print_usage("read");
    }
  }
  if (optind != static_cast<int>(a.size()) - 2) return print_usage("read");
  auto offset = parse_number(a[optind]);
  if (!offset) return -EINVAL;
  auto count = parse_number(a[optind + 1]);
  if (!count) return -EINVAL;
  if (*count > kMaxRequest) {
    std::printf("length cannot exceed %" PRId64 ", given %s\n", kMaxRequest, a[optind + 1]);
    return -EINVAL;
  }
  if (f.pattern < 0 && (lflag || sflag)) return print_usage("read");
  if (!lflag) pattern_count = *count - pattern_offset;
  if (pattern_count < 0 || pattern_count + pattern_offset > *count) {
    std::printf("pattern verification range exceeds end of read data\n");
    return -EINVAL;
  }
  Buffer buf(static_cast<size_t>(*count));
  Stopwatch clock;
  auto r = block::read_sync(*s.device, *offset, buf.data(), buf.size());
  Elapsed t = clock.elapsed();
  if (!r) {
    std::printf("read failed: %s\n", error_text(r.error()));
    return -EIO;
  }
  int ret = 0;
  if (f.pattern >= 0 && !matches_pattern(buf.data() + pattern_offset, pattern_count, f.pattern)) {
    std::printf("Pattern verification failed at offset %" PRId64 ", %" PRId64 " bytes\n",
                *offset + pattern_offset, pattern_count);
    ret = -EINVAL;
  }
  if (f.quiet) return ret;
  if (f.verbose) dump_buffer(buf.data(), *offset, *count);
  print_report("read", t, *offset, *count, *count, 1, f.csv);
  return ret;
}

int readv_cmd(IoSession& s, Args& a) {
  Flags f;
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "CP:qv")) != -1;) {
    switch (c) {
      case 'C':
        f.csv = true;
        break;
      case 'P': {
        auto p = parse_pattern(optarg);
        if (!p) return -EINVAL;
        f.pattern = *p;
        break;
      }
      case 'q':
        f.quiet = true;
        break;
      case 'v':
        f.verbose = true;
        break;
      default:
        return print_usage("readv");
    }
  }
  if (optind > static_cast<int>(a.size()) - 2) return print_usage("readv");
  int64_t offset = 0, total = 0;
  std::vector<int64_t> lens;
  if (!parse_vector(a, optind, &offset, &lens, &total)) return -EINVAL;
  Buffer buf(static_cast<size_t>(total));
  auto iov = split(buf, lens);
  Stopwatch clock;
  auto r = block::readv_sync(*s.device, offset, iov.data(), static_cast<int>(iov.size()));
  Elapsed t = clock.elapsed();
  if (!r) {
    std::printf("readv failed: %s\n", error_text(r.error()));
    return -EIO;
  }
  int ret = 0;
  if (f.pattern >= 0 && !matches_pattern(buf.data(), total, f.pattern)) {
    std::printf("Pattern verification failed at offset %" PRId64 ", %" PRId64 " bytes\n", offset,
                total);
    ret = -EINVAL;
  }
  if (f.quiet) return ret;
  if (f.verbose) dump_buffer(buf.data(), offset, total);
  print_report("read", t, offset, total, total, 1, f.csv);
  return ret;
}

int write_cmd(IoSession& s, Args& a) {
  Flags f;
  bool no_fallback = false;
  const char* source = nullptr;
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "bcCfnpP:qs:uz")) != -1;) {
    switch (c) {
      case 'b':
        std::printf("write failed: %s\n", std::strerror(ENOTSUP));
        return -ENOTSUP;
      case 'c':
        f.compressed = true;
        break;
      case 'C':
        f.csv = true;
        break;
      case 'f':
        f.fua = true;
        break;
      case 'n':
        no_fallback = true;
        break;
      case 'p':
        break;
      case 'P': {
        auto p = parse_pattern(optarg);
        if (!p) return -EINVAL;
        f.pattern = *p;
        break;
      }
      case 'q':
        f.quiet = true;
        break;
      case 's':
        source = optarg;
        break;
      case 'u':
        f.unmap = true;
        break;
      case 'z':
        f.zero = true;
        break;
      default:
        return print_usage("write");
    }
  }
  if (optind != static_cast<int>(a.size()) - 2) return print_usage("write");
  if (int(f.zero) + int(f.pattern >= 0) + int(source != nullptr) > 1) {
    std::printf("Only one of -z, -P, and -s can be specified at the same time\n");
    return -EINVAL;
  }
  if (f.unmap && !f.zero) {
    std::printf("-u requires -z to be specified\n");
    return -EINVAL;
  }
  if (no_fallback && !f.zero) {
    std::printf("-n requires -z to be specified\n");
    return -EINVAL;
  }
  if (f.compressed && f.zero) {
    std::printf("Cannot use -c with -z\n");
    return -EINVAL;
  }
  auto offset = parse_number(a[optind]);
  if (!offset) return -EINVAL;
  auto count = parse_number(a[optind + 1]);
  if (!count) return -EINVAL;
  if (*count > kMaxRequest) {
    std::printf("length cannot exceed %" PRId64 ", given %s\n", kMaxRequest, a[optind + 1]);
    return -EINVAL;
  }
  Buffer buf(f.zero ? 0 : static_cast<size_t>(*count), f.pattern >= 0 ? f.pattern : 0xcd);
  if (source != nullptr) {
    std::ifstream in(source, std::ios::binary);
    if (!in) {
      std::printf("Failed to open file '%s': %s\n", source, std::strerror(errno));
      return -EINVAL;
    }
    in.read(reinterpret_cast<char*>(buf.data()), *count);
    if (in.gcount() != *count) {
      std::printf("Failed to read file '%s'\n", source);
      return -EINVAL;
    }
  }
  Stopwatch clock;
  Result<> r;
  if (f.zero) {
    r = block::write_zeroes_sync(*s.device, *offset, *count, f.unmap);
  } else if (f.compressed) {
    r = block::write_compressed_sync(*s.device, *offset, buf.data(), buf.size());
  } else {
    r = block::write_sync(*s.device, *offset, buf.data(), buf.size());
  }
  if (r && f.fua) r = block::flush_sync(*s.device);
  Elapsed t = clock.elapsed();
  if (!r) {
    std::printf("write failed: %s\n", error_text(r.error()));
    return -EIO;
  }
  if (f.quiet) return 0;
  print_report("wrote", t, *offset, *count, *count, 1, f.csv);
  return 0;
}

int writev_cmd(IoSession& s, Args& a) {
  Flags f;
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "CfqP:")) != -1;) {
    switch (c) {
      case 'C':
        f.csv = true;
        break;
      case 'f':
        f.fua = true;
        break;
      case 'q':
        f.quiet = true;
        break;
      case 'P': {
        auto p = parse_pattern(optarg);
        if (!p) return -EINVAL;
        f.pattern = *p;
        break;
      }
      default:
        return print_usage("writev");
    }
  }
  if (optind > static_cast<int>(a.size()) - 2) return print_usage("writev");
  int64_t offset = 0, total = 0;
  std::vector<int64_t> lens;
  if (!parse_vector(a, optind, &offset, &lens, &total)) return -EINVAL;
  Buffer buf(static_cast<size_t>(total), f.pattern >= 0 ? f.pattern : 0xcd);
  auto iov = split(buf, lens);
  Stopwatch clock;
  auto r = block::writev_sync(*s.device, offset, iov.data(), static_cast<int>(iov.size()));
  if (r && f.fua) r = block::flush_sync(*s.device);
  Elapsed t = clock.elapsed();
  if (!r) {
    std::printf("writev failed: %s\n", error_text(r.error()));
    return -EIO;
  }
  if (f.quiet) return 0;
  print_report("wrote", t, offset, total, total, 1, f.csv);
  return 0;
}

namespace {

// Prints the outcome of a finished aio request, as qemu-io's completion callbacks do.
void aio_done(AioRequest& rq, const Result<>& r) {
  Elapsed t = rq.clock.elapsed();
  if (!r) {
    std::printf("%s failed: %s\n", rq.write ? "aio_write" : "readv", error_text(r.error()));
    return;
  }
  if (!rq.write && rq.flags.pattern >= 0 &&
      !matches_pattern(rq.buf->data(), rq.total, rq.flags.pattern)) {
    std::printf("Pattern verification failed at offset %" PRId64 ", %" PRId64 " bytes\n", rq.offset,
                rq.total);
  }
  if (rq.flags.quiet) return;
  if (!rq.write && rq.flags.verbose) dump_buffer(rq.buf->data(), rq.offset, rq.total);
  print_report(rq.write ? "wrote" : "read", t, rq.offset, rq.total, rq.total, 1, rq.flags.csv);
}

int submit_aio(IoSession& s, std::unique_ptr<AioRequest> owned) {
  AioRequest* rq = owned.get();
  s.aio.push_back(std::move(owned));
  auto it = std::prev(s.aio.end());
  auto done = [&s, rq, it](Result<> r) {
    if (rq->write && rq->flags.fua && r) {
      s.device->flush([&s, rq, it](Result<> fr) {
        aio_done(*rq, fr);
        s.aio.erase(it);
      });
      return;
    }
    aio_done(*rq, r);
    s.aio.erase(it);
  };
  if (!rq->write) {
    s.device->read(rq->offset, rq->iov.data(), static_cast<int>(rq->iov.size()), done);
  } else if (rq->flags.zero) {
    s.device->write_zeroes(rq->offset, rq->total, rq->flags.unmap, done);
  } else {
    s.device->write(rq->offset, rq->iov.data(), static_cast<int>(rq->iov.size()), done);
  }
  if (auto* engine = s.device->io_engine()) engine->submit();
  return 0;
}

}  // namespace

int aio_read_cmd(IoSession& s, Args& a) {
  auto rq = std::make_unique<AioRequest>();
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "CiP:qv")) != -1;) {
    switch (c) {
      case 'C':
        rq->flags.csv = true;
        break;
      case 'i':
        rq->flags.invalid = true;
        break;
      case 'P': {
        auto p = parse_pattern(optarg);
        if (!p) return -EINVAL;
        rq->flags.pattern = *p;
        break;
      }
      case 'q':
        rq->flags.quiet = true;
        break;
      case 'v':
        rq->flags.verbose = true;
        break;
      default:
        return print_usage("aio_read");
    }
  }
  if (optind > static_cast<int>(a.size()) - 2) return print_usage("aio_read");
  std::vector<int64_t> lens;
  if (!parse_vector(a, optind, &rq->offset, &lens, &rq->total)) return -EINVAL;
  // -i only exercises QEMU's accounting of invalid requests; nothing is submitted.
  if (rq->flags.invalid) return 0;
  rq->buf = std::make_unique<Buffer>(static_cast<size_t>(rq->total));
  rq->iov = split(*rq->buf, lens);
  return submit_aio(s, std::move(rq));
}

int aio_write_cmd(IoSession& s, Args& a) {
  auto rq = std::make_unique<AioRequest>();
  rq->write = true;
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "CfiqP:uz")) != -1;) {
    switch (c) {
      case 'C':
        rq->flags.csv = true;
        break;
      case 'f':
        rq->flags.fua = true;
        break;
      case 'i':
        rq->flags.invalid = true;
        break;
      case 'q':
        rq->flags.quiet = true;
        break;
      case 'P': {
        auto p = parse_pattern(optarg);
        if (!p) return -EINVAL;
        rq->flags.pattern = *p;
        break;
      }
      case 'u':
        rq->flags.unmap = true;
        break;
      case 'z':
        rq->flags.zero = true;
        break;
      default:
        return print_usage("aio_write");
    }
  }
  if (optind > static_cast<int>(a.size()) - 2) return print_usage("aio_write");
  if (rq->flags.zero && rq->flags.pattern >= 0) {
    std::printf("-P and -z cannot be specified at the same time\n");
    return -EINVAL;
  }
  if (rq->flags.unmap && !rq->flags.zero) {
    std::printf("-u requires -z to be specified\n");
    return -EINVAL;
  }
  std::vector<int64_t> lens;
  if (!parse_vector(a, optind, &rq->offset, &lens, &rq->total)) return -EINVAL;
  if (rq->flags.invalid) return 0;
  int fill = rq->flags.pattern >= 0 ? rq->flags.pattern : 0xcd;
  rq->buf = std::make_unique<Buffer>(static_cast<size_t>(rq->total), fill);
  rq->iov = split(*rq->buf, lens);
  return submit_aio(s, std::move(rq));
}

void drain_aio(IoSession& s) {
  while (!s.aio.empty() && s.device) {
    auto* engine = s.device->io_engine();
    if (engine == nullptr) break;
    if (engine->poll(true) == 0 && engine->in_flight() == 0) break;
  }
}

int discard_cmd(IoSession& s, Args& a) {
  Flags f;
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "Cq")) != -1;) {
    switch (c) {
      case 'C':
        f.csv = true;
        break;
      case 'q':
        f.quiet = true;
        break;
      default:
        return print_usage("discard");
    }
  }
  if (optind != static_cast<int>(a.size()) - 2) return print_usage("discard");
  auto offset = parse_number(a[optind]);
  if (!offset) return -EINVAL;
  auto count = parse_number(a[optind + 1]);
  if (!count) return -EINVAL;
  if (*count > kMaxRequest) {
    std::printf("length cannot exceed %" PRId64 ", given %s\n", kMaxRequest, a[optind + 1]);
    return -EINVAL;
  }
  Stopwatch clock;
  auto r = block::discard_sync(*s.device, *offset, *count);
  Elapsed t = clock.elapsed();
  if (!r) {
    std::printf("discard failed: %s\n", error_text(r.error()));
    return -EIO;
  }
  if (f.quiet) return 0;
  print_report("discard", t, *offset, *count, *count, 1, f.csv);
  return 0;
}

}  // namespace corvid::io
