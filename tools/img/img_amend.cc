// corvid-img amend: changes qcow2 options of an existing image (compat, lazy_refcounts).
#include <getopt.h>

#include <map>
#include <vector>

#include "block/image.h"
#include "tools/img/img_common.h"
#include "tools/img/img_options.h"

namespace corvid::img {

int cmd_amend(int argc, char** argv) {
  enum { kForce = 256 };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 kObjectOption,
                                 kImageOptsOption,
                                 {"force", no_argument, nullptr, kForce},
                                 {nullptr, 0, nullptr, 0}};
  std::vector<std::string> option_args;
  std::string fmt;
  block::OpenOptions o;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":ho:f:t:pq", kLong, nullptr)) != -1;) {
    if (auto r = common_option(c, argv)) {
      if (*r) return *r;
      continue;
    }
    switch (c) {
      case 'o':
        option_args.push_back(optarg);
        break;
      case 'f':
        fmt = optarg;
        break;
      case 't':
        if (!parse_cache(optarg, &o.cache)) return 1;
        break;
      case 'p':
      case 'q':
      case kForce:
        break;
      case 'h':
        return usage_error("amend [-f fmt] [-t cache] [-p] [-q] -o options filename");
      default:
        return bad_option(c, argv);
    }
  }
  if (option_args.empty()) return usage_error("Must specify options (-o)");
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  std::map<std::string, std::string> options;
  for (const auto& arg : option_args) {
    auto r = parse_option_string(arg, &options);
    if (!r) {
      report("{}", r.error().message);
      return 1;
    }
  }
  static const char* const kCreateOnly[] = {"cluster_size", "preallocation", "extended_l2",
                                            "compression_type", "nocow"};
  for (const auto& [key, value] : options) {
    for (const char* c : kCreateOnly) {
      if (key == c) {
        report("Invalid parameter '{}'", key);
        std::fprintf(stderr, "This option is only supported for image creation\n");
        return 1;
      }
    }
  }
  o.format = fmt;
  o.no_backing = true;
  auto dev = open_or_report(argv[optind], o);
  if (!dev) return 1;
  if (dev->format_name() != "qcow2") {
    report("Format driver '{}' does not support option amendment", dev->format_name());
    return 1;
  }
  auto r = block::amend_image(*dev, options);
  if (!r) {
    report("{}", r.error().message);
    return 1;
  }
  auto c = dev->close();
  if (!c) {
    report("{}", c.error().to_string());
    return 1;
  }
  return 0;
}

}  // namespace corvid::img
