// corvid-img compare: exit 0 when the guest-visible contents are equal, 1 when they differ,
// 2 when an image cannot be opened, 4 on a read error (qemu-img's codes).
#include <getopt.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <vector>

#include "block/image.h"
#include "block/sync_io.h"
#include "tools/img/img_common.h"

namespace corvid::img {
namespace {

constexpr uint64_t kChunk = 1 << 20;
constexpr uint64_t kSector = 512;

// Offset of the first 512-byte sector (relative to the buffers) where a and b differ.
std::optional<uint64_t> first_difference(const uint8_t* a, const uint8_t* b, uint64_t len) {
  for (uint64_t off = 0; off < len; off += kSector) {
    uint64_t n = std::min(kSector, len - off);
    if (std::memcmp(a + off, b + off, n) != 0) return off;
  }
  return std::nullopt;
}

std::optional<uint64_t> first_nonzero(const uint8_t* a, uint64_t len) {
  for (uint64_t off = 0; off < len; off += kSector) {
    uint64_t n = std::min(kSector, len - off);
    for (uint64_t i = 0; i < n; ++i)
      if (a[off + i] != 0) return off;
  }
  return std::nullopt;
}

}  // namespace

int cmd_compare(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 kObjectOption,
                                 kImageOptsOption,
                                 kForceShareOption,
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt1, fmt2;
  bool quiet = false, strict = false;
  block::CacheMode cache = block::CacheMode::kWriteback;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":hf:F:T:pqsU", kLong, nullptr)) != -1;) {
    if (auto r = common_option(c, argv)) {
      if (*r) return *r;
      continue;
    }
    switch (c) {
      case 'f':
        fmt1 = optarg;
        break;
      case 'F':
        fmt2 = optarg;
        break;
      case 'T':
        if (!parse_cache(optarg, &cache, CacheKind::kSource)) return 2;
        break;
      case 'p':
        break;
      case 'q':
        quiet = true;
        break;
      case 's':
        strict = true;
        break;
      case 'h':
        return usage_error(
            "compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] filename1 filename2");
      default:
        return bad_option(c, argv);
    }
  }
  if (optind != argc - 2) {
    return usage_error("Expecting two image file names");
  }
  if (fmt2.empty()) fmt2 = fmt1;
  block::OpenOptions o1, o2;
  o1.read_only = o2.read_only = true;
  o1.cache = o2.cache = cache;
  o1.format = fmt1;
  o2.format = fmt2;
  const char* names[2] = {argv[optind], argv[optind + 1]};
  auto a = open_or_report(names[0], o1);
  if (!a) return 2;
  auto b = open_or_report(names[1], o2);
  if (!b) return 2;
  uint64_t size_a = a->size(), size_b = b->size();
  // qemu-img compares the common part first: the size warning comes only when it matches.
  if (size_a != size_b && strict) {
    if (!quiet) std::printf("Strict mode: Image size mismatch!\n");
    return 1;
  }
  std::vector<uint8_t> buf_a(kChunk), buf_b(kChunk);
  uint64_t common = std::min(size_a, size_b);
  for (uint64_t off = 0; off < common; off += kChunk) {
    uint64_t n = std::min(kChunk, common - off);
    if (strict) {
      auto sa = block::block_status(*a, off, n), sb = block::block_status(*b, off, n);
      if (sa && sb && (sa->allocated != sb->allocated)) {
        if (!quiet) std::printf("Strict mode: Offset %" PRIu64 " block status mismatch!\n", off);
        return 1;
      }
    }
    auto ra = block::read_sync(*a, off, buf_a.data(), n);
    if (!ra) {
      report("Error while reading offset {} of {}: {}", off, names[0], error_text(ra.error()));
      return 4;
    }
    auto rb = block::read_sync(*b, off, buf_b.data(), n);
    if (!rb) {
      report("Error while reading offset {} of {}: {}", off, names[1], error_text(rb.error()));
      return 4;
    }
    if (auto d = first_difference(buf_a.data(), buf_b.data(), n)) {
      if (!quiet) std::printf("Content mismatch at offset %" PRIu64 "!\n", off + *d);
      return 1;
    }
  }
  if (size_a != size_b && !quiet) std::printf("Warning: Image size mismatch!\n");
  // The longer image's tail must read as zeroes.
  block::BlockDevice& longer = size_a > size_b ? *a : *b;
  const char* longer_name = size_a > size_b ? names[0] : names[1];
  for (uint64_t off = common; off < longer.size(); off += kChunk) {
    uint64_t n = std::min(kChunk, longer.size() - off);
    auto r = block::read_sync(longer, off, buf_a.data(), n);
    if (!r) {
      report("Error while reading offset {} of {}: {}", off, longer_name, error_text(r.error()));
      return 4;
    }
    if (auto d = first_nonzero(buf_a.data(), n)) {
      if (!quiet) std::printf("Content mismatch at offset %" PRIu64 "!\n", off + *d);
      return 1;
    }
  }
  if (!quiet) std::printf("Images are identical.\n");
  return 0;
}

}  // namespace corvid::img
