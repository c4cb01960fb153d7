// The synchronous data commands of qemu-io: read, readv, write, writev, discard.
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
#include "tools/io/io_request.h"

namespace corvid::io {

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
  int64_t offset_value = 0, count_value = 0;
  if (!parse_offset_length(a, optind, &offset_value, &count_value)) return -EINVAL;
  const int64_t* offset = &offset_value;
  const int64_t* count = &count_value;
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
  int64_t offset_value = 0, count_value = 0;
  if (!parse_offset_length(a, optind, &offset_value, &count_value)) return -EINVAL;
  const int64_t* offset = &offset_value;
  const int64_t* count = &count_value;
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
  int64_t offset_value = 0, count_value = 0;
  if (!parse_offset_length(a, optind, &offset_value, &count_value)) return -EINVAL;
  const int64_t* offset = &offset_value;
  const int64_t* count = &count_value;
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
