// corvid: the VM launcher.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "base/version.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "Usage: corvid COMMAND [OPTIONS]\n"
               "\n"
               "Commands:\n"
               "  run      start a virtual machine (see 'corvid run --help')\n"
               "\n"
               "Options:\n"
               "  -h, --help     show this help\n"
               "  -V, --version  show the version\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 1;
  }
  std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "-V" || cmd == "--version") {
    std::printf("corvid version %s\n", corvid::version());
    return 0;
  }
  std::fprintf(stderr, "corvid: unknown command '%s' (try 'corvid --help')\n", argv[1]);
  return 1;
}
