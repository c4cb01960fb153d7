// query-block, query-blockstats and "info block": BlockInfo in the shapes of QEMU 7.2
// (qapi/block-core.json BlockInfo, BlockStats; block/qapi.c and block/monitor/block-hmp-cmds.c).
#include <sys/stat.h>

#include "monitor/qmp_commands.h"

namespace corvid::monitor {
namespace {

struct CacheFlags {
  bool writeback, direct, no_flush;
};

// DriveConfig cache modes as QEMU's -drive cache= expands them (qemu-options.hx "cache").
CacheFlags cache_flags(const std::string& mode) {
  if (mode == "none") return {true, true, false};
  if (mode == "writethrough") return {false, false, false};
  if (mode == "directsync") return {false, true, false};
  if (mode == "unsafe") return {true, false, true};
  return {true, false, false};  // writeback
}

uint64_t allocated_bytes(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Keys in the order QEMU 7.2 prints them; corvid merges no requests, so *_merged stay 0.
Json stats_json(const BlockStats& s) {
  Json j{{"unmap_operations", s.unmap_operations},
         {"unmap_merged", 0},
         {"flush_total_time_ns", s.flush_total_time_ns},
         {"wr_highest_offset", s.wr_highest_offset},
         {"wr_total_time_ns", s.wr_total_time_ns},
         {"failed_wr_operations", s.failed_wr_operations},
         {"failed_rd_operations", s.failed_rd_operations},
         {"wr_merged", 0},
         {"wr_bytes", s.wr_bytes},
         {"timed_stats", Json::array()},
         {"failed_unmap_operations", s.failed_unmap_operations},
         {"failed_flush_operations", s.failed_flush_operations},
         {"account_invalid", true},
         {"rd_total_time_ns", s.rd_total_time_ns},
         {"invalid_unmap_operations", s.invalid_unmap_operations},
         {"flush_operations", s.flush_operations},
         {"wr_operations", s.wr_operations},
         {"unmap_bytes", s.unmap_bytes},
         {"rd_merged", 0},
         {"rd_bytes", s.rd_bytes},
         {"unmap_total_time_ns", s.unmap_total_time_ns},
         {"invalid_flush_operations", s.invalid_flush_operations},
         {"account_failed", true}};
  if (s.idle_time_ns) j["idle_time_ns"] = *s.idle_time_ns;
  j["rd_operations"] = s.rd_operations;
  j["invalid_wr_operations"] = s.invalid_wr_operations;
  j["invalid_rd_operations"] = s.invalid_rd_operations;
  return j;
}

}  // namespace

Json query_block_json(const std::vector<BlockInfo>& blocks) {
  Json out = Json::array();
  for (const auto& b : blocks) {
    CacheFlags cache = cache_flags(b.cache);
    Json image{{"virtual-size", b.virtual_size}, {"filename", b.file}};
    if (b.cluster_size) image["cluster-size"] = b.cluster_size;
    image["format"] = b.format;
    image["actual-size"] = allocated_bytes(b.file);
    image["dirty-flag"] = b.dirty;
    Json inserted{
        {"iops_rd", 0},
        {"detect_zeroes", "off"},
        {"image", std::move(image)},
        {"iops_wr", 0},
        {"ro", b.read_only},
        {"node-name", b.node_name},
        {"backing_file_depth", 0},
        {"drv", b.format},
        {"iops", 0},
        {"bps_wr", 0},
        {"write_threshold", 0},
        {"encrypted", false},
        {"bps", 0},
        {"bps_rd", 0},
        {"cache",
         {{"no-flush", cache.no_flush}, {"direct", cache.direct}, {"writeback", cache.writeback}}},
        {"file", b.file}};
    out.push_back(Json{{"io-status", "ok"},
                       {"device", b.device},
                       {"locked", false},
                       {"removable", false},
                       {"inserted", std::move(inserted)},
                       {"qdev", b.qdev},
                       {"type", "unknown"}});
  }
  return out;
}

Json query_blockstats_json(const std::vector<BlockInfo>& blocks) {
  Json out = Json::array();
  for (const auto& b : blocks)
    out.push_back(Json{{"device", b.device},
                       {"stats", stats_json(b.stats)},
                       {"node-name", b.node_name},
                       {"qdev", b.qdev}});
  return out;
}

std::string hmp_info_block(const std::vector<BlockInfo>& blocks, std::string_view device) {
  std::string out;
  for (const auto& b : blocks) {
    if (!device.empty() && b.device != device) continue;
    CacheFlags cache = cache_flags(b.cache);
    if (!out.empty()) out += "\n";
    out += fmt::format("{} ({}): {} ({}{})\n", b.device, b.node_name, b.file, b.format,
                       b.read_only ? ", read-only" : "");
    out += fmt::format("    Attached to:      {}\n", b.qdev);
    out += fmt::format("    Cache mode:       {}{}{}\n",
                       cache.writeback ? "writeback" : "writethrough",
                       cache.direct ? ", direct" : "", cache.no_flush ? ", ignore flushes" : "");
  }
  return out;
}

}  // namespace corvid::monitor
