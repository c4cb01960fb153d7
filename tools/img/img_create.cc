// corvid-img create: qemu-img's option checks, its "Formatting ..." line, then create_image().
#include <getopt.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "base/size.h"
#include "block/image.h"
#include "tools/img/img_common.h"
#include "tools/img/img_options.h"

namespace corvid::img {
namespace {

// The order in which qemu-img lists creation options in the Formatting line, and the values it
// prints even when not given.
struct OptionSpec {
  const char* key;
  const char* default_value;  // nullptr: printed only when given
  bool is_size;
};
const OptionSpec kQcow2Options[] = {
    {"encryption", nullptr, false},      {"encrypt.format", nullptr, false},
    {"cluster_size", "65536", true},
    {"extended_l2", "off", false},       {"preallocation", nullptr, false},
    {"compression_type", "zlib", false}, {"size", nullptr, true},
    {"compat", nullptr, false},          {"backing_file", nullptr, false},
    {"backing_fmt", nullptr, false},     {"data_file", nullptr, false},
    {"data_file_raw", nullptr, false},   {"lazy_refcounts", "off", false},    {"refcount_bits", "16", true},
    {"nocow", nullptr, false},           {"extent_size_hint", nullptr, true},
};
const OptionSpec kRawOptions[] = {
    {"size", nullptr, true},
    {"preallocation", nullptr, false},
    {"nocow", nullptr, false},
    {"extent_size_hint", nullptr, true},
};

template <size_t N>
const OptionSpec* find_spec(const OptionSpec (&specs)[N], const std::string& key) {
  for (const auto& s : specs)
    if (key == s.key) return &s;
  return nullptr;
}

template <size_t N>
std::string formatting_line(const std::string& path, const std::string& fmt,
                            const OptionSpec (&specs)[N],
                            const std::map<std::string, std::string>& o) {
  std::string line = "Formatting '" + path + "', fmt=" + fmt;
  for (const auto& s : specs) {
    auto it = o.find(s.key);
    if (it != o.end()) {
      line += std::string(" ") + s.key + "=" + it->second;
    } else if (s.default_value != nullptr) {
      line += std::string(" ") + s.key + "=" + s.default_value;
    }
  }
  return line;
}

// Checks keys and value syntax as qemu's option parser does before anything is printed.
template <size_t N>
bool check_options(const std::string& path, const OptionSpec (&specs)[N],
                   std::map<std::string, std::string>* o) {
  for (auto& [key, value] : *o) {
    const OptionSpec* spec = find_spec(specs, key);
    if (spec == nullptr) {
      if (path.empty()) {
        report("Invalid parameter '{}'", key);
      } else {
        report("{}: Invalid parameter '{}'", path, key);
      }
      return false;
    }
    // refcount_bits is a number option in QEMU (qemu_strtou64: "-1" wraps around), checked
    // for its range only by the format driver after the Formatting line.
    if (key == "refcount_bits" && value.size() > 1 && value[0] == '-' &&
        value.find_first_not_of("0123456789", 1) == std::string::npos) {
      continue;
    }
    if (spec->is_size) {
      auto n = parse_size(value);
      if (!n) {
        // qemu-img create reports option errors after the image name; convert does not.
        if (path.empty()) {
          report("Parameter '{}' expects a non-negative number below 2^64", key);
        } else {
          report("{}: Parameter '{}' expects a non-negative number below 2^64", path, key);
        }
        std::fprintf(stderr,
                     "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                     "and exabytes, respectively.\n");
        return false;
      }
      value = std::to_string(*n);
    }
    if ((key == "lazy_refcounts" || key == "extended_l2" || key == "data_file_raw" ||
         key == "nocow" || key == "encryption") &&
        value != "on" && value != "off") {
      report("Parameter '{}' expects 'on' or 'off'", key);
      return false;
    }
  }
  return true;
}

}  // namespace

bool check_create_options(const std::string& fmt, const std::string& path,
                          std::map<std::string, std::string>* options) {
  return fmt == "qcow2" ? check_options(path, kQcow2Options, options)
                        : check_options(path, kRawOptions, options);
}

int cmd_create(int argc, char** argv) {
  std::string fmt = "raw";
  std::optional<std::string> backing, backing_fmt;
  std::vector<std::string> option_args;
  bool quiet = false, unsafe = false;
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, 'O'},
                                 {nullptr, 0, nullptr, 0}};
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":F:b:f:ho:qu", kLong, nullptr)) != -1;) {
    switch (c) {
      case 'F':
        backing_fmt = optarg;
        break;
      case 'b':
        backing = optarg;
        break;
      case 'f':
        fmt = optarg;
        break;
      case 'o':
        option_args.push_back(optarg);
        break;
      case 'q':
        quiet = true;
        break;
      case 'u':
        unsafe = true;
        break;
      case 'h':
        return usage_error(
            "create [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]");
      case 'O':
        return usage_error("--object is not supported");
      default:
        return bad_option(c, argv);
    }
  }
  if (optind >= argc) return usage_error("Expecting image file name");
  std::string path = argv[optind++];
  std::optional<uint64_t> size;
  if (optind < argc) {
    size = parse_image_size(argv[optind++]);
    if (!size) return 1;
  }
  if (optind != argc) return usage_error("Unexpected argument: {}", argv[optind]);
  if (fmt != "raw" && fmt != "qcow2") {
    report("Unknown file format '{}'", fmt);
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
  if (!check_create_options(fmt, path, &options)) return 1;
  // The order of qemu's bdrv_img_create: -o size against the size argument, then -b/-F,
  // then the backing file name's sanity.
  if (options.count("size")) {
    if (size) {
      report("{}: The image size must be specified only once", path);
      return 1;
    }
    size = std::stoull(options["size"]);
  }
  if (fmt == "raw" && (backing || backing_fmt)) {
    report("{}: Backing file{} not supported for file format 'raw'", path,
           backing ? "" : " format");
    return 1;
  }
  if (backing) options["backing_file"] = *backing;
  if (backing_fmt) options["backing_fmt"] = *backing_fmt;
  if (options.count("backing_file")) {
    if (options["backing_file"] == path) {
      report("{}: Error: Trying to create an image with the same filename as the backing file",
             path);
      return 1;
    }
    if (options["backing_file"].empty()) {
      report("{}: Expected backing file name, got empty string", path);
      return 1;
    }
  }

  if (options.count("backing_file")) {
    // qemu-img opens the backing file (unless -u) to check it and to take its size, and
    // insists on an explicit backing format.
    bool have_fmt = options.count("backing_fmt") != 0;
    if (!unsafe) {
      block::OpenOptions bo;
      bo.read_only = true;
      bo.format = have_fmt ? options["backing_fmt"] : "";
      bo.no_backing = true;
      std::string bpath = resolve_backing_path(path, options["backing_file"]);
      auto dev = block::open_image(bpath, bo);
      if (!dev) {
        report("{}: {}", path, open_error_text(dev.error()));
        std::fprintf(stderr, "Could not open backing image.\n");
        return 1;
      }
      if (!have_fmt) {
        report("{}: Backing file specified without backing format", path);
        std::fprintf(stderr, "Detected format of %s.", (*dev)->format_name().c_str());
        return 1;
      }
      if (!size) size = (*dev)->size();
    } else if (!have_fmt) {
      report("{}: Backing file specified without backing format", path);
      return 1;
    }
  }
  if (!size) {
    report("{}: Image creation needs a size parameter", path);
    return 1;
  }
  options["size"] = std::to_string(*size);
  if (!quiet) {
    std::string line = fmt == "qcow2" ? formatting_line(path, fmt, kQcow2Options, options)
                                      : formatting_line(path, fmt, kRawOptions, options);
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
  block::CreateOptions co;
  co.format = fmt;
  co.size = *size;
  co.check_backing = !unsafe;  // -u: the backing file need not exist yet
  for (const auto& [k, v] : options)
    if (k != "size") co.options[k] = v;
  auto r = block::create_image(path, co);
  if (!r) {
    report("{}: {}", path, r.error().message);
    return 1;
  }
  return 0;
}

}  // namespace corvid::img
