// corvid-img info: the human report and --output=json, optionally for the whole backing chain.
#include <getopt.h>

#include <cinttypes>
#include <cstring>
#include <ctime>
#include <vector>

#include "base/size.h"
#include "block/image.h"
#include "tools/img/img_common.h"
#include "tools/img/img_info.h"
#include "tools/img/img_json.h"
#include "tools/img/img_options.h"

namespace corvid::img {

void print_snapshot_list(const block::ImageInfo& info) {
  std::printf("Snapshot list:\n");
  std::printf("%-9s %-16s %8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
  for (const auto& sn : info.snapshots) {
    char date[32];
    time_t t = sn.date_sec;
    tm tm_buf{};
    localtime_r(&t, &tm_buf);
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm_buf);
    uint64_t ms = sn.vm_clock_nsec / 1000000;
    char clock[32];
    std::snprintf(clock, sizeof clock, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64,
                  ms / 3600000, (ms / 60000) % 60, (ms / 1000) % 60, ms % 1000);
    std::printf("%-9s %-16s %8s%20s%13s%11u\n", sn.id.c_str(), sn.name.c_str(),
                format_size(sn.vm_state_size).c_str(), date, clock, 0u);
  }
}

namespace {

bool is_v3(const block::ImageInfo& i) {
  return i.compat != "0.10";
}

void print_human(const block::ImageInfo& info) {
  std::printf("image: %s\nfile format: %s\n", info.filename.c_str(), info.format.c_str());
  std::printf("virtual size: %s (%" PRIu64 " bytes)\n", format_size(info.virtual_size).c_str(),
              info.virtual_size);
  std::printf("disk size: %s\n", format_size(info.actual_size).c_str());
  if (info.cluster_size) std::printf("cluster_size: %" PRIu64 "\n", *info.cluster_size);
  if (!info.backing_filename.empty()) {
    std::printf("backing file: %s", info.backing_filename.c_str());
    if (!info.full_backing_filename.empty() && info.full_backing_filename != info.backing_filename)
      std::printf(" (actual path: %s)", info.full_backing_filename.c_str());
    std::printf("\n");
    if (!info.backing_format.empty())
      std::printf("backing file format: %s\n", info.backing_format.c_str());
  }
  if (info.dirty_flag) std::printf("cleanly shut down: no\n");
  if (!info.snapshots.empty()) print_snapshot_list(info);
  if (info.format == "qcow2") {
    std::printf("Format specific information:\n    compat: %s\n    compression type: %s\n",
                info.compat.c_str(), info.compression_type.c_str());
    if (is_v3(info))
      std::printf("    lazy refcounts: %s\n", info.lazy_refcounts ? "true" : "false");
    std::printf("    refcount bits: %d\n", info.refcount_bits);
    if (is_v3(info))
      std::printf("    corrupt: %s\n    extended l2: %s\n", info.corrupt ? "true" : "false",
                  info.extended_l2 ? "true" : "false");
  }
}

// Keys are inserted in QAPI's ImageInfo member order: it decides ties within a hash bucket.
Json to_json(const block::ImageInfo& info) {
  Json j;
  j["filename"] = info.filename;
  j["format"] = info.format;
  j["dirty-flag"] = info.dirty_flag;
  j["actual-size"] = info.actual_size;
  j["virtual-size"] = info.virtual_size;
  if (info.cluster_size) j["cluster-size"] = *info.cluster_size;
  if (!info.backing_filename.empty()) {
    j["backing-filename"] = info.backing_filename;
    j["full-backing-filename"] =
        info.full_backing_filename.empty() ? info.backing_filename : info.full_backing_filename;
    if (!info.backing_format.empty()) j["backing-filename-format"] = info.backing_format;
  }
  if (!info.snapshots.empty()) {
    Json list = Json::array();
    for (const auto& sn : info.snapshots) {
      Json s;
      s["id"] = sn.id;
      s["name"] = sn.name;
      s["vm-state-size"] = sn.vm_state_size;
      s["date-sec"] = sn.date_sec;
      s["date-nsec"] = sn.date_nsec;
      s["vm-clock-sec"] = sn.vm_clock_nsec / 1000000000;
      s["vm-clock-nsec"] = sn.vm_clock_nsec % 1000000000;
      s["icount"] = 0;  // instruction counts exist only for record/replay snapshots
      list.push_back(s);
    }
    j["snapshots"] = list;
  }
  if (info.format == "qcow2") {
    Json data;
    data["compat"] = info.compat;
    if (is_v3(info)) data["lazy-refcounts"] = info.lazy_refcounts;
    if (is_v3(info)) data["corrupt"] = info.corrupt;
    data["refcount-bits"] = info.refcount_bits;
    data["compression-type"] = info.compression_type;
    if (is_v3(info)) data["extended-l2"] = info.extended_l2;
    j["format-specific"] = Json{{"type", "qcow2"}, {"data", data}};
  }
  return j;
}

}  // namespace

int cmd_info(int argc, char** argv) {
  enum { kBackingChain = 256 };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"format", required_argument, nullptr, 'f'},
                                 kOutputOption,
                                 {"backing-chain", no_argument, nullptr, kBackingChain},
                                 kObjectOption,
                                 kImageOptsOption,
                                 kForceShareOption,
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt;
  bool json = false, chain = false;
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
      case kBackingChain:
        chain = true;
        break;
      case 'h':
        return usage_error("info [-f fmt] [--output=ofmt] [--backing-chain] filename");
      default:
        return bad_option(c, argv);
    }
  }
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  std::vector<block::ImageInfo> infos;
  std::string path = argv[optind];
  for (;;) {
    block::OpenOptions o;
    o.read_only = true;
    o.format = fmt;
    o.no_backing = true;
    auto dev = open_or_report(path, o);
    if (!dev) return 1;
    auto info = block::query_info(*dev, path);
    if (!info) {
      report("{}", info.error().to_string());
      return 1;
    }
    infos.push_back(*info);
    if (!chain || info->backing_filename.empty()) break;
    for (const auto& seen : infos) {
      if (seen.filename == info->full_backing_filename) {
        report("Backing file '{}' creates an infinite loop.", info->full_backing_filename);
        return 1;
      }
    }
    path = info->full_backing_filename.empty() ? resolve_backing_path(path, info->backing_filename)
                                               : info->full_backing_filename;
    fmt = info->backing_format;
  }
  if (json) {
    if (!chain) {
      std::printf("%s\n", qemu_json(to_json(infos[0])).c_str());
    } else {
      Json list = Json::array();
      for (const auto& i : infos) list.push_back(to_json(i));
      std::printf("%s\n", qemu_json(list).c_str());
    }
    return 0;
  }
  for (size_t i = 0; i < infos.size(); ++i) {
    if (i > 0) std::printf("\n");
    print_human(infos[i]);
  }
  return 0;
}

}  // namespace corvid::img
