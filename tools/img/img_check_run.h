// The bridge from corvid-img check to the block layer's check/repair (block/check.h).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace corvid::img {

enum class CheckFix { kNone, kLeaks, kAll };

struct CheckCounts {
  int64_t corruptions = 0, leaks = 0, check_errors = 0;
  int64_t corruptions_fixed = 0, leaks_fixed = 0;
  int64_t image_end_offset = 0;
  int64_t total_clusters = 0, allocated_clusters = 0, fragmented_clusters = 0,
          compressed_clusters = 0;
};

// One check pass over `path` (format probed when empty; *format receives the one used). The
// per-cluster diagnostics go to stderr. Errors: ENOTSUP with an empty message when the format
// has no check; an open failure carries qemu-img's full message; otherwise the errno of the
// failed check ("Check failed: <strerror>").
Result<CheckCounts> run_check(const std::string& path, const std::string& format, CheckFix fix,
                              std::string* format_used);

}  // namespace corvid::img
