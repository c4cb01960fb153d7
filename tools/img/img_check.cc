// corvid-img check: runs the block layer's consistency check (optionally repairing), then
// prints qemu-img's report and exits 0 (clean), 1 (check failed), 2 (corruptions), 3 (leaks
// only) or 63 (the format has no check). With -r, a second read-only pass ("Double checking")
// decides the report and the exit code; the first pass's fixed counts are kept.
#include <getopt.h>

#include <cinttypes>
#include <cstring>

#include "block/image.h"
#include "tools/img/img_check_run.h"
#include "tools/img/img_common.h"
#include "tools/img/img_json.h"

namespace corvid::img {
namespace {

void print_human(const CheckCounts& c, bool quiet) {
  if (quiet) return;
  if (c.corruptions == 0 && c.leaks == 0 && c.check_errors == 0) {
    std::printf("No errors were found on the image.\n");
  } else {
    if (c.corruptions != 0)
      std::printf("\n%" PRId64
                  " errors were found on the image.\n"
                  "Data may be corrupted, or further writes to the image may corrupt it.\n",
                  c.corruptions);
    if (c.leaks != 0)
      std::printf("\n%" PRId64
                  " leaked clusters were found on the image.\n"
                  "This means waste of disk space, but no harm to data.\n",
                  c.leaks);
    if (c.check_errors != 0)
      std::printf("\n%" PRId64 " internal errors have occurred during the check.\n",
                  c.check_errors);
  }
  if (c.total_clusters != 0 && c.allocated_clusters != 0) {
    double alloc = static_cast<double>(c.allocated_clusters);
    std::printf("%" PRId64 "/%" PRId64
                " = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed clusters\n",
                c.allocated_clusters, c.total_clusters,
                alloc * 100.0 / static_cast<double>(c.total_clusters),
                static_cast<double>(c.fragmented_clusters) * 100.0 / alloc,
                static_cast<double>(c.compressed_clusters) * 100.0 / alloc);
  }
  if (c.image_end_offset != 0) std::printf("Image end offset: %" PRId64 "\n", c.image_end_offset);
}

// QAPI ImageCheck: optional members appear only when non-zero.
void print_json(const CheckCounts& c, const std::string& filename, const std::string& format) {
  Json j;
  j["filename"] = filename;
  j["format"] = format;
  j["check-errors"] = c.check_errors;
  auto opt = [&j](const char* key, int64_t v) {
    if (v != 0) j[key] = v;
  };
  opt("image-end-offset", c.image_end_offset);
  opt("corruptions", c.corruptions);
  opt("leaks", c.leaks);
  opt("corruptions-fixed", c.corruptions_fixed);
  opt("leaks-fixed", c.leaks_fixed);
  opt("total-clusters", c.total_clusters);
  opt("allocated-clusters", c.allocated_clusters);
  opt("fragmented-clusters", c.fragmented_clusters);
  opt("compressed-clusters", c.compressed_clusters);
  std::printf("%s\n", qemu_json(j).c_str());
}

}  // namespace

int cmd_check(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"format", required_argument, nullptr, 'f'},
                                 {"repair", required_argument, nullptr, 'r'},
                                 kOutputOption,
                                 kObjectOption,
                                 kImageOptsOption,
                                 kForceShareOption,
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt;
  bool json = false, quiet = false;
  CheckFix fix = CheckFix::kNone;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":hf:r:T:qU", kLong, nullptr)) != -1;) {
    if (auto r = common_option(c, argv, &json)) {
      if (*r) return *r;
      continue;
    }
    switch (c) {
      case 'f':
        fmt = optarg;
        break;
      case 'r':
        if (std::strcmp(optarg, "leaks") == 0) {
          fix = CheckFix::kLeaks;
        } else if (std::strcmp(optarg, "all") == 0) {
          fix = CheckFix::kAll;
        } else {
          return usage_error("Unknown option value for -r (expecting 'leaks' or 'all'): {}",
                             optarg);
        }
        break;
      case 'T':
        break;
      case 'q':
        quiet = true;
        break;
      case 'h':
        return usage_error("check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] filename");
      default:
        return bad_option(c, argv);
    }
  }
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  std::string path = argv[optind];

  std::string format;
  auto first = run_check(path, fmt, fix, &format);
  if (!first) {
    if (first.error().code == ENOTSUP && first.error().message.empty()) {
      report("This image format does not support checks");
      return 63;
    }
    if (!first.error().message.empty()) {
      report("{}", first.error().message);
    } else {
      report("Check failed: {}", error_text(first.error()));
    }
    return 1;
  }
  CheckCounts result = *first;
  if (result.corruptions_fixed != 0 || result.leaks_fixed != 0) {
    if (!json && !quiet)
      std::printf(
          "The following inconsistencies were found and repaired:\n\n"
          "    %" PRId64 " leaked clusters\n    %" PRId64
          " corruptions\n\n"
          "Double checking the fixed image now...\n",
          result.leaks_fixed, result.corruptions_fixed);
    auto second = run_check(path, fmt, CheckFix::kNone, &format);
    if (!second) {
      report("Check failed: {}", error_text(second.error()));
      return 1;
    }
    int64_t leaks_fixed = result.leaks_fixed, corruptions_fixed = result.corruptions_fixed;
    result = *second;
    result.leaks_fixed = leaks_fixed;
    result.corruptions_fixed = corruptions_fixed;
  }
  if (json) {
    print_json(result, path, format);
  } else {
    print_human(result, quiet);
  }
  if (result.check_errors != 0) {
    report("Check failed");
    return 1;
  }
  if (result.corruptions != 0) return 2;
  if (result.leaks != 0) return 3;
  return 0;
}

}  // namespace corvid::img
