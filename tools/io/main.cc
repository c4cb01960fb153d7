// corvid-io: qemu-io's command line over corvid's block layer.
#include <cstdio>
#include <string_view>

#include "base/version.h"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf("Usage: corvid-io [OPTIONS]... [-c STRING]... [file]\n");
      return 0;
    }
    if (a == "-V" || a == "--version") {
      std::printf("corvid-io version %s\n", corvid::version());
      return 0;
    }
  }
  std::fprintf(stderr, "corvid-io: no image given\n");
  return 1;
}
