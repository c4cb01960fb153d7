// corvid-img dd: qemu-img dd's operands (bs, count, if, of, skip), its output image size rule
// and its messages. Like qemu-img 7.2, count limits the input from its start (not from skip),
// and every block is written (no sparse detection).
#include <getopt.h>

#include <cinttypes>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/size.h"
#include "block/image.h"
#include "block/sync_io.h"
#include "tools/img/img_common.h"

namespace corvid::img {
namespace {

// qemu-img's cvtnum_full: a size with suffixes within [min, max], or its two error forms.
std::optional<int64_t> dd_number(const char* name, const std::string& value, int64_t min,
                                 int64_t max) {
  auto n = parse_size(value);
  if (!n) {
    report("Invalid {} specified. You may use k, M, G, T, P or E suffixes for", name);
    report("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
    return std::nullopt;
  }
  if (*n > static_cast<uint64_t>(max) || static_cast<int64_t>(*n) < min) {
    report("Invalid {} specified. Must be between {} and {}.", name, min, max);
    return std::nullopt;
  }
  return static_cast<int64_t>(*n);
}

}  // namespace

int cmd_dd(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 kObjectOption,
                                 kImageOptsOption,
                                 kForceShareOption,
                                 {nullptr, 0, nullptr, 0}};
  std::string fmt, out_fmt = "raw";
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":hf:O:U", kLong, nullptr)) != -1;) {
    if (auto r = common_option(c, argv)) {
      if (*r) return *r;
      continue;
    }
    switch (c) {
      case 'f':
        fmt = optarg;
        break;
      case 'O':
        out_fmt = optarg;
        break;
      case 'h':
        return usage_error(
            "dd [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] "
            "if=input of=output");
      default:
        return bad_option(c, argv);
    }
  }
  int64_t bs = 512, skip = 0;
  std::optional<int64_t> count;
  std::optional<std::string> in_path, out_path;
  for (int i = optind; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    std::string key = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    std::optional<int64_t> n;
    if (eq == std::string::npos) {
      report("unrecognized operand {}", arg);
      return 1;
    } else if (key == "bs") {
      if (!(n = dd_number("bs", value, 1, INT_MAX))) return 1;
      bs = *n;
    } else if (key == "count") {
      if (!(n = dd_number("count", value, 0, INT64_MAX))) return 1;
      count = *n;
    } else if (key == "skip") {
      if (!(n = dd_number("skip", value, 0, INT64_MAX))) return 1;
      skip = *n;
    } else if (key == "if") {
      in_path = value;
    } else if (key == "of") {
      out_path = value;
    } else {
      report("unrecognized operand {}", key);
      return 1;
    }
  }
  if (!in_path || !out_path) {
    report("Must specify both input and output files");
    return 1;
  }
  block::OpenOptions io;
  io.read_only = true;
  io.format = fmt;
  auto in = open_or_report(*in_path, io);
  if (!in) return 1;
  if (out_fmt != "raw" && out_fmt != "qcow2") {
    report("Unknown file format");
    return 1;
  }
  int64_t size = static_cast<int64_t>(in->size());
  if (count && *count <= INT64_MAX / bs && *count * bs < size) size = *count * bs;
  const bool skip_past_end = skip > INT64_MAX / bs || size < skip * bs;
  block::CreateOptions co;
  co.format = out_fmt;
  co.size = skip_past_end ? 0 : static_cast<uint64_t>(size - skip * bs);
  auto created = block::create_image(*out_path, co);
  if (!created) {
    report("{}: error while creating output image: {}", *out_path, created.error().message);
    return 1;
  }
  block::OpenOptions oo;
  oo.format = out_fmt;
  oo.no_backing = true;
  auto out = open_or_report(*out_path, oo);
  if (!out) return 1;
  int64_t in_pos = skip * bs;
  if (skip_past_end) {
    // Like dd(1): a warning and an empty output image.
    report("{}: cannot skip to specified offset", *in_path);
    in_pos = size;
  }
  std::vector<uint8_t> buf(static_cast<size_t>(bs));
  for (int64_t out_pos = 0; in_pos < size;) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(bs, size - in_pos));
    auto r = block::read_sync(*in, static_cast<uint64_t>(in_pos), buf.data(), n);
    if (!r) {
      report("error while reading from input image file: {}", error_text(r.error()));
      return 1;
    }
    r = block::write_sync(*out, static_cast<uint64_t>(out_pos), buf.data(), n);
    if (!r) {
      report("error while writing to output image file: {}", error_text(r.error()));
      return 1;
    }
    in_pos += static_cast<int64_t>(n);
    out_pos += static_cast<int64_t>(n);
  }
  auto c = out->close();
  if (!c) {
    report("{}", c.error().to_string());
    return 1;
  }
  return 0;
}

}  // namespace corvid::img
