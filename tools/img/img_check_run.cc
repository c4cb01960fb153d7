#include "tools/img/img_check_run.h"

#include <cstdio>

#include "block/check.h"
#include "block/image.h"
#include "tools/img/img_common.h"

namespace corvid::img {

Result<CheckCounts> run_check(const std::string& path, const std::string& format, CheckFix fix,
                              std::string* format_used) {
  if (format_used->empty()) {
    // The format for the JSON report, from an open that changes nothing.
    block::OpenOptions o;
    o.format = format;
    o.read_only = true;
    o.check = true;
    o.no_backing = true;
    auto dev = block::open_image(path, o);
    if (!dev)
      return errorf(dev.error().code, "Could not open '{}': {}", path,
                    open_error_text(dev.error()));
    *format_used = (*dev)->format_name();
  }
  block::RepairMode mode = fix == CheckFix::kAll     ? block::RepairMode::kAll
                           : fix == CheckFix::kLeaks ? block::RepairMode::kLeaks
                                                     : block::RepairMode::kNone;
  auto r = block::check_image(path, format, mode, stderr);
  if (!r) {
    if (r.error().code == ENOTSUP) return make_error(ENOTSUP, "");
    if (r.error().code == EIO || r.error().code == 0) return make_error(r.error().code, "");
    return errorf(r.error().code, "Could not open '{}': {}", path, open_error_text(r.error()));
  }
  CheckCounts c;
  c.corruptions = r->corruptions;
  c.leaks = r->leaks;
  c.check_errors = r->check_errors;
  c.corruptions_fixed = r->corruptions_fixed;
  c.leaks_fixed = r->leaks_fixed;
  c.image_end_offset = r->image_end_offset;
  c.total_clusters = r->total_clusters;
  c.allocated_clusters = r->allocated_clusters;
  c.fragmented_clusters = r->fragmented_clusters;
  c.compressed_clusters = r->compressed_clusters;
  return c;
}

}  // namespace corvid::img
