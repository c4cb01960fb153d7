// corvid-img map: the allocation map, human (mapped ranges only) or JSON (every range).
#include <getopt.h>

#include <cinttypes>
#include <optional>

#include "base/size.h"
#include "block/image.h"
#include "tools/img/img_common.h"

namespace corvid::img {
namespace {

struct MapEntry {
  uint64_t start = 0, length = 0;
  int depth = 0;
  bool present = false, zero = false, data = false;
  std::optional<uint64_t> offset;
  std::string file;

  // qemu merges neighbours with the same status whose host offsets continue each other.
  bool extends(const MapEntry& next) const {
    if (next.start != start + length || next.depth != depth || next.present != present ||
        next.zero != zero || next.data != data || next.file != file ||
        next.offset.has_value() != offset.has_value())
      return false;
    return !offset || *next.offset == *offset + length;
  }
};

bool print_entry(const MapEntry& e, bool json, bool first) {
  if (json) {
    std::printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64
                ", \"depth\": %d, \"present\": %s, "
                "\"zero\": %s, \"data\": %s",
                first ? "" : ",\n", e.start, e.length, e.depth, e.present ? "true" : "false",
                e.zero ? "true" : "false", e.data ? "true" : "false");
    if (e.offset) std::printf(", \"offset\": %" PRIu64, *e.offset);
    std::printf("}");
    return true;
  }
  if (e.data && !e.offset) {
    report("File contains external, encrypted or compressed clusters.");
    return false;
  }
  if (e.data && e.offset)
    std::printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", e.start, e.length, *e.offset,
                e.file.c_str());
  return true;
}

}  // namespace

int cmd_map(int argc, char** argv) {
  enum { kStart = 256, kMaxLength };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"format", required_argument, nullptr, 'f'},
                                 kOutputOption,
                                 {"start-offset", required_argument, nullptr, kStart},
                                 {"max-length", required_argument, nullptr, kMaxLength},
                                 kObjectOption,
                                 kImageOptsOption,
                                 kForceShareOption,
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt;
  bool json = false;
  uint64_t start = 0;
  std::optional<uint64_t> max_length;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":f:hU", kLong, nullptr)) != -1;) {
    if (auto r = common_option(c, argv, &json)) {
      if (*r) return *r;
      continue;
    }
    switch (c) {
      case 'f':
        fmt = optarg;
        break;
      case kStart: {
        auto n = parse_size(optarg);
        if (!n)
          return usage_error(
              "Invalid start offset specified! You may use k, M, G, T, P or E suffixes for ");
        start = *n;
        break;
      }
      case kMaxLength: {
        auto n = parse_size(optarg);
        if (!n)
          return usage_error(
              "Invalid max length specified! You may use k, M, G, T, P or E suffixes for ");
        max_length = *n;
        break;
      }
      case 'h':
        return usage_error(
            "map [-f fmt] [--output=ofmt] [--start-offset=offset] [--max-length=len] filename");
      default:
        return bad_option(c, argv);
    }
  }
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  block::OpenOptions o;
  o.read_only = true;
  o.format = fmt;
  auto dev = open_or_report(argv[optind], o);
  if (!dev) return 1;
  uint64_t end = dev->size();
  if (max_length && start + *max_length < end) end = start + *max_length;
  if (json) std::printf("[");
  if (!json) std::printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
  std::optional<MapEntry> cur;
  bool first = true;
  for (uint64_t off = start; off < end;) {
    auto st = block::block_status(*dev, off, end - off);
    if (!st || st->length == 0) {
      report("Could not read file metadata: {}",
             st ? "unexpected end of image" : st.error().to_string());
      return 1;
    }
    MapEntry e;
    e.start = off;
    e.length = std::min<uint64_t>(st->length, end - off);
    e.depth = st->depth;
    e.present = st->allocated;
    e.zero = st->zero;
    e.data = st->data;
    e.offset = st->compressed ? std::nullopt : st->host_offset;
    e.file = st->file;
    off += e.length;
    if (cur && cur->extends(e)) {
      cur->length += e.length;
      continue;
    }
    if (cur) {
      if (!print_entry(*cur, json, first)) return 1;
      first = false;
    }
    cur = e;
  }
  if (cur && !print_entry(*cur, json, first)) return 1;
  if (json) std::printf("]\n");
  return 0;
}

}  // namespace corvid::img
