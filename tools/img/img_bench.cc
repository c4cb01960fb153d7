// corvid-img bench: qemu-img bench's sequential I/O loop. `count` requests of `size` bytes, at
// most `depth` in flight, each next one `step` bytes further (modulo the image size); writes
// with -w, optionally with a flush whenever the number of requests not yet submitted is a
// multiple of the flush interval (after draining the queue unless --no-drain). Single-threaded:
// completions run from the engine's poll() and submit the next requests, as in qemu-img.
#include <getopt.h>
#include <sys/time.h>

#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/size.h"
#include "block/image.h"
#include "block/io_engine.h"
#include "tools/img/img_common.h"

namespace corvid::img {
namespace {

struct Bench {
  block::BlockDevice* dev = nullptr;
  bool write = false, drain = true;
  int64_t n = 75000;  // requests not yet completed
  int64_t depth = 64, in_flight = 0, flush_interval = 0;
  uint64_t size = 4096, step = 0, offset = 0, image_size = 0;
  bool in_flush = false, failed = false;
  std::vector<iovec> iov;  // one buffer per queue slot

  void completed(Result<> r);
};

void Bench::completed(Result<> r) {
  if (!r) {
    report("Failed request: {}", error_text(r.error()));
    failed = true;
    return;
  }
  if (in_flush) {
    in_flush = false;  // a drained flush finished: the queue refills below
  } else if (in_flight > 0) {
    int64_t unsubmitted = n - in_flight;
    --n;
    --in_flight;
    if (flush_interval != 0 && unsubmitted % flush_interval == 0) {
      if (in_flight == 0 || !drain) {
        in_flush = drain;
        dev->flush([this](Result<> fr) {
          if (in_flush) {
            completed(std::move(fr));
          } else if (!fr) {
            report("Failed flush request: {}", error_text(fr.error()));
            failed = true;
          }
        });
      }
      if (drain) return;
    }
  }
  while (n > in_flight && in_flight < depth) {
    uint64_t off = offset;
    iovec* v = &iov[static_cast<size_t>(n % depth)];
    ++in_flight;
    offset = (offset + step) % image_size;
    auto cb = [this](Result<> rr) { completed(std::move(rr)); };
    if (write) {
      dev->write(off, v, 1, cb);
    } else {
      dev->read(off, v, 1, cb);
    }
  }
}

bool parse_count(const char* text, int64_t min, int64_t* out) {
  char* end = nullptr;
  long long v = std::strtoll(text, &end, 0);
  if (end == text || *end != '\0' || v < min || v > INT32_MAX) return false;
  *out = v;
  return true;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  enum { kPattern = 256, kFlushInterval, kNoDrain, kImageOpts, kObject };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"flush-interval", required_argument, nullptr, kFlushInterval},
                                 {"image-opts", no_argument, nullptr, kImageOpts},
                                 {"pattern", required_argument, nullptr, kPattern},
                                 {"no-drain", no_argument, nullptr, kNoDrain},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {"object", required_argument, nullptr, kObject},
                                 {nullptr, 0, nullptr, 0}};
  Bench b;
  std::string fmt;
  block::OpenOptions o;
  bool quiet = false, have_step = false, native = false;
  int64_t pattern = 0;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", kLong, nullptr)) != -1;) {
    int64_t v = 0;
    switch (c) {
      case 'c':
        if (!parse_count(optarg, 0, &v)) return (report("Invalid request count specified"), 1);
        b.n = v;
        break;
      case 'd':
        if (!parse_count(optarg, 1, &v)) return (report("Invalid queue depth specified"), 1);
        b.depth = v;
        break;
      case 'f':
        o.format = optarg;
        break;
      case 'n':
        native = true;
        break;
      case 'i':
        if (!parse_aio(optarg, &o.aio)) return 1;
        native = std::strcmp(optarg, "native") == 0;
        break;
      case 'o': {
        auto s = parse_size(optarg);
        if (!s) return (report("Invalid offset specified"), 1);
        b.offset = *s;
        break;
      }
      case 'q':
        quiet = true;
        break;
      case 's': {
        auto s = parse_size(optarg);
        if (!s || *s > INT32_MAX) return (report("Invalid buffer size specified"), 1);
        b.size = *s;
        break;
      }
      case 'S': {
        auto s = parse_size(optarg);
        if (!s || *s > INT32_MAX) return (report("Invalid step size specified"), 1);
        b.step = *s;
        have_step = true;
        break;
      }
      case 't':
        if (!parse_cache(optarg, &o.cache, CacheKind::kBench)) return 1;
        break;
      case 'w':
        b.write = true;
        break;
      case 'U':
        break;
      case kPattern:
        if (!parse_count(optarg, 0, &pattern) || pattern > 0xff)
          return (report("Invalid pattern byte specified"), 1);
        break;
      case kFlushInterval:
        if (!parse_count(optarg, 0, &v)) return (report("Invalid flush interval specified"), 1);
        b.flush_interval = v;
        break;
      case kNoDrain:
        b.drain = false;
        break;
      case 'h':
        return usage_error(
            "bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] "
            "[--no-drain] [-o offset] [--pattern=pattern_byte] [-q] [-s buffer_size] [-S "
            "step_size] [-t cache] [-w] [-U] filename");
      case kImageOpts:
      case kObject:
        return usage_error("option '{}' is not supported", argv[optind - 1]);
      default:
        return bad_option(c, argv);
    }
  }
  (void)quiet;  // qemu-img bench prints its lines with printf, so -q silences nothing
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  if (b.flush_interval != 0 && !b.write)
    return (report("--flush-interval is only available in write tests"), 1);
  if (b.flush_interval != 0 && b.flush_interval < b.depth)
    return (report("Flush interval can't be smaller than depth"), 1);
  if (!have_step) b.step = b.size;
  o.read_only = !b.write;
  if (native && o.cache != block::CacheMode::kNone && o.cache != block::CacheMode::kDirectSync) {
    report(
        "Could not open '{}': aio=native was specified, but it requires cache.direct=on, which was "
        "not specified.",
        argv[optind]);
    return 1;
  }
  auto dev = open_or_report(argv[optind], o);
  if (!dev) return 1;
  b.dev = dev.get();
  b.image_size = dev->size();
  if (b.image_size == 0) return (report("Image size must be non-zero"), 1);
  size_t total = static_cast<size_t>(b.size * b.depth);
  void* mem = std::aligned_alloc(4096, (total + 4095) / 4096 * 4096);
  std::unique_ptr<void, decltype(&std::free)> buf(mem, &std::free);
  std::memset(mem, static_cast<int>(pattern), total);
  for (int64_t i = 0; i < b.depth; ++i)
    b.iov.push_back(iovec{static_cast<uint8_t*>(mem) + i * b.size, b.size});

  std::printf("Sending %" PRId64 " %s requests, %" PRIu64 " bytes each, %" PRId64
              " in parallel (starting at offset %" PRIu64 ", step size %" PRIu64 ")\n",
              b.n, b.write ? "write" : "read", b.size, b.depth, b.offset, b.step);
  if (b.flush_interval != 0)
    std::printf("Sending flush every %" PRId64 " requests\n", b.flush_interval);
  timeval t1{}, t2{};
  gettimeofday(&t1, nullptr);
  b.completed(Result<>{});
  block::IoEngine* engine = dev->io_engine();
  while (b.n > 0 && !b.failed && engine != nullptr) {
    if (engine->poll(true) == 0 && engine->in_flight() == 0) break;
  }
  gettimeofday(&t2, nullptr);
  if (b.failed) return 1;
  std::printf("Run completed in %3.3f seconds.\n",
              static_cast<double>(t2.tv_sec - t1.tv_sec) +
                  static_cast<double>(t2.tv_usec - t1.tv_usec) / 1e6);
  auto r = dev->close();
  if (!r) {
    report("{}", r.error().to_string());
    return 1;
  }
  return 0;
}

}  // namespace corvid::img
