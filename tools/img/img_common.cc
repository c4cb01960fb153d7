#include "tools/img/img_common.h"

#include <getopt.h>

#include <algorithm>
#include <cstring>

#include "base/size.h"
#include "block/image.h"

namespace corvid::img {
namespace {
std::string g_progname = "qemu-img";
std::string g_image_opts_format;  // the driver= of --image-opts
bool g_image_opts_direct = false;  // its cache.direct=on
}

const std::string& progname() {
  return g_progname;
}

void set_progname(const char* argv0) {
  // Messages say "qemu-img: ..." whatever the binary is called: scripts and QEMU's iotests
  // match that prefix literally (QEMU's own filters do not rename the program), and corvid-img
  // implements qemu-img's interface. --help and --version name the real binary.
  (void)argv0;
  g_progname = "qemu-img";
}

std::string open_error_text(const Error& e) {
  // Block-layer messages are complete sentences, except a bare "Could not open '<path>'" from
  // a failed open(2), which qemu completes with the errno text.
  if (e.code != 0 && e.message.rfind("Could not open '", 0) == 0 && e.message.back() == '\'')
    return e.to_string();
  return e.message;
}

const char* error_text(const Error& e) {
  return std::strerror(e.code != 0 ? e.code : EIO);
}

int bad_option(int c, char** argv) {
  if (c == ':') return usage_error("missing argument for option '{}'", argv[optind - 1]);
  return usage_error("unrecognized option '{}'", argv[optind - 1]);
}

std::optional<int> common_option(int c, char** argv, bool* json) {
  switch (c) {
    case 'U':
      return 0;
    case kOptOutput:
      if (json == nullptr) return bad_option(c, argv);
      return parse_output(optarg, json) ? 0 : 1;
    case kOptObject:
    case kOptImageOpts:
      return usage_error("option '{}' is not supported", argv[optind - 1]);
    default:
      return std::nullopt;
  }
}

void warn_probed_raw(const std::string& path) {
  std::fprintf(stderr,
               "WARNING: Image format was not specified for '%s' and probing guessed raw.\n"
               "         Automatically detecting the format is dangerous for raw images, write "
               "operations on block 0 will be restricted.\n"
               "         Specify the 'raw' format explicitly to remove the restrictions.\n",
               path.c_str());
}

std::optional<std::string> apply_image_opts(const std::string& text) {
  std::string path;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = std::min(text.find(',', pos), text.size());
    std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "driver") {
      g_image_opts_format = value;
    } else if (key == "file.filename") {
      path = value;
    } else if (key == "filename") {
      // A format driver takes no filename of its own: QEMU then misses the "file" child.
    } else if (key == "file.driver" && value == "file") {
    } else if (key == "cache.direct" && (value == "on" || value == "off")) {
      g_image_opts_direct = value == "on";
    } else if (!item.empty()) {
      report("Could not open '{}': option '{}' is not supported by corvid", text, key);
      return std::nullopt;
    }
  }
  if (path.empty()) {
    report("Could not open '{}': A block device must be specified for \"file\"", text);
    return std::nullopt;
  }
  return path;
}

std::unique_ptr<block::BlockDevice> open_or_report(const std::string& path,
                                                   const block::OpenOptions& given) {
  block::OpenOptions options = given;
  if (options.format.empty()) options.format = g_image_opts_format;
  if (g_image_opts_direct) options.cache = block::CacheMode::kNone;
  auto dev = block::open_image(path, options);
  if (!dev) {
    report("Could not open '{}': {}", path, open_error_text(dev.error()));
    return nullptr;
  }
  if (options.format.empty() && !options.read_only && (*dev)->format_name() == "raw")
    warn_probed_raw(path);
  return std::move(*dev);
}

bool parse_cache(const char* text, block::CacheMode* out, CacheKind kind) {
  static const struct {
    const char* name;
    block::CacheMode mode;
  } kModes[] = {{"none", block::CacheMode::kNone},
                {"off", block::CacheMode::kNone},
                {"writeback", block::CacheMode::kWriteback},
                {"writethrough", block::CacheMode::kWritethrough},
                {"directsync", block::CacheMode::kDirectSync},
                {"unsafe", block::CacheMode::kUnsafe}};
  for (const auto& m : kModes) {
    if (std::strcmp(text, m.name) == 0) {
      *out = m.mode;
      return true;
    }
  }
  switch (kind) {
    case CacheKind::kTarget:
      report("Invalid cache option: {}", text);
      break;
    case CacheKind::kSource:
      report("Invalid source cache option: {}", text);
      break;
    case CacheKind::kBench:
      report("Invalid cache mode");
      break;
  }
  return false;
}

bool parse_aio(const char* text, block::AioMode* out) {
  if (std::strcmp(text, "threads") == 0) {
    *out = block::AioMode::kThreads;
  } else if (std::strcmp(text, "io_uring") == 0 || std::strcmp(text, "native") == 0) {
    *out = block::AioMode::kIoUring;
  } else {
    report("Invalid aio option: {}", text);
    return false;
  }
  return true;
}

std::optional<uint64_t> parse_image_size(const char* text) {
  auto size = parse_size(text);
  if (!size || *size > (uint64_t{1} << 63) - 1) {
    report("Invalid image size specified. You may use k, M, G, T, P or E suffixes for");
    report("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
    return std::nullopt;
  }
  return *size;
}

bool parse_output(const char* text, bool* json) {
  if (std::strcmp(text, "json") == 0) {
    *json = true;
  } else if (std::strcmp(text, "human") == 0) {
    *json = false;
  } else {
    report("--output must be used with human or json as argument.");
    return false;
  }
  return true;
}

}  // namespace corvid::img
