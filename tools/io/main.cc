// corvid-io: qemu-io's command line over corvid's block layer. Options and commands follow
// qemu-io 7.2 (see docs/tools.md); the tool exits 1 when the open or any command failed.
#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "base/version.h"
#include "tools/io/io_commands.h"
#include "tools/io/io_options.h"

namespace {

void usage(const char* name) {
  std::printf(
      "Usage: %s [OPTIONS]... [-c STRING]... [file]\n"
      "corvid disk exerciser (qemu-io compatible)\n"
      "\n"
      "  --image-opts         treat file as option string\n"
      "  -c, --cmd STRING     execute command with its arguments\n"
      "                       from the given string\n"
      "  -f, --format FMT     specifies the block driver to use\n"
      "  -r, --read-only      export read-only\n"
      "  -n, --nocache        disable host cache, short for -t none\n"
      "  -k, --native-aio     use kernel AIO implementation (served by io_uring)\n"
      "  -i, --aio=MODE       use AIO mode (threads, native or io_uring)\n"
      "  -t, --cache=MODE     use the given cache mode for the image\n"
      "  -d, --discard=MODE   accepted for compatibility\n"
      "  -U, --force-share    accepted for compatibility (corvid takes no image locks)\n"
      "  -h, --help           display this help and exit\n"
      "  -V, --version        output version information and exit\n"
      "\n"
      "See '%s -c help' for information on available commands.\n",
      name, name);
}

// --image-opts: "driver=qcow2,file.filename=disk.qcow2[,key=value...]".
bool parse_image_opts(const std::string& text, std::string* path, corvid::block::OpenOptions* o,
                      const std::string& progname) {
  std::string rest;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.rfind("file.filename=", 0) == 0) {
      *path = item.substr(14);
    } else if (item.rfind("filename=", 0) == 0) {
      *path = item.substr(9);
    } else if (!item.empty()) {
      rest += (rest.empty() ? "" : ",") + item;
    }
  }
  if (!rest.empty() && !corvid::io::apply_open_options(rest.c_str(), o, progname)) return false;
  if (path->empty()) {
    std::fprintf(stderr, "%s: can't open: A block device must be specified for \"file\"\n",
                 progname.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using corvid::io::IoSession;
  IoSession s;
  // Messages say "qemu-io: ..." whatever the binary is called (scripts and QEMU's iotests match
  // the prefix literally); --help and --version name the binary itself.
  const char* slash = std::strrchr(argv[0], '/');
  const std::string binary = slash ? slash + 1 : argv[0];

  enum { kImageOpts = 256, kObject };
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, 'V'},
                                 {"cmd", required_argument, nullptr, 'c'},
                                 {"format", required_argument, nullptr, 'f'},
                                 {"read-only", no_argument, nullptr, 'r'},
                                 {"snapshot", no_argument, nullptr, 's'},
                                 {"nocache", no_argument, nullptr, 'n'},
                                 {"copy-on-read", no_argument, nullptr, 'C'},
                                 {"misalign", no_argument, nullptr, 'm'},
                                 {"native-aio", no_argument, nullptr, 'k'},
                                 {"discard", required_argument, nullptr, 'd'},
                                 {"cache", required_argument, nullptr, 't'},
                                 {"trace", required_argument, nullptr, 'T'},
                                 {"aio", required_argument, nullptr, 'i'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {"image-opts", no_argument, nullptr, kImageOpts},
                                 {"object", required_argument, nullptr, kObject},
                                 {nullptr, 0, nullptr, 0}};
  std::vector<std::string> commands;
  corvid::block::OpenOptions options;
  // qemu-io's default cache mode is writethrough: every write, metadata included, is on disk
  // when it completes (039 relies on it: a crash right after a write leaves its L2 entry).
  options.cache = corvid::block::CacheMode::kWritethrough;
  bool image_opts = false, native = false;
  for (int c; (c = getopt_long(argc, argv, "hVc:d:f:rsnCmkt:T:Ui:", kLong, nullptr)) != -1;) {
    switch (c) {
      case 'h':
        usage(binary.c_str());
        return 0;
      case 'V':
        std::printf("%s version %s\n", binary.c_str(), corvid::version());
        return 0;
      case 'c':
        commands.push_back(optarg);
        break;
      case 'f':
        options.format = optarg;
        break;
      case 'r':
        options.read_only = true;
        break;
      case 'n':
        options.cache = corvid::block::CacheMode::kNone;
        break;
      case 'k':
        native = true;
        options.aio = corvid::block::AioMode::kIoUring;
        break;
      case 't':
        if (!corvid::io::parse_cache_mode(optarg, &options.cache, s.progname)) return 1;
        break;
      case 'i':
        if (!corvid::io::parse_aio_mode(optarg, &options.aio, s.progname)) return 1;
        native = std::strcmp(optarg, "native") == 0;
        break;
      case 'd':
      case 'm':
      case 'T':
      case 'U':
        break;
      case 's':
      case 'C':
      case kObject:
        std::fprintf(stderr, "%s: option '%s' is not supported\n", s.progname.c_str(),
                     argv[optind - 1]);
        return 1;
      case kImageOpts:
        image_opts = true;
        break;
      default:
        usage(binary.c_str());
        return 1;
    }
  }
  if (optind < argc - 1) {
    usage(binary.c_str());
    return 1;
  }
  if (native && options.cache != corvid::block::CacheMode::kNone &&
      options.cache != corvid::block::CacheMode::kDirectSync) {
    std::fprintf(stderr,
                 "%s: can't open device %s: aio=native was specified, but it requires "
                 "cache.direct=on, which was not specified.\n",
                 s.progname.c_str(), optind < argc ? argv[optind] : "");
    return 1;
  }
  if (optind == argc - 1) {
    std::string path = argv[optind];
    if (image_opts && !parse_image_opts(argv[optind], &path, &options, s.progname)) return 1;
    if (!corvid::io::open_device(s, path, options)) return 1;
  }
  s.options = options;

  bool failed = false;
  if (!commands.empty()) {
    for (const auto& cmd : commands) {
      if (!corvid::io::run_command(s, cmd)) failed = true;
      if (s.quit) break;
    }
  } else {
    std::string line;
    for (;;) {
      std::printf("%s> ", "qemu-io");
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (!corvid::io::run_command(s, line)) failed = true;
      if (s.quit) break;
    }
  }
  // Pending aio completes (printing its reports) before the image is closed cleanly.
  corvid::io::drain_aio(s);
  if (s.device) {
    auto r = s.device->close();
    if (!r) {
      std::fprintf(stderr, "%s: %s\n", s.progname.c_str(), r.error().to_string().c_str());
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
