// corvid-img: qemu-img's command line over corvid's block layer.
#include <cstdio>
#include <string_view>

#include "base/version.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "corvid-img version %s\n"
               "usage: corvid-img [standard options] command [command options]\n"
               "QEMU disk image utility, corvid implementation\n"
               "\n"
               "    '-h', '--help'       display this help and exit\n"
               "    '-V', '--version'    output version information and exit\n",
               corvid::version());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "corvid-img: Not enough arguments\nTry 'corvid-img --help' for more information\n");
    return 1;
  }
  std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "-V" || cmd == "--version") {
    std::printf("corvid-img version %s\n", corvid::version());
    return 0;
  }
  std::fprintf(stderr, "corvid-img: Command not found: %s\n", argv[1]);
  return 1;
}
