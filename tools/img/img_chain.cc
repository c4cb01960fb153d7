// corvid-img commit and rebase: the commands that move data between the layers of a backing
// chain and rewrite the backing file name.
#include <getopt.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "block/image.h"
#include "block/sync_io.h"
#include "tools/img/img_common.h"
#include "tools/img/img_options.h"

namespace corvid::img {
namespace {

constexpr uint64_t kChunk = 1 << 20;

// Whether two paths name the same existing file (realpath, as QEMU compares backing names).
bool same_file(const std::string& a, const std::string& b) {
  char ra[PATH_MAX], rb[PATH_MAX];
  if (::realpath(a.c_str(), ra) == nullptr || ::realpath(b.c_str(), rb) == nullptr) return false;
  return std::strcmp(ra, rb) == 0;
}

void progress(bool enabled, double percent) {
  if (!enabled) return;
  std::printf("    (%3.2f/100%%)\r", percent);
  std::fflush(stdout);
}

// Empties a committed overlay the way QEMU does for qcow2 without snapshots: the image is
// rewritten as a fresh one with the same geometry and backing file, so every cluster after the
// first four (header, refcount table, refcount block, L1) is released. With snapshots the
// clusters are discarded instead, keeping the snapshots' data.
Result<> make_empty(std::unique_ptr<block::BlockDevice>& top, const std::string& path) {
  auto info = CORVID_TRY(block::query_info(*top, path));
  if (info.format != "qcow2" || !info.snapshots.empty()) {
    return block::discard_sync(*top, 0, top->size());
  }
  CORVID_TRY_VOID(top->close());
  top.reset();
  block::CreateOptions co;
  co.format = "qcow2";
  co.size = info.virtual_size;
  co.options["cluster_size"] = std::to_string(info.cluster_size.value_or(65536));
  co.options["compat"] = info.compat;
  if (info.compat != "0.10") co.options["lazy_refcounts"] = info.lazy_refcounts ? "on" : "off";
  co.options["refcount_bits"] = std::to_string(info.refcount_bits);
  if (!info.backing_filename.empty()) {
    co.options["backing_file"] = info.backing_filename;
    if (!info.backing_format.empty()) co.options["backing_fmt"] = info.backing_format;
  }
  return block::create_image(path, co);
}

}  // namespace

int cmd_commit(int argc, char** argv) {
  enum { kImageOpts = 256, kObject };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, kObject},
                                 {"image-opts", no_argument, nullptr, kImageOpts},
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt, base_arg;
  bool quiet = false, drop = false, show_progress = false;
  block::OpenOptions o;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":f:ht:b:dpqr:", kLong, nullptr)) != -1;) {
    switch (c) {
      case 'f':
        fmt = optarg;
        break;
      case 't':
        if (!parse_cache(optarg, &o.cache)) return 1;
        break;
      case 'b':
        base_arg = optarg;
        drop = true;  // as in qemu-img: naming the base implies -d (the top is kept)
        break;
      case 'd':
        drop = true;
        break;
      case 'p':
        show_progress = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'r':
        break;
      case 'h':
        return usage_error("commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] filename");
      case kObject:
      case kImageOpts:
        return usage_error("option '{}' is not supported", argv[optind - 1]);
      default:
        return bad_option(c, argv);
    }
  }
  if (quiet) show_progress = false;
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  std::string path = argv[optind];
  o.format = fmt;
  auto top = open_or_report(path, o);
  if (!top) return 1;
  auto info = block::query_info(*top, path);
  if (!info) {
    report("{}", info.error().to_string());
    return 1;
  }
  if (info->backing_filename.empty()) {
    report("Image does not have a backing file");
    return 1;
  }
  // Walk the chain to the base: the immediate backing file unless -b names a deeper one.
  // As in QEMU, -b matches a layer by the name its overlay stores, or by the file it names
  // when resolved against the overlay's directory (so a cwd-relative path does not match).
  std::string base_path = info->full_backing_filename, base_fmt = info->backing_format;
  std::string stored_name = info->backing_filename, overlay_path = path;
  int base_depth = 1;
  while (!base_arg.empty() && base_arg != stored_name &&
         !same_file(base_path, resolve_backing_path(overlay_path, base_arg))) {
    block::OpenOptions lo;
    lo.read_only = true;
    lo.no_backing = true;
    lo.format = base_fmt;
    auto layer = block::open_image(base_path, lo);
    auto li = layer ? block::query_info(**layer, base_path)
                    : Result<block::ImageInfo>(tl::unexpected(layer.error()));
    if (!li || li->backing_filename.empty()) {
      report("Did not find '{}' in the backing chain of '{}'", base_arg, path);
      return 1;
    }
    overlay_path = base_path;
    stored_name = li->backing_filename;
    base_path = li->full_backing_filename;
    base_fmt = li->backing_format;
    ++base_depth;
  }
  block::OpenOptions bo;
  bo.format = base_fmt;
  bo.cache = o.cache;
  // The base is opened with its own backing file: writes to part of one of its clusters copy
  // the rest from there, and zeroes are only skipped where the base really reads as zero.
  auto base = open_or_report(base_path, bo);
  if (!base) return 1;

  progress(show_progress, 0);
  std::vector<uint8_t> buf(kChunk);
  uint64_t size = std::min(top->size(), base->size());
  for (uint64_t off = 0; off < size;) {
    auto st = block::block_status(*top, off, std::min(kChunk, size - off));
    if (!st || st->length == 0) {
      report("Could not read block status at offset {}", off);
      return 1;
    }
    uint64_t n = std::min<uint64_t>({st->length, kChunk, size - off});
    if (st->allocated && st->depth < base_depth) {
      Result<> r;
      if (st->zero && !st->data) {
        r = block::write_zeroes_sync(*base, off, n, true);  // may unmap, as QEMU's commit
      } else {
        r = block::read_sync(*top, off, buf.data(), n);
        if (r) r = block::write_sync(*base, off, buf.data(), n);
      }
      if (!r) {
        report("Block job failed: {}", error_text(r.error()));
        return 1;
      }
    }
    off += n;
    progress(show_progress, 100.0 * static_cast<double>(off) / static_cast<double>(size));
  }
  auto r = base->close();
  if (r && !drop) r = make_empty(top, path);
  if (r && top) r = top->close();
  if (!r) {
    report("{}", r.error().to_string());
    return 1;
  }
  progress(show_progress, 100);
  if (show_progress) std::printf("\n");
  if (!quiet) std::printf("Image committed.\n");
  return 0;
}

int cmd_rebase(int argc, char** argv) {
  enum { kImageOpts = 256, kObject };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, kObject},
                                 {"image-opts", no_argument, nullptr, kImageOpts},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt, backing, backing_fmt;
  bool have_backing = false, unsafe = false, show_progress = false, quiet = false;
  block::OpenOptions o;
  block::CacheMode src_cache = block::CacheMode::kWriteback;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":hf:F:b:upt:T:qUc", kLong, nullptr)) != -1;) {
    switch (c) {
      case 'f':
        fmt = optarg;
        break;
      case 'F':
        backing_fmt = optarg;
        break;
      case 'b':
        backing = optarg;
        have_backing = true;
        break;
      case 'u':
        unsafe = true;
        break;
      case 'p':
        show_progress = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 't':
        if (!parse_cache(optarg, &o.cache)) return 1;
        break;
      case 'T':
        if (!parse_cache(optarg, &src_cache, CacheKind::kSource)) return 1;
        break;
      case 'U':
        break;
      case 'c':
        return usage_error("option '-c' is not supported by corvid-img rebase");
      case 'h':
        return usage_error(
            "rebase [-f fmt] [-t cache] [-T src_cache] [-p] [-q] [-u] -b backing_file [-F "
            "backing_fmt] filename");
      case kObject:
      case kImageOpts:
        return usage_error("option '{}' is not supported", argv[optind - 1]);
      default:
        return bad_option(c, argv);
    }
  }
  if (quiet) show_progress = false;
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  if (!unsafe && !have_backing)
    return usage_error("Must specify backing file (-b) or use unsafe mode (-u)");
  std::string path = argv[optind];
  o.format = fmt;
  o.no_backing = unsafe;
  auto dev = open_or_report(path, o);
  if (!dev) return 1;

  if (unsafe && !backing.empty() && backing_fmt.empty()) {
    report("Could not change the backing file to '{}': backing format must be specified",
           backing);
    return 1;
  }
  std::unique_ptr<block::BlockDevice> new_backing;
  if (!backing.empty()) {
    block::OpenOptions no;
    no.read_only = true;
    no.format = backing_fmt;
    no.cache = src_cache;
    std::string resolved = resolve_backing_path(path, backing);
    auto nb = block::open_image(resolved, no);
    if (nb) {
      // Safe mode takes the format of the new backing file it opened; -u does not probe
      // (qemu-img then requires -F, see below).
      if (backing_fmt.empty() && !unsafe) backing_fmt = (*nb)->format_name();
      new_backing = std::move(*nb);
    } else if (!unsafe) {
      report("Could not open new backing file '{}': {}", resolved, open_error_text(nb.error()));
      return 1;
    }
  }
  if (!unsafe) {
    auto info = block::query_info(*dev, path);
    if (!info) {
      report("{}", info.error().to_string());
      return 1;
    }
    std::unique_ptr<block::BlockDevice> old_backing;
    if (!info->backing_filename.empty()) {
      block::OpenOptions oo;
      oo.read_only = true;
      oo.format = info->backing_format;
      oo.cache = src_cache;
      old_backing = open_or_report(info->full_backing_filename, oo);
      if (!old_backing) return 1;
    }
    // Wherever the image itself has no data, what it showed through the old backing file must
    // stay visible: copy in every 512-byte sector on which old and new backing files differ.
    std::vector<uint8_t> a(kChunk), b(kChunk);
    uint64_t size = dev->size();
    progress(show_progress, 0);
    for (uint64_t off = 0; off < size;) {
      auto st = block::block_status(*dev, off, std::min(kChunk, size - off));
      if (!st || st->length == 0) {
        report("error while reading image metadata: {}",
               st ? "end of image" : st.error().to_string());
        return 1;
      }
      uint64_t n = std::min<uint64_t>({st->length, kChunk, size - off});
      if (!(st->allocated && st->depth == 0)) {
        auto read_layer = [&](block::BlockDevice* layer, uint8_t* buf) -> Result<> {
          std::memset(buf, 0, n);
          if (layer == nullptr || off >= layer->size()) return {};
          return block::read_sync(*layer, off, buf, std::min(n, layer->size() - off));
        };
        auto r = read_layer(old_backing.get(), a.data());
        if (r) r = read_layer(new_backing.get(), b.data());
        for (uint64_t s = 0; r && s < n;) {
          uint64_t len = std::min<uint64_t>(512, n - s);
          if (std::memcmp(a.data() + s, b.data() + s, len) == 0) {
            s += len;
            continue;
          }
          uint64_t e = s + len;
          while (e < n &&
                 std::memcmp(a.data() + e, b.data() + e, std::min<uint64_t>(512, n - e)) != 0)
            e += std::min<uint64_t>(512, n - e);
          // Past the old backing file's end the old contents are zeroes: written as zeroes
          // (a zero cluster where possible), as qemu-img rebase does.
          if (old_backing == nullptr || off + s >= old_backing->size()) {
            r = block::write_zeroes_sync(*dev, off + s, e - s, false);
          } else {
            r = block::write_sync(*dev, off + s, a.data() + s, e - s);
          }
          s = e;
        }
        if (!r) {
          report("error while rebasing: {}", error_text(r.error()));
          return 1;
        }
      }
      off += n;
      progress(show_progress, 100.0 * static_cast<double>(off) / static_cast<double>(size));
    }
  }
  auto r = block::change_backing_file(*dev, backing, backing.empty() ? "" : backing_fmt);
  if (!r) {
    report("Could not change the backing file to '{}': {}", backing, r.error().message);
    return 1;
  }
  r = dev->close();
  if (!r) {
    report("{}", r.error().to_string());
    return 1;
  }
  progress(show_progress, 100);
  if (show_progress) std::printf("\n");
  return 0;
}

}  // namespace corvid::img
