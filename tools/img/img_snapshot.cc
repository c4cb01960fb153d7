// corvid-img snapshot: -l lists, -c creates, -a applies, -d deletes internal snapshots.
#include <getopt.h>

#include "block/image.h"
#include "tools/img/img_common.h"
#include "tools/img/img_info.h"

namespace corvid::img {

int cmd_snapshot(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 kObjectOption,
                                 kImageOptsOption,
                                 kForceShareOption,
                                 {nullptr, 0, nullptr, 0}};
  char action = 0;
  std::string name, fmt;
  bool quiet = false;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":la:c:d:f:hqU", kLong, nullptr)) != -1;) {
    if (auto r = common_option(c, argv)) {
      if (*r) return *r;
      continue;
    }
    switch (c) {
      case 'l':
      case 'a':
      case 'c':
      case 'd':
        if (action != 0) return usage_error("Cannot mix '-l', '-a', '-c', '-d'");
        action = static_cast<char>(c);
        if (optarg != nullptr) name = optarg;
        break;
      case 'f':
        fmt = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      case 'h':
        return usage_error("snapshot [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename");
      default:
        return bad_option(c, argv);
    }
  }
  (void)quiet;
  if (optind != argc - 1) return usage_error("Expecting one image file name");
  if (action == 0) action = 'l';
  block::OpenOptions o;
  o.format = fmt;
  o.read_only = action == 'l';
  o.no_backing = true;
  auto dev = open_or_report(argv[optind], o);
  if (!dev) return 1;
  Result<> r;
  switch (action) {
    case 'l': {
      auto info = block::query_info(*dev, argv[optind]);
      if (!info) {
        report("{}", info.error().to_string());
        return 1;
      }
      if (!info->snapshots.empty()) print_snapshot_list(*info);
      return 0;
    }
    case 'c':
      r = block::create_snapshot(*dev, name);
      // qemu-img prints the errno of a failed snapshot creation, not a message.
      if (!r)
        report("Could not create snapshot '{}': -{} ({})", name, r.error().code ? r.error().code : EIO,
               error_text(r.error()));
      break;
    case 'a':
      r = block::apply_snapshot(*dev, name);
      if (!r) report("Could not apply snapshot '{}': {}", name, r.error().message);
      break;
    case 'd':
      r = block::delete_snapshot(*dev, name);
      if (!r) report("Could not delete snapshot '{}': {}", name, r.error().message);
      break;
  }
  if (!r) return 1;
  auto c = dev->close();
  if (!c) {
    report("{}", c.error().to_string());
    return 1;
  }
  return 0;
}

}  // namespace corvid::img
