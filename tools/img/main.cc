// corvid-img: qemu-img's command line over corvid's block layer (see docs/tools.md).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "base/version.h"
#include "tools/img/img_common.h"

namespace {

using Handler = int (*)(int, char**);
struct Command {
  const char* name;
  Handler run;
  const char* synopsis;
};

const Command kCommands[] = {
    {"amend", corvid::img::cmd_amend, "amend [-f fmt] [-t cache] [-p] [-q] -o options filename"},
    {"bench", corvid::img::cmd_bench,
     "bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] "
     "[--no-drain] [-o offset] [--pattern=pattern_byte] [-q] [-s buffer_size] [-S step_size] [-t "
     "cache] [-w] [-U] filename"},
    {"check", corvid::img::cmd_check,
     "check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename"},
    {"commit", corvid::img::cmd_commit,
     "commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] filename"},
    {"compare", corvid::img::cmd_compare,
     "compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2"},
    {"convert", corvid::img::cmd_convert,
     "convert [-U] [-c] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-o options] [-S "
     "sparse_size] [-p] [-q] [-n] filename [filename2 [...]] output_filename"},
    {"create", corvid::img::cmd_create,
     "create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]"},
    {"dd", corvid::img::cmd_dd,
     "dd [--image-opts] [-U] [--object objectdef] [-f fmt] [-O output_fmt] [bs=block_size] "
     "[count=blocks] [skip=blocks] if=input of=output"},
    {"info", corvid::img::cmd_info,
     "info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename"},
    {"map", corvid::img::cmd_map,
     "map [-f fmt] [--output=ofmt] [--start-offset=offset] [--max-length=len] [-U] filename"},
    {"measure", corvid::img::cmd_measure,
     "measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]"},
    {"snapshot", corvid::img::cmd_snapshot,
     "snapshot [-q] [-l | -a snapshot | -c snapshot | -d snapshot] [-U] filename"},
    {"rebase", corvid::img::cmd_rebase,
     "rebase [-f fmt] [-t cache] [-T src_cache] [-p] [-q] [-u] -b backing_file [-F backing_fmt] "
     "filename"},
    {"resize", corvid::img::cmd_resize, "resize [-f fmt] [--shrink] [-q] filename [+ | -]size"},
};

void usage(const char* prog) {
  std::printf(
      "%s version %s\nusage: %s [standard options] command [command options]\n"
      "corvid disk image utility (qemu-img compatible)\n\n"
      "    '-h', '--help'       display this help and exit\n"
      "    '-V', '--version'    output version information and exit\n\n"
      "Command syntax:\n",
      prog, corvid::version(), prog);
  for (const auto& c : kCommands) std::printf("  %s\n", c.synopsis);
}

}  // namespace

int main(int argc, char** argv) {
  corvid::img::set_progname(argv[0]);
  const char* slash = std::strrchr(argv[0], '/');
  const char* prog = slash ? slash + 1 : argv[0];  // --help/--version name the binary
  // Standard options come before the command (qemu-img's "+" getopt: stop at the first word).
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(prog);
      return 0;
    }
    if (a == "-V" || a == "--version") {
      std::printf("%s version %s\n", prog, corvid::version());
      return 0;
    }
    if (a == "-T" || a == "--trace") {
      ++i;  // tracing is QEMU's; accepted and ignored
      continue;
    }
    if (a.rfind("--trace=", 0) == 0) continue;
    return corvid::img::usage_error("unrecognized option '{}'", argv[i]);
  }
  if (i >= argc) return corvid::img::usage_error("Not enough arguments");
  for (const auto& c : kCommands) {
    if (std::strcmp(c.name, argv[i]) != 0) continue;
    // --image-opts: the file arguments are option strings; they become file names (and a
    // format) before the command parses its arguments.
    std::vector<char*> args(argv + i, argv + argc);
    std::vector<std::string> storage;
    storage.reserve(args.size());
    auto opts = std::find_if(args.begin(), args.end(),
                             [](char* a) { return std::strcmp(a, "--image-opts") == 0; });
    if (opts != args.end()) {
      args.erase(opts);
      for (auto& a : args) {
        if (std::strstr(a, "filename=") == nullptr) continue;
        auto path = corvid::img::apply_image_opts(a);
        if (!path) return 1;
        storage.push_back(*path);
        a = storage.back().data();
      }
    }
    return c.run(static_cast<int>(args.size()), args.data());
  }
  return corvid::img::usage_error("Command not found: {}", argv[i]);
}
