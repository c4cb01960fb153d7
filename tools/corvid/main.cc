// corvid: the VM launcher.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "base/version.h"
#include "tools/corvid/run_command.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "Usage: corvid COMMAND [OPTIONS]\n"
               "\n"
               "Commands:\n"
               "  run      start a virtual machine (see 'corvid run --help')\n"
               "  domain start FILE.xml [OPTIONS]\n"
               "           start the virtual machine a libvirt domain XML describes\n"
               "\n"
               "Options:\n"
               "  -h, --help     show this help\n"
               "  -V, --version  show the version\n");
}

int run(std::vector<std::string> args) {
  auto parsed = corvid::tools::parse_run_args(args);
  if (!parsed) {
    std::fprintf(stderr, "corvid run: %s\n", parsed.error().message.c_str());
    return 1;
  }
  if (parsed->help) {
    corvid::tools::print_run_usage(stdout);
    return 0;
  }
  return corvid::tools::run_vm(*parsed);
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
  if (cmd == "run") return run(std::vector<std::string>(argv + 2, argv + argc));
  if (cmd == "domain") {
    if (argc < 4 || std::string_view(argv[2]) != "start") {
      std::fprintf(stderr, "Usage: corvid domain start FILE.xml [OPTIONS]\n");
      return 1;
    }
    std::vector<std::string> args{"--domain", argv[3]};
    args.insert(args.end(), argv + 4, argv + argc);
    return run(std::move(args));
  }
  std::fprintf(stderr, "corvid: unknown command '%s' (try 'corvid --help')\n", argv[1]);
  return 1;
}
