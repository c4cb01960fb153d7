// corvid-img convert: copies the guest-visible contents of one or more images (concatenated)
// into a new or existing (-n) image, leaving zero ranges unallocated (-S, default 4 KiB).
#include <getopt.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "base/size.h"
#include "block/image.h"
#include "block/sync_io.h"
#include "tools/img/img_common.h"
#include "tools/img/img_options.h"

namespace corvid::img {
namespace {

constexpr uint64_t kChunk = 2 << 20;

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) { print(0); }
  void update(double percent) {
    if (percent - last_ >= 1.0 || percent >= 100.0) print(percent);
  }
  void finish() {
    print(100.0);
    if (enabled_) std::printf("\n");
  }

 private:
  void print(double percent) {
    last_ = percent;
    if (!enabled_) return;
    std::printf("    (%3.2f/100%%)\r", percent);
    std::fflush(stdout);
  }
  bool enabled_;
  double last_ = 0;
};

bool all_zero(const uint8_t* p, uint64_t len) {
  for (uint64_t i = 0; i < len; ++i)
    if (p[i] != 0) return false;
  return true;
}

// Writes buf to dst at off, skipping (or zeroing, on an existing target) zero runs of at least
// `sparse` bytes that are aligned to it.
Result<> write_sparse(block::BlockDevice& dst, uint64_t off, const uint8_t* buf, uint64_t len,
                      uint64_t sparse, bool target_is_new) {
  if (sparse == 0) return block::write_sync(dst, off, buf, len);
  uint64_t pos = 0;
  while (pos < len) {
    uint64_t block_end = std::min(len, (off + pos) / sparse * sparse + sparse - off);
    bool zero = all_zero(buf + pos, block_end - pos);
    uint64_t run = block_end;
    while (run < len) {
      uint64_t next = std::min(len, run + sparse);
      if (all_zero(buf + run, next - run) != zero) break;
      run = next;
    }
    if (!zero) {
      CORVID_TRY_VOID(block::write_sync(dst, off + pos, buf + pos, run - pos));
    } else if (!target_is_new) {
      CORVID_TRY_VOID(block::write_zeroes_sync(dst, off + pos, run - pos, true));
    }
    pos = run;
  }
  return {};
}

// Reads [off, off + len) of the sources laid end to end.
Result<> read_sources(const std::vector<std::unique_ptr<block::BlockDevice>>& sources, uint64_t off,
                      uint8_t* buf, uint64_t len) {
  uint64_t base = 0;
  for (const auto& src : sources) {
    uint64_t end = base + src->size();
    if (len > 0 && off < end) {
      uint64_t n = std::min(len, end - off);
      CORVID_TRY_VOID(block::read_sync(*src, off - base, buf, n));
      off += n;
      buf += n;
      len -= n;
    }
    base = end;
  }
  return {};
}

// convert -c: every target cluster holding non-zero data is written compressed; zero clusters
// stay unallocated (or are zeroed on an existing target), unless -S 0 asks for every cluster.
Result<> copy_compressed(const std::vector<std::unique_ptr<block::BlockDevice>>& sources,
                         block::BlockDevice& dst, bool target_is_new, bool write_zero_clusters,
                         uint64_t total, Progress& bar) {
  uint64_t cs = block::cluster_size_of(dst).value_or(65536);
  std::vector<uint8_t> buf(cs);
  for (uint64_t off = 0; off < total; off += cs) {
    uint64_t n = std::min(cs, total - off);
    auto r = read_sources(sources, off, buf.data(), n);
    if (!r)
      return errorf(r.error().code, "error while reading at byte {}: {}", off,
                    error_text(r.error()));
    if (!write_zero_clusters && all_zero(buf.data(), n)) {
      if (!target_is_new) CORVID_TRY_VOID(block::write_zeroes_sync(dst, off, n, true));
    } else {
      r = block::write_compressed_sync(dst, off, buf.data(), n);
      if (!r)
        return errorf(r.error().code, "error while compressing sector {}: {}", off / 512,
                      error_text(r.error()));
    }
    bar.update(100.0 * static_cast<double>(off + n) / static_cast<double>(total));
  }
  return {};
}

}  // namespace

int cmd_convert(int argc, char** argv) {
  enum { kImageOpts = 256, kTargetImageOpts, kObject, kSalvage, kTargetIsZero, kBitmaps };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, kObject},
                                 {"image-opts", no_argument, nullptr, kImageOpts},
                                 {"target-image-opts", no_argument, nullptr, kTargetImageOpts},
                                 {"salvage", no_argument, nullptr, kSalvage},
                                 {"target-is-zero", no_argument, nullptr, kTargetIsZero},
                                 {"bitmaps", no_argument, nullptr, kBitmaps},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt, out_fmt = "raw", backing, backing_fmt;
  std::vector<std::string> option_args;
  bool compress = false, progress = false, no_create = false, quiet = false;
  uint64_t sparse = 4096;
  block::CacheMode src_cache = block::CacheMode::kWriteback, dst_cache = block::CacheMode::kUnsafe;
  optind = 0;
  opterr = 0;
  for (int c;
       (c = getopt_long(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:", kLong, nullptr)) != -1;) {
    switch (c) {
      case 'f':
        fmt = optarg;
        break;
      case 'O':
        out_fmt = optarg;
        break;
      case 'c':
        compress = true;
        break;
      case 'o':
        option_args.push_back(optarg);
        break;
      case 'p':
        progress = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'n':
        no_create = true;
        break;
      case 'S': {
        auto n = parse_size(optarg);
        if (!n || *n % 512 != 0) {
          report(
              "Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 "
              "up to 2097152.");
          return 1;
        }
        sparse = *n;
        break;
      }
      case 't':
        if (!parse_cache(optarg, &dst_cache)) return 1;
        break;
      case 'T':
        if (!parse_cache(optarg, &src_cache, CacheKind::kSource)) return 1;
        break;
      case 'm':
      case 'W':
      case 'U':
      case 'r':
      case kTargetIsZero:
        break;
      case 'h':
        return usage_error(
            "convert [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-o "
            "options] [-S sparse_size] filename [filename2 [...]] output_filename");
      case 'B':
        backing = optarg;
        break;
      case 'F':
        backing_fmt = optarg;
        break;
      case 'l':
      case 'C':
      case kImageOpts:
      case kTargetImageOpts:
      case kObject:
      case kSalvage:
      case kBitmaps:
        return usage_error("option '{}' is not supported by corvid-img convert", argv[optind - 1]);
      default:
        return bad_option(c, argv);
    }
  }
  if (quiet) progress = false;
  if (no_create && !option_args.empty()) {
    report("-o has no effect when skipping image creation");
    return 1;
  }
  if (argc - optind < 2) {
    report("Must specify image file name");
    return 1;
  }
  if (out_fmt != "raw" && out_fmt != "qcow2") {
    report("Unknown file format '{}'", out_fmt);
    return 1;
  }
  if (compress && out_fmt != "qcow2") {
    report("Compression not supported for this file format");
    return 1;
  }
  std::string out_path = argv[argc - 1];
  std::vector<std::unique_ptr<block::BlockDevice>> sources;
  uint64_t total = 0;
  for (int i = optind; i < argc - 1; ++i) {
    block::OpenOptions o;
    o.read_only = true;
    o.format = fmt;
    o.cache = src_cache;
    auto dev = open_or_report(argv[i], o);
    if (!dev) return 1;
    total += dev->size();
    sources.push_back(std::move(dev));
  }
  std::map<std::string, std::string> options;
  for (const auto& arg : option_args) {
    auto r = parse_option_string(arg, &options);
    if (!r) {
      report("{}", r.error().message);
      return 1;
    }
  }
  // -B/-F are the old spelling of -o backing_file/backing_fmt (the -o values win).
  if (!backing.empty() && !options.count("backing_file")) options["backing_file"] = backing;
  if (!backing_fmt.empty() && !options.count("backing_fmt")) options["backing_fmt"] = backing_fmt;
  const bool target_has_backing = !no_create && options.count("backing_file") != 0;
  if (target_has_backing && sources.size() > 1) {
    report(
        "Having a backing file for the target makes no sense when concatenating multiple input "
        "images");
    return 1;
  }
  if (target_has_backing && !options.count("backing_fmt")) {
    report("Use of backing file requires explicit backing format");
    return 1;
  }
  if (!no_create && !check_create_options(out_fmt, "", &options)) return 1;
  if (!no_create) {
    block::CreateOptions co;
    co.format = out_fmt;
    co.size = total;
    co.options = options;
    auto r = block::create_image(out_path, co);
    if (!r) {
      report("{}: error while converting {}: {}", out_path, out_fmt, r.error().message);
      return 1;
    }
  }
  block::OpenOptions oo;
  oo.format = out_fmt;
  oo.cache = dst_cache;
  // With a backing file the target is opened with it: partial-cluster writes copy the rest of
  // the cluster from the backing file, which must show through everywhere else.
  // An existing target (-n) is opened as it is, backing file included: its unallocated
  // clusters do not read as zeroes when a backing file shows through.
  oo.no_backing = !target_has_backing && !no_create;
  auto dst = open_or_report(out_path, oo);
  if (!dst) return 1;
  if (no_create && dst->size() < total) {
    report("output file is smaller than input file");
    return 1;
  }
  Progress bar(progress);
  // A new image reads as zeroes (zero runs may stay unallocated) unless it has a backing file.
  const bool zero_init = !no_create && !target_has_backing;
  if (compress) {
    auto r = copy_compressed(sources, *dst, zero_init, sparse == 0, total, bar);
    if (!r) {
      report("{}", r.error().message);
      return 1;
    }
    auto c = dst->close();
    if (!c) {
      report("{}", c.error().to_string());
      return 1;
    }
    bar.finish();
    return 0;
  }
  std::vector<uint8_t> buf(kChunk);
  uint64_t dst_off = 0, done = 0;
  for (auto& src : sources) {
    for (uint64_t off = 0; off < src->size();) {
      auto st = block::block_status(*src, off, std::min(kChunk, src->size() - off));
      if (!st || st->length == 0) {
        report("error while reading block status at offset {}: {}", off,
               st ? "end of image" : st.error().to_string());
        return 1;
      }
      uint64_t n = std::min<uint64_t>(st->length, kChunk);
      n = std::min(n, src->size() - off);
      // With a backing file on the target only what the source's top layer holds is copied
      // (qemu-img convert -B); the rest reads through the target's backing file.
      if (target_has_backing && !(st->allocated && st->depth == 0)) {
        off += n;
        done += n;
        continue;
      }
      // -S 0 asks for every cluster to be written, zeroes included.
      bool copy = st->data || sparse == 0;
      if (copy || zero_init) {
        if (copy) {
          auto r = block::read_sync(*src, off, buf.data(), n);
          if (!r) {
            report("error while reading at byte {}: {}", off, error_text(r.error()));
            return 1;
          }
          r = write_sparse(*dst, dst_off + off, buf.data(), n, sparse, zero_init);
          if (!r) {
            report("error while writing at byte {}: {}", dst_off + off, error_text(r.error()));
            return 1;
          }
        }
      } else {
        auto r = block::write_zeroes_sync(*dst, dst_off + off, n, true);
        if (!r) {
          report("error while writing at byte {}: {}", dst_off + off, error_text(r.error()));
          return 1;
        }
      }
      off += n;
      done += n;
      bar.update(total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0);
    }
    dst_off += src->size();
  }
  auto r = dst->close();
  if (!r) {
    report("{}", r.error().to_string());
    return 1;
  }
  bar.finish();
  return 0;
}

}  // namespace corvid::img
