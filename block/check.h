// qemu-img check for qcow2: consistency check and repair of refcounts and cluster mappings
// (QEMU 7.2 qcow2_check_refcounts semantics). Per-cluster diagnostics ("ERROR cluster 5
// refcount=0 reference=1", "Leaked cluster ...", "Repairing ...") go to stderr as QEMU prints
// them; the numbers come back for the summary that qemu-img prints.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "base/result.h"
#include "block/block_device.h"

namespace corvid::block {

enum class RepairMode { kNone, kLeaks, kAll };

struct CheckResult {
  int64_t corruptions = 0, leaks = 0, check_errors = 0;
  int64_t corruptions_fixed = 0, leaks_fixed = 0;
  int64_t image_end_offset = 0;
  int64_t total_clusters = 0, allocated_clusters = 0, fragmented_clusters = 0,
          compressed_clusters = 0;
};

// One check pass over an image opened with OpenOptions::check = true (and read/write when
// repairing). qemu-img's flow: run with the repair mode; if anything was fixed, print the
// "The following inconsistencies were found and repaired" block, run again with kNone and
// report that second result with the first pass's *_fixed counts.
// Fails with ENOTSUP ("This image format does not support checks") for raw images, and with
// EIO when a leaks-only repair would need the refcount structure rebuilt.
Result<CheckResult> check_image(BlockDevice& device, RepairMode mode);

// Opens `path` the way qemu-img check does (no dirty-image repair; read/write only when
// repairing, a corrupt image included), runs one pass and closes it. Diagnostics go to diag.
// Open failures come back as errors whose message is qemu-img's text after "Could not open
// '<path>': "; ENOTSUP means "This image format does not support checks" (exit 63).
Result<CheckResult> check_image(const std::string& path, const std::string& format, RepairMode mode,
                                std::FILE* diag = stderr);

}  // namespace corvid::block
