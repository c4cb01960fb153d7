// The synchronous data commands of qemu-io: read, readv, write, writev, discard.
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
#include "tools/io/io_request.h"

namespace corvid::io {
namespace {

// The end of read and readv: the pattern check of [pattern_offset, +pattern_count), the
// hexdump (-v) and the report.
int finish_read(const Flags& f, const Elapsed& t, const uint8_t* buf, int64_t offset, int64_t count,
                int64_t pattern_offset, int64_t pattern_count) {
  int ret = verify_pattern(buf + pattern_offset, offset + pattern_offset, pattern_count, f.pattern)
                ? 0
                : -EINVAL;
  if (f.quiet) return ret;
  if (f.verbose) dump_buffer(buf, offset, count);
  print_report("read", t, offset, count, count, 1, f.csv);
  return ret;
}

int finish_write(const Flags& f, const Elapsed& t, const char* op, int64_t offset, int64_t count) {
  if (!f.quiet) print_report(op, t, offset, count, count, 1, f.csv);
  return 0;
}

}  // namespace

int read_cmd(IoSession& s, Args& a) {
  Flags f;
  bool lflag = false, sflag = false;
  int64_t pattern_offset = 0, pattern_count = 0;
  int e = parse_flags(a, "read", "bCl:pP:qs:v", &f, [&](int c) -> int {
    if (c == 'b') {
      std::printf("read failed: %s\n", std::strerror(ENOTSUP));
      return -ENOTSUP;
    }
    auto n = parse_number(optarg);
    if (!n) return -EINVAL;
    (c == 'l' ? pattern_count : pattern_offset) = *n;
    (c == 'l' ? lflag : sflag) = true;
    return 0;
  });
  if (e) return e;
  if (optind != static_cast<int>(a.size()) - 2) return print_usage("read");
  int64_t offset = 0, count = 0;
  if (!parse_offset_length(a, optind, &offset, &count)) return -EINVAL;
  if (f.pattern < 0 && (lflag || sflag)) return print_usage("read");
  if (!lflag) pattern_count = count - pattern_offset;
  if (pattern_count < 0 || pattern_count + pattern_offset > count) {
    std::printf("pattern verification range exceeds end of read data\n");
    return -EINVAL;
  }
  Buffer buf(static_cast<size_t>(count));
  auto t = timed_request(
      "read", [&] { return block::read_sync(*s.device, offset, buf.data(), buf.size()); });
  if (!t) return -EIO;
  return finish_read(f, *t, buf.data(), offset, count, pattern_offset, pattern_count);
}

int readv_cmd(IoSession& s, Args& a) {
  Flags f;
  if (int e = parse_flags(a, "readv", "CP:qv", &f)) return e;
  if (optind > static_cast<int>(a.size()) - 2) return print_usage("readv");
  int64_t offset = 0, total = 0;
  std::vector<int64_t> lens;
  if (!parse_vector(a, optind, &offset, &lens, &total)) return -EINVAL;
  Buffer buf(static_cast<size_t>(total));
  auto iov = split(buf, lens);
  auto t = timed_request("readv", [&] {
    return block::readv_sync(*s.device, offset, iov.data(), static_cast<int>(iov.size()));
  });
  if (!t) return -EIO;
  return finish_read(f, *t, buf.data(), offset, total, 0, total);
}

int write_cmd(IoSession& s, Args& a) {
  Flags f;
  bool no_fallback = false;
  const char* source = nullptr;
  int e = parse_flags(a, "write", "bcCfnpP:qs:uz", &f, [&](int c) -> int {
    if (c == 'b') {
      std::printf("write failed: %s\n", std::strerror(ENOTSUP));
      return -ENOTSUP;
    }
    if (c == 'n') no_fallback = true;
    if (c == 's') source = optarg;
    return 0;
  });
  if (e) return e;
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
  int64_t offset = 0, count = 0;
  if (!parse_offset_length(a, optind, &offset, &count)) return -EINVAL;
  Buffer buf(f.zero ? 0 : static_cast<size_t>(count), f.pattern >= 0 ? f.pattern : 0xcd);
  if (source != nullptr) {
    std::ifstream in(source, std::ios::binary);
    if (!in) {
      std::printf("Failed to open file '%s': %s\n", source, std::strerror(errno));
      return -EINVAL;
    }
    in.read(reinterpret_cast<char*>(buf.data()), count);
    if (in.gcount() != count) {
      std::printf("Failed to read file '%s'\n", source);
      return -EINVAL;
    }
  }
  auto t = timed_request("write", [&] {
    Result<> r;
    if (f.zero) {
      r = block::write_zeroes_sync(*s.device, offset, count, f.unmap);
    } else if (f.compressed) {
      r = block::write_compressed_sync(*s.device, offset, buf.data(), buf.size());
    } else {
      r = block::write_sync(*s.device, offset, buf.data(), buf.size());
    }
    if (r && f.fua) r = block::flush_sync(*s.device);
    return r;
  });
  if (!t) return -EIO;
  return finish_write(f, *t, "wrote", offset, count);
}

int writev_cmd(IoSession& s, Args& a) {
  Flags f;
  if (int e = parse_flags(a, "writev", "CfqP:", &f)) return e;
  if (optind > static_cast<int>(a.size()) - 2) return print_usage("writev");
  int64_t offset = 0, total = 0;
  std::vector<int64_t> lens;
  if (!parse_vector(a, optind, &offset, &lens, &total)) return -EINVAL;
  Buffer buf(static_cast<size_t>(total), f.pattern >= 0 ? f.pattern : 0xcd);
  auto iov = split(buf, lens);
  auto t = timed_request("writev", [&] {
    auto r = block::writev_sync(*s.device, offset, iov.data(), static_cast<int>(iov.size()));
    if (r && f.fua) r = block::flush_sync(*s.device);
    return r;
  });
  if (!t) return -EIO;
  return finish_write(f, *t, "wrote", offset, total);
}

int discard_cmd(IoSession& s, Args& a) {
  Flags f;
  if (int e = parse_flags(a, "discard", "Cq", &f)) return e;
  if (optind != static_cast<int>(a.size()) - 2) return print_usage("discard");
  int64_t offset = 0, count = 0;
  if (!parse_offset_length(a, optind, &offset, &count)) return -EINVAL;
  auto t = timed_request("discard", [&] { return block::discard_sync(*s.device, offset, count); });
  if (!t) return -EIO;
  return finish_write(f, *t, "discard", offset, count);
}

}  // namespace corvid::io
