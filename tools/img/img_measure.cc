// corvid-img measure: the file size a new raw or qcow2 image needs for a given virtual size or
// for the allocated contents of an existing image. The qcow2 figures follow the metadata layout
// of the qcow2 spec: one header cluster, L2 tables covering the disk, an L1 table, and refcount
// blocks plus a refcount table covering all of those clusters.
#include <getopt.h>

#include <cinttypes>
#include <map>
#include <set>

#include "base/size.h"
#include "block/image.h"
#include "tools/img/img_common.h"
#include "tools/img/img_json.h"
#include "tools/img/img_options.h"

namespace corvid::img {
namespace {

uint64_t div_round_up(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}
uint64_t round_up(uint64_t a, uint64_t b) {
  return div_round_up(a, b) * b;
}

// Refcount table + refcount block clusters needed to cover `clusters` clusters plus themselves:
// a fixed point, since the refcount structures need refcounts too.
uint64_t refcount_clusters(uint64_t clusters, uint64_t cluster_size, int refcount_bits) {
  uint64_t per_block = cluster_size * 8 / static_cast<uint64_t>(refcount_bits);
  uint64_t per_table_cluster = cluster_size / 8;
  uint64_t blocks = 0, table = 0, last = 0, n = 0;
  do {
    last = n;
    blocks = div_round_up(clusters + table + blocks, per_block);
    table = div_round_up(blocks, per_table_cluster);
    n = clusters + blocks + table;
  } while (n != last);
  return blocks + table;
}

// Metadata plus data of a fully allocated qcow2 image of `size` bytes.
uint64_t qcow2_full_size(uint64_t size, uint64_t cluster_size, int refcount_bits,
                         bool extended_l2) {
  uint64_t aligned = round_up(size, cluster_size);
  uint64_t entry = extended_l2 ? 16 : 8;
  uint64_t meta = cluster_size;  // header
  uint64_t l2_entries = round_up(aligned / cluster_size, cluster_size / entry);
  meta += l2_entries * entry;
  uint64_t l1_entries = round_up(l2_entries * entry / cluster_size, cluster_size / 8);
  meta += l1_entries * 8;
  meta += refcount_clusters((meta + aligned) / cluster_size, cluster_size, refcount_bits) *
          cluster_size;
  return meta + aligned;
}

}  // namespace

int cmd_measure(int argc, char** argv) {
  enum { kSize = 256 };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 kOutputOption,
                                 {"size", required_argument, nullptr, kSize},
                                 kObjectOption,
                                 kImageOptsOption,
                                 kForceShareOption,
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt, out_fmt = "raw";
  std::vector<std::string> option_args;
  std::optional<uint64_t> size;
  bool json = false;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":hf:O:o:l:U", kLong, nullptr)) != -1;) {
    if (auto r = common_option(c, argv, &json)) {
      if (*r) return *r;
      continue;
    }
    switch (c) {
      case 'f':
        fmt = optarg;
        break;
      case 'O':
        out_fmt = optarg;
        break;
      case 'o':
        option_args.push_back(optarg);
        break;
      case kSize: {
        auto n = parse_size(optarg);
        if (!n) {
          report("Invalid image size specified. You may use k, M, G, T, P or E suffixes for");
          report("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
          return 1;
        }
        size = *n;
        break;
      }
      case 'h':
        return usage_error(
            "measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]");
      case 'l':
      default:
        return bad_option(c, argv);
    }
  }
  if (size && optind < argc) {
    report("--size N cannot be used together with a filename.");
    return 1;
  }
  if (!size && optind != argc - 1) {
    report("Either --size N or one filename must be specified.");
    return 1;
  }
  if (out_fmt != "raw" && out_fmt != "qcow2") {
    report("Unknown file format '{}'", out_fmt);
    return 1;
  }
  std::map<std::string, std::string> options;
  for (const auto& arg : option_args) {
    auto r = parse_option_string(arg, &options);
    if (!r) {
      report("{}", r.error().message);
      return 1;
    }
  }
  uint64_t cluster_size = 65536;
  int refcount_bits = 16;
  bool extended_l2 = options.count("extended_l2") && options["extended_l2"] == "on";
  if (options.count("cluster_size"))
    cluster_size = parse_size(options["cluster_size"]).value_or(65536);
  if (options.count("refcount_bits")) refcount_bits = std::stoi(options["refcount_bits"]);
  std::string prealloc = options.count("preallocation") ? options["preallocation"] : "off";

  uint64_t virtual_size = 0, data_bytes = 0;
  std::string source_format;
  if (size) {
    virtual_size = *size;
  } else {
    block::OpenOptions o;
    o.read_only = true;
    o.format = fmt;
    auto dev = open_or_report(argv[optind], o);
    if (!dev) return 1;
    virtual_size = dev->size();
    source_format = dev->format_name();
    // Target clusters that would hold data: any source range with data marks its clusters.
    uint64_t granule = out_fmt == "qcow2" ? cluster_size : 1;
    uint64_t clusters = 0, last_cluster = UINT64_MAX;
    for (uint64_t off = 0; off < virtual_size;) {
      auto st = block::block_status(*dev, off, virtual_size - off);
      if (!st || st->length == 0) {
        report("Unable to get block status: {}", st ? "unexpected end" : st.error().to_string());
        return 1;
      }
      uint64_t len = std::min<uint64_t>(st->length, virtual_size - off);
      if (st->data) {
        if (granule == 1) {
          data_bytes += len;
        } else {
          uint64_t first = off / granule, last = (off + len - 1) / granule;
          if (first == last_cluster) ++first;
          if (last >= first) clusters += last - first + 1;
          last_cluster = last;
        }
      }
      off += len;
    }
    if (granule != 1) data_bytes = clusters * cluster_size;
  }
  virtual_size = round_up(virtual_size, 512);
  uint64_t required = 0, full = 0;
  if (out_fmt == "raw") {
    full = virtual_size;
    required = virtual_size;
  } else {
    full = qcow2_full_size(virtual_size, cluster_size, refcount_bits, extended_l2);
    uint64_t meta = full - round_up(virtual_size, cluster_size);
    required = (prealloc == "falloc" || prealloc == "full") ? full : meta + data_bytes;
  }
  // Only a qcow2 source can carry persistent bitmaps worth measuring.
  bool bitmaps = source_format == "qcow2" && out_fmt == "qcow2";
  if (json) {
    Json j;
    j["required"] = required;
    j["fully-allocated"] = full;
    if (bitmaps) j["bitmaps"] = 0;
    std::printf("%s\n", qemu_json(j).c_str());
  } else {
    std::printf("required size: %" PRIu64 "\nfully allocated size: %" PRIu64 "\n", required, full);
    if (bitmaps) std::printf("bitmaps size: 0\n");
  }
  return 0;
}

}  // namespace corvid::img
