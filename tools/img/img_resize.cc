// corvid-img resize: absolute or relative (+/-) sizes; shrinking needs --shrink.
#include <getopt.h>

#include <cstring>

#include "base/size.h"
#include "block/image.h"
#include "tools/img/img_common.h"

namespace corvid::img {

int cmd_resize(int argc, char** argv) {
  if (argc < 3) return usage_error("Not enough arguments");
  // The size is taken off the end first so "-1G" is not read as an option (as qemu-img does).
  const char* size_arg = argv[--argc];
  enum { kShrink = 256, kPrealloc };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"format", required_argument, nullptr, 'f'},
                                 {"shrink", no_argument, nullptr, kShrink},
                                 {"preallocation", required_argument, nullptr, kPrealloc},
                                 kObjectOption,
                                 kImageOptsOption,
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt;
  bool quiet = false, shrink = false;
  std::string prealloc = "off";
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":f:hq", kLong, nullptr)) != -1;) {
    if (auto r = common_option(c, argv)) {
      if (*r) return *r;
      continue;
    }
    switch (c) {
      case 'f':
        fmt = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      case kShrink:
        shrink = true;
        break;
      case kPrealloc:
        if (std::strcmp(optarg, "off") != 0 && std::strcmp(optarg, "metadata") != 0 &&
            std::strcmp(optarg, "falloc") != 0 && std::strcmp(optarg, "full") != 0) {
          report("Invalid preallocation mode '{}'", optarg);
          return 1;
        }
        prealloc = optarg;
        break;
      case 'h':
        return usage_error("resize [-f fmt] [--shrink] [-q] filename [+ | -]size");
      default:
        return bad_option(c, argv);
    }
  }
  if (optind != argc - 1) return usage_error("Expecting image file name and size");
  int sign = 0;
  if (size_arg[0] == '+' || size_arg[0] == '-') sign = size_arg[0] == '+' ? 1 : -1;
  auto n = parse_size(size_arg + (sign != 0 ? 1 : 0));
  if (!n) {
    report("Parameter 'size' expects a non-negative number below 2^64");
    std::fprintf(stderr,
                 "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                 "and exabytes, respectively.\n");
    return 1;
  }
  block::OpenOptions o;
  o.format = fmt;
  auto dev = open_or_report(argv[optind], o);
  if (!dev) return 1;
  uint64_t current = dev->size();
  uint64_t target = *n;
  if (sign > 0) target = current + *n;
  if (sign < 0) {
    if (*n > current) {
      report("New image size must be positive");
      return 1;
    }
    target = current - *n;
  }
  if (prealloc != "off" && target < current) {
    report("Preallocation can only be used for growing images");
    return 1;
  }
  if (target < current && !shrink) {
    report("Use the --shrink option to perform a shrink operation.");
    report(
        "warning: Shrinking an image will delete all data beyond the shrunken image's end. "
        "Before performing such an operation, make sure there is no important data there.");
    return 1;
  }
  auto r = prealloc == "off" ? block::resize_image(*dev, target, shrink)
                             : block::truncate_image(*dev, target, shrink, prealloc);
  if (!r) {
    report("{}", r.error().message);
    return 1;
  }
  auto c = dev->close();
  if (!c) {
    report("{}", c.error().to_string());
    return 1;
  }
  if (!quiet) std::printf("Image resized.\n");
  return 0;
}

}  // namespace corvid::img
