// qemu-io's command table and the commands that are not data transfers.
#include "tools/io/io_commands.h"

#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "block/image.h"
#include "block/io_engine.h"
#include "block/sync_io.h"
#include "tools/io/io_format.h"
#include "tools/io/io_options.h"

namespace corvid::io {
namespace {

enum CmdFlags { kNoFileOk = 1, kNeedsWrite = 2 };

struct Command {
  const char* name;
  int (*run)(IoSession&, Args&);
  int argmin, argmax;  // argmax -1: unbounded
  int flags;
  const char* args;
  const char* oneline;
};

int flush_cmd(IoSession& s, Args&) {
  auto r = block::flush_sync(*s.device);
  return r ? 0 : -EIO;
}

int aio_flush_cmd(IoSession& s, Args&) {
  drain_aio(s);
  return 0;
}

int length_cmd(IoSession& s, Args&) {
  std::printf("%s\n", size_string(static_cast<double>(s.device->size())).c_str());
  return 0;
}

int truncate_cmd(IoSession& s, Args& a) {
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "m:")) != -1;) {
    if (c != 'm') return print_usage("truncate");
    if (std::strcmp(optarg, "off") != 0) {
      std::fprintf(stderr, "%s: Invalid preallocation mode: '%s'\n", "qemu-io", optarg);
      return -EINVAL;
    }
  }
  if (optind != static_cast<int>(a.size()) - 1) return print_usage("truncate");
  auto size = parse_number(a[optind]);
  if (!size) return -EINVAL;
  auto r = block::resize_image(*s.device, static_cast<uint64_t>(*size), true);
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", s.progname.c_str(), r.error().message.c_str());
    return -EIO;
  }
  return 0;
}

// qcow2 keeps the VM state after the last L2 table's reach: the disk size rounded up to what
// one L2 table maps (qcow2 spec, "Snapshots"; QEMU's vm_state_offset).
uint64_t vm_state_offset(const block::ImageInfo& info) {
  if (info.format != "qcow2" || !info.cluster_size) return 0;
  uint64_t cs = *info.cluster_size;
  uint64_t reach = cs * (cs / (info.extended_l2 ? 16 : 8));
  return (info.virtual_size + reach - 1) / reach * reach;
}

int info_cmd(IoSession& s, Args&) {
  auto info = block::query_info(*s.device, s.path);
  if (!info) return -EIO;
  std::printf("format name: %s\n", info->format.c_str());
  std::printf("cluster size: %s\n",
              size_string(static_cast<double>(info->cluster_size.value_or(0))).c_str());
  std::printf("vm state offset: %s\n",
              size_string(static_cast<double>(vm_state_offset(*info))).c_str());
  if (info->format == "qcow2") {
    std::printf("Format specific information:\n    compat: %s\n    compression type: %s\n",
                info->compat.c_str(), info->compression_type.c_str());
    if (info->compat != "0.10")
      std::printf("    lazy refcounts: %s\n", info->lazy_refcounts ? "true" : "false");
    std::printf("    refcount bits: %d\n", info->refcount_bits);
    if (info->compat != "0.10")
      std::printf("    corrupt: %s\n    extended l2: %s\n", info->corrupt ? "true" : "false",
                  info->extended_l2 ? "true" : "false");
  }
  return 0;
}

// Runs of equal allocation status from `offset`; map merges them (merge), alloc does not.
Result<uint64_t> status_run(IoSession& s, uint64_t offset, uint64_t bytes, bool merge,
                            bool* allocated) {
  uint64_t num = 0;
  bool first_state = false;
  while (num < bytes) {
    auto st = block::block_status(*s.device, offset + num, bytes - num);
    if (!st) return tl::unexpected(st.error());
    if (st->length == 0) break;
    // Both map and alloc report this image's own allocation (the backing chain is not shown).
    bool state = st->allocated && st->depth == 0;
    if (num == 0) {
      first_state = state;
    } else if (state != first_state) {
      break;
    }
    num += std::min<uint64_t>(st->length, bytes - num);
    if (!merge) break;
  }
  *allocated = first_state;
  return num;
}

int map_cmd(IoSession& s, Args&) {
  uint64_t offset = 0, bytes = s.device->size();
  while (bytes > 0) {
    bool allocated = false;
    auto num = status_run(s, offset, bytes, true, &allocated);
    if (!num) {
      std::fprintf(stderr, "%s: Failed to get allocation status: %s\n", s.progname.c_str(),
                   std::strerror(num.error().code ? num.error().code : EIO));
      return -EIO;
    }
    if (*num == 0) {
      std::fprintf(stderr, "%s: Unexpected end of image\n", s.progname.c_str());
      return -EIO;
    }
    std::printf("%s (0x%" PRIx64 ") bytes %s at offset %s (0x%" PRIx64 ")\n",
                size_string(static_cast<double>(*num)).c_str(), *num,
                allocated ? "    allocated" : "not allocated",
                size_string(static_cast<double>(offset)).c_str(), offset);
    offset += *num;
    bytes -= *num;
  }
  return 0;
}

int alloc_cmd(IoSession& s, Args& a) {
  auto offset = parse_number(a[1]);
  if (!offset) return -EINVAL;
  int64_t count = 512;
  if (a.size() == 3) {
    auto n = parse_number(a[2]);
    if (!n) return -EINVAL;
    count = *n;
  }
  int64_t remaining = count, sum = 0;
  uint64_t pos = *offset;
  while (remaining > 0) {
    bool allocated = false;
    uint64_t num = 0;
    if (pos < s.device->size()) {
      auto n = status_run(s, pos, static_cast<uint64_t>(remaining), false, &allocated);
      if (!n) {
        std::printf("is_allocated failed: %s\n",
                    std::strerror(n.error().code ? n.error().code : EIO));
        return -EIO;
      }
      num = *n;
    }
    if (num == 0) {  // past the end: qemu-io shortens the count it reports
      count -= remaining;
      break;
    }
    pos += num;
    remaining -= static_cast<int64_t>(num);
    if (allocated) sum += static_cast<int64_t>(num);
  }
  std::printf("%" PRId64 "/%" PRId64 " bytes allocated at offset %s\n", sum, count,
              size_string(static_cast<double>(*offset)).c_str());
  return 0;
}

int abort_cmd(IoSession&, Args&) {
  std::abort();
}

int sigraise_cmd(IoSession&, Args& a) {
  auto sig = parse_number(a[1]);
  if (!sig) return -EINVAL;
  if (*sig > NSIG) {
    std::printf("signal argument '%s' is too large to be a valid signal\n", a[1]);
    return -EINVAL;
  }
  // Flushing first keeps the output of earlier commands even when the signal kills us.
  std::fflush(stdout);
  std::fflush(stderr);
  std::raise(static_cast<int>(*sig));
  return 0;
}

int sleep_cmd(IoSession& s, Args& a) {
  char* end = nullptr;
  long ms = std::strtol(a[1], &end, 10);
  if (end == a[1] || *end != '\0' || ms < 0) {
    std::printf("Invalid sleep time: %s\n", a[1]);
    return -EINVAL;
  }
  usleep(static_cast<useconds_t>(ms) * 1000);
  if (s.device && s.device->io_engine()) s.device->io_engine()->poll(false);
  return 0;
}

int quit_cmd(IoSession& s, Args&) {
  s.quit = true;
  return 0;
}

int close_cmd(IoSession& s, Args&) {
  drain_aio(s);
  if (s.device) {
    auto r = s.device->close();
    s.device.reset();
    if (!r) {
      std::fprintf(stderr, "%s: %s\n", s.progname.c_str(), r.error().to_string().c_str());
      return -EIO;
    }
  }
  return 0;
}

int open_cmd(IoSession& s, Args& a);
int reopen_cmd(IoSession& s, Args& a);
int help_cmd(IoSession& s, Args& a);

const Command kCommands[] = {
    {"abort", abort_cmd, 0, 0, kNoFileOk, nullptr, "simulate a program crash using abort(3)"},
    {"aio_flush", aio_flush_cmd, 0, 0, 0, nullptr, "completes all outstanding aio requests"},
    {"aio_read", aio_read_cmd, 2, -1, 0, "[-Ciqv] [-P pattern] off len [len..]",
     "asynchronously reads a number of bytes"},
    {"aio_write", aio_write_cmd, 2, -1, kNeedsWrite, "[-Cfiquz] [-P pattern] off len [len..]",
     "asynchronously writes a number of bytes"},
    {"alloc", alloc_cmd, 1, 2, 0, "offset [count]", "checks if offset is allocated in the file"},
    {"close", close_cmd, 0, 0, 0, nullptr, "close the current open file"},
    {"discard", discard_cmd, 2, -1, kNeedsWrite, "[-Cq] off len",
     "discards a number of bytes at a specified offset"},
    {"flush", flush_cmd, 0, 0, 0, nullptr, "flush all in-core file state to disk"},
    {"help", help_cmd, 0, 1, kNoFileOk, "[command]", "help for one or all commands"},
    {"info", info_cmd, 0, 0, 0, nullptr, "prints information about the current file"},
    {"length", length_cmd, 0, 0, 0, nullptr, "gets the length of the current file"},
    {"map", map_cmd, 0, 0, 0, "", "prints the allocated areas of a file"},
    {"open", open_cmd, 1, -1, kNoFileOk, "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]",
     "open the file specified by path"},
    {"quit", quit_cmd, 0, 0, kNoFileOk, nullptr, "exit the program"},
    {"read", read_cmd, 2, -1, 0, "[-abCqv] [-P pattern [-s off] [-l len]] off len",
     "reads a number of bytes at a specified offset"},
    {"readv", readv_cmd, 2, -1, 0, "[-Cqv] [-P pattern] off len [len..]",
     "reads a number of bytes at a specified offset"},
    {"reopen", reopen_cmd, 0, -1, 0, "[(-r|-w)] [-c cache] [-o options]",
     "reopens an image with new options"},
    {"sigraise", sigraise_cmd, 1, 1, kNoFileOk, "signal", "raises a signal"},
    {"sleep", sleep_cmd, 1, 1, kNoFileOk, nullptr, "waits for the given value in milliseconds"},
    {"truncate", truncate_cmd, 1, 3, kNeedsWrite, "[-m prealloc_mode] off",
     "truncates the current file at the given offset"},
    {"write", write_cmd, 2, -1, kNeedsWrite, "[-bcCfnquz] [-P pattern | -s source_file] off len",
     "writes a number of bytes at a specified offset"},
    {"writev", writev_cmd, 2, -1, kNeedsWrite, "[-Cfq] [-P pattern] off len [len..]",
     "writes a number of bytes at a specified offset"},
};

// qemu-io's one-letter alternative names (cmdinfo_t.altname).
const struct {
  const char* alias;
  const char* name;
} kAltNames[] = {{"r", "read"},     {"w", "write"},  {"f", "flush"},
                 {"t", "truncate"}, {"l", "length"}, {"i", "info"},
                 {"d", "discard"},  {"a", "alloc"},  {"?", "help"}};

const Command* find_command(const char* name) {
  for (const auto& alt : kAltNames)
    if (std::strcmp(alt.alias, name) == 0) name = alt.name;
  for (const auto& c : kCommands)
    if (std::strcmp(c.name, name) == 0) return &c;
  return nullptr;
}

void print_oneline(const Command& c) {
  // Commands without arguments print "name -- ..."; map's empty argument string gives two spaces.
  if (c.args == nullptr) {
    std::printf("%s -- %s\n", c.name, c.oneline);
  } else {
    std::printf("%s %s -- %s\n", c.name, c.args, c.oneline);
  }
}

int help_cmd(IoSession&, Args& a) {
  if (a.size() == 1) {
    for (const auto& c : kCommands) print_oneline(c);
    std::printf("\nUse 'help commandname' for extended help.\n");
    return 0;
  }
  const Command* c = find_command(a[1]);
  if (c == nullptr) {
    std::printf("command %s not found\n", a[1]);
    return -EINVAL;
  }
  print_oneline(*c);
  std::printf("\n");
  return 0;
}

int open_cmd(IoSession& s, Args& a) {
  if (s.device) {
    std::fprintf(stderr, "%s: file open already, try 'help close'\n", s.progname.c_str());
    return -EBUSY;
  }
  block::OpenOptions options = s.options;
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "snCro:kt:d:i:U")) != -1;) {
    switch (c) {
      case 'r':
        options.read_only = true;
        break;
      case 'n':
        options.cache = block::CacheMode::kNone;
        break;
      case 't':
        if (!parse_cache_mode(optarg, &options.cache, s.progname)) return -EINVAL;
        break;
      case 'i':
        if (!parse_aio_mode(optarg, &options.aio, s.progname)) return -EINVAL;
        break;
      case 'k':
        options.aio = block::AioMode::kIoUring;
        break;
      case 'd':
      case 'U':
        break;
      case 'o':
        if (!apply_open_options(optarg, &options, s.progname)) return -EINVAL;
        break;
      case 's':
      case 'C':
        std::fprintf(stderr, "%s: open -%c is not supported by corvid-io\n", s.progname.c_str(), c);
        return -ENOTSUP;
      default:
        return print_usage("open");
    }
  }
  if (optind != static_cast<int>(a.size()) - 1) return print_usage("open");
  return open_device(s, a[optind], options) ? 0 : -EIO;
}

int reopen_cmd(IoSession& s, Args& a) {
  block::OpenOptions options = s.options;
  bool r = false, w = false;
  optind = 0;
  for (int c; (c = getopt(static_cast<int>(a.size()), a.data(), "c:o:rw")) != -1;) {
    switch (c) {
      case 'c':
        if (!parse_cache_mode(optarg, &options.cache, s.progname)) return -EINVAL;
        break;
      case 'o':
        if (!apply_open_options(optarg, &options, s.progname)) return -EINVAL;
        break;
      case 'r':
        r = true;
        options.read_only = true;
        break;
      case 'w':
        w = true;
        options.read_only = false;
        break;
      default:
        return print_usage("reopen");
    }
  }
  if (r && w) {
    std::fprintf(stderr, "%s: Only one -r/-w option may be given\n", s.progname.c_str());
    return -EINVAL;
  }
  if (optind != static_cast<int>(a.size())) return print_usage("reopen");
  // A reopen is a clean close and an open with the new options (pending I/O drained first).
  std::string path = s.path;
  Args none;
  if (close_cmd(s, none) < 0) return -EIO;
  return open_device(s, path, options) ? 0 : -EIO;
}

std::vector<std::string> split_line(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

}  // namespace

int print_usage(const char* name) {
  if (const Command* c = find_command(name)) print_oneline(*c);
  return -EINVAL;
}

bool open_device(IoSession& s, const std::string& path, const block::OpenOptions& options) {
  auto dev = block::open_image(path, options);
  if (!dev) {
    // Block-layer messages are complete, except a bare "Could not open '<path>'" from open(2).
    const Error& e = dev.error();
    bool bare =
        e.code != 0 && e.message.rfind("Could not open '", 0) == 0 && e.message.back() == '\'';
    std::fprintf(stderr, "%s: can't open device %s: %s\n", s.progname.c_str(), path.c_str(),
                 (bare ? e.to_string() : e.message).c_str());
    return false;
  }
  if (options.format.empty() && !options.read_only && (*dev)->format_name() == "raw") {
    std::fprintf(stderr,
                 "WARNING: Image format was not specified for '%s' and probing guessed raw.\n"
                 "         Automatically detecting the format is dangerous for raw images, write "
                 "operations on block 0 will be restricted.\n"
                 "         Specify the 'raw' format explicitly to remove the restrictions.\n",
                 path.c_str());
  }
  s.device = std::move(*dev);
  s.path = path;
  s.options = options;
  return true;
}

bool run_command(IoSession& s, const std::string& line) {
  std::vector<std::string> words = split_line(line);
  if (words.empty()) return true;
  const Command* c = find_command(words[0].c_str());
  if (c == nullptr) {
    std::fprintf(stderr, "command \"%s\" not found\n", words[0].c_str());
    return false;
  }
  if (!(c->flags & kNoFileOk) && !s.device) {
    std::fprintf(stderr, "no file open, try 'help open'\n");
    return false;
  }
  if ((c->flags & kNeedsWrite) && s.device && s.device->read_only()) {
    std::fprintf(stderr, "%s: Block node is read-only\n", s.progname.c_str());
    return false;
  }
  int argc = static_cast<int>(words.size()) - 1;
  if (argc < c->argmin || (c->argmax != -1 && argc > c->argmax)) {
    if (c->argmax == -1) {
      std::fprintf(stderr, "bad argument count %d to %s, expected at least %d arguments\n", argc,
                   c->name, c->argmin);
    } else if (c->argmin == c->argmax) {
      std::fprintf(stderr, "bad argument count %d to %s, expected %d arguments\n", argc, c->name,
                   c->argmin);
    } else {
      std::fprintf(stderr, "bad argument count %d to %s, expected between %d and %d arguments\n",
                   argc, c->name, c->argmin, c->argmax);
    }
    return false;
  }
  Args args;
  for (auto& w : words) args.push_back(w.data());
  return c->run(s, args) >= 0;
}

}  // namespace corvid::io
