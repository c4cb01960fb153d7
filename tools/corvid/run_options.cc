#include "tools/corvid/run_options.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "base/size.h"

namespace corvid::tools {
namespace {

// A drive given with QEMU's if=none, waiting for the -device that gives it a transport.
constexpr const char* kNoTransport = "none";

// "a,b=c,d" -> items; QEMU's option syntax (",," escapes a comma).
std::vector<std::string> split_options(const std::string& spec) {
  std::vector<std::string> items(1);
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == ',' && i + 1 < spec.size() && spec[i + 1] == ',') {
      items.back() += ',';
      ++i;
    } else if (spec[i] == ',') {
      items.emplace_back();
    } else {
      items.back() += spec[i];
    }
  }
  return items;
}

std::pair<std::string, std::string> key_value(const std::string& item) {
  size_t eq = item.find('=');
  if (eq == std::string::npos) return {item, ""};
  return {item.substr(0, eq), item.substr(eq + 1)};
}

Result<uint64_t> parse_number(const std::string& what, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 0);
  if (v.empty() || *end || errno) return errorf(EINVAL, "{}={}: expected a number", what, v);
  return n;
}

Result<bool> parse_on_off(const std::string& key, const std::string& v) {
  if (v == "on" || v == "yes" || v == "true") return true;
  if (v == "off" || v == "no" || v == "false") return false;
  return errorf(EINVAL, "{}={}: expected on or off", key, v);
}

Result<int> parse_count(const std::string& opt, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || n < 1 || n > 4096)
    return errorf(EINVAL, "{} {}: expected a positive number", opt, v);
  return static_cast<int>(n);
}

}  // namespace

void print_run_usage(FILE* out) {
  std::fprintf(
      out,
      "Usage: corvid run --kernel FILE [OPTIONS]\n"
      "       corvid run --domain FILE.xml [--qmp unix:PATH,server] [--no-reboot] [-v]\n"
      "       corvid domain start FILE.xml [...]   (the same as run --domain FILE.xml)\n"
      "\n"
      "  --kernel FILE        Linux bzImage, multiboot v1 image or PVH ELF (Xen note 18)\n"
      "  --initrd FILE        initial ramdisk\n"
      "  --append STRING      kernel command line\n"
      "  -m, --memory SIZE    guest RAM (default 256M; suffixes k M G, bare number = MiB)\n"
      "  --smp N              number of vCPUs (default 1)\n"
      "  --accel NAME         kvm | xen | tcg | auto (default auto: kvm, then xen, then tcg)\n"
      "  --drive SPEC         file=PATH[,format=raw|qcow2][,cache=writeback|writethrough|none|\n"
      "                       directsync|unsafe][,aio=io_uring|threads][,readonly=on]\n"
      "                       [,if=virtio|mmio|none][,serial=S][,discard=unmap][,id=ID]\n"
      "  --serial SPEC        stdio | pty | file:PATH | socket:PATH | none (default stdio;\n"
      "                       on stdio: Ctrl-A X quits, Ctrl-A H lists the keys)\n"
      "  --rng                add a virtio-rng device\n"
      "  --dump-dtb FILE      write the machine's device tree blob to FILE\n"
      "  --dump-acpi DIR      write the machine's ACPI tables to DIR (SIG.dat, for iasl -d)\n"
      "  --no-reboot          exit instead of rebooting when the guest resets\n"
      "  --qmp unix:PATH,server  serve QMP (QEMU 7.2's protocol) on a unix socket\n"
      "  --domain FILE.xml    take the VM from a libvirt domain XML\n"
      "  -v, --verbose        log what corvid does (same as CORVID_LOG=info)\n"
      "  -S                   start with the vCPUs paused (QMP 'cont' starts them)\n"
      "\n"
      "QEMU's spellings work too: one dash (-kernel, -append, -initrd, -smp N[,cpus=N], -drive,\n"
      "-serial mon:stdio|unix:PATH,server, -qmp, -no-reboot), -accel NAME[,..], -enable-kvm,\n"
      "-M/-machine TYPE[,accel=A] (pc, q35, microvm: corvid has one board), -cpu (ignored),\n"
      "-device virtio-blk-pci|virtio-blk-device,drive=ID[,num-queues=N][,serial=S] with\n"
      "-drive ...,if=none,id=ID; -device virtio-rng-pci|virtio-rng-device;\n"
      "-device isa-debug-exit,iobase=0xf4; -name, -uuid; -nographic, -nodefaults,\n"
      "-no-user-config, -display none (nothing to turn off).\n"
      "\n"
      "The exit status is the guest's debug-exit value (port 0xf4), 0 on power-off.\n");
}

Result<config::DriveConfig> parse_drive(const std::string& spec) {
  config::DriveConfig d;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      return errorf(EINVAL, "--drive {}: '{}' is not key=value", spec, item);
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "file") {
      d.file = value;
    } else if (key == "format") {
      if (value != "raw" && value != "qcow2")
        return errorf(EINVAL, "--drive: unknown format '{}' (raw or qcow2)", value);
      d.format = value;
    } else if (key == "cache") {
      if (value != "writeback" && value != "writethrough" && value != "none" &&
          value != "directsync" && value != "unsafe")
        return errorf(EINVAL, "--drive: unknown cache mode '{}'", value);
      d.cache = value;
    } else if (key == "aio") {
      if (value != "io_uring" && value != "threads")
        return errorf(EINVAL, "--drive: unknown aio mode '{}' (io_uring or threads)", value);
      d.aio = value;
    } else if (key == "readonly") {
      d.read_only = CORVID_TRY(parse_on_off("readonly", value));
    } else if (key == "if") {
      if (value == "virtio")
        d.transport = "pci";
      else if (value == "mmio")
        d.transport = "mmio";
      else if (value == "none")  // QEMU: a backend for a later -device virtio-blk-*,drive=ID
        d.transport = kNoTransport;
      else
        return errorf(EINVAL, "--drive: unknown interface '{}' (virtio, mmio or none)", value);
    } else if (key == "media") {
      if (value != "disk") return errorf(EINVAL, "--drive: media={} (only disk)", value);
    } else if (key == "serial") {
      d.serial = value;
    } else if (key == "discard") {
      if (value != "unmap" && value != "ignore")
        return errorf(EINVAL, "--drive: discard={} (unmap or ignore)", value);
      d.discard = value == "unmap";
    } else if (key == "id") {
      d.id = value;
    } else {
      return errorf(EINVAL, "--drive: unknown option '{}'", key);
    }
  }
  if (d.file.empty()) return errorf(EINVAL, "--drive {}: file= is required", spec);
  if (d.transport == kNoTransport && d.id.empty())
    return errorf(EINVAL, "--drive {}: if=none needs an id= for -device ...,drive=ID", spec);
  return d;
}

namespace {

// QEMU's -device for what corvid's board has: virtio-blk (over an if=none drive), virtio-rng, and
// the isa-debug-exit port corvid always has at 0xf4.
Result<> apply_device(config::VmConfig& c, const std::string& spec) {
  std::vector<std::string> items = split_options(spec);
  const std::string driver = items.front();
  if (driver == "virtio-blk-pci" || driver == "virtio-blk-device" || driver == "virtio-blk") {
    std::string drive, serial;
    unsigned queues = 1;
    for (size_t i = 1; i < items.size(); ++i) {
      auto [k, v] = key_value(items[i]);
      if (k == "drive")
        drive = v;
      else if (k == "serial")
        serial = v;
      else if (k == "num-queues")
        queues = static_cast<unsigned>(CORVID_TRY(parse_number("num-queues", v)));
      else if ((k == "disable-legacy" && v != "on") || (k == "disable-modern" && v != "off"))
        return errorf(EINVAL, "-device {}: {}={}: corvid's virtio is modern-only (virtio 1.x)",
                      driver, k, v);
      else if (k == "disable-legacy" || k == "disable-modern")
        continue;
      else if (k != "id" && k != "bus" && k != "addr")
        return errorf(EINVAL, "-device {}: unsupported property '{}'", driver, k);
    }
    if (drive.empty()) return errorf(EINVAL, "-device {}: drive=ID is required", driver);
    for (auto& d : c.drives) {
      if (d.id != drive) continue;
      if (d.transport != kNoTransport)
        return errorf(EINVAL, "-device {}: drive '{}' is already attached (give it if=none)",
                      driver, drive);
      d.transport = driver == "virtio-blk-device" ? "mmio" : "pci";
      d.num_queues = queues;
      if (!serial.empty()) d.serial = serial;
      return {};
    }
    return errorf(EINVAL, "-device {}: no -drive with id={}", driver, drive);
  }
  if (driver == "virtio-rng-pci" || driver == "virtio-rng-device" || driver == "virtio-rng") {
    c.virtio_rng = true;
    return {};
  }
  if (driver == "pc-testdev") {
    // QEMU's test device (hw/testdev): corvid's board always has it (0xe0, 0x2000 IRQ lines).
    if (items.size() > 1 && key_value(items[1]).first != "id")
      return errorf(EINVAL, "-device pc-testdev: unsupported property '{}'", items[1]);
    return {};
  }
  if (driver == "isa-debug-exit") {
    for (size_t i = 1; i < items.size(); ++i) {
      auto [k, v] = key_value(items[i]);
      if (k == "iobase" && CORVID_TRY(parse_number(k, v)) != 0xf4)
        return errorf(EINVAL, "-device isa-debug-exit: corvid's debug-exit port is iobase=0xf4");
      if (k != "iobase" && k != "iosize" && k != "id")
        return errorf(EINVAL, "-device isa-debug-exit: unsupported property '{}'", k);
    }
    return {};
  }
  return errorf(EINVAL,
                "-device {}: not a device corvid has (virtio-blk-pci, virtio-blk-device, "
                "virtio-rng-pci, virtio-rng-device, isa-debug-exit, pc-testdev)",
                driver);
}

// QEMU's -machine/-M TYPE[,accel=A][,...]: corvid has one board, so the type and the board
// properties are accepted as the nearest equivalent; accel= chooses the accelerator.
Result<> apply_machine(config::VmConfig& c, const std::string& spec) {
  std::vector<std::string> items = split_options(spec);
  for (const auto& item : items) {
    auto [k, v] = key_value(item);
    if (k == "accel") {
      // "kvm:tcg" is QEMU's fallback list: corvid's auto does that (kvm, xen, tcg).
      c.accel = v.find(':') != std::string::npos ? "auto" : v;
    } else if (k == "help" || k == "?") {
      return errorf(EINVAL,
                    "-machine: corvid has one x86-64 board (pc, q35 and microvm map to it)");
    }
  }
  return {};
}

// QEMU's -smp [cpus=]N[,sockets=..,cores=..,threads=..,maxcpus=..].
Result<int> parse_smp(const std::string& spec) {
  std::string count;
  for (const auto& item : split_options(spec)) {
    auto [k, v] = key_value(item);
    if (v.empty() && count.empty()) count = k;
    if (k == "cpus") count = v;
  }
  return parse_count("--smp", count);
}

// QEMU's -serial: mon:stdio, unix:PATH,server[,nowait], null, and corvid's own forms.
Result<config::SerialConfig> parse_serial(const std::string& v) {
  if (v == "stdio" || v == "pty" || v == "none" || v == "mon:stdio")
    return config::SerialConfig{v == "mon:stdio" ? "stdio" : v, ""};
  if (v == "null") return config::SerialConfig{"none", ""};
  if (v.starts_with("file:")) return config::SerialConfig{"file", v.substr(5)};
  if (v.starts_with("socket:")) return config::SerialConfig{"socket", v.substr(7)};
  if (v.starts_with("unix:")) {
    std::vector<std::string> items = split_options(v.substr(5));
    bool server = false;
    for (size_t i = 1; i < items.size(); ++i)
      if (items[i] == "server" || items[i] == "server=on") server = true;
    if (!server) return errorf(EINVAL, "--serial {}: corvid only listens (add ',server')", v);
    return config::SerialConfig{"socket", items.front()};
  }
  return errorf(
      EINVAL, "--serial {}: expected stdio, pty, file:PATH, socket:PATH, unix:PATH,server or none",
      v);
}

}  // namespace

Result<RunArgs> parse_run_args(const std::vector<std::string>& args) {
  RunArgs r;
  config::VmConfig& c = r.config;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string opt = args[i], value;
    bool inline_value = false;
    if (opt.starts_with("--") && opt.find('=') != std::string::npos) {
      value = opt.substr(opt.find('=') + 1);
      opt = opt.substr(0, opt.find('='));
      inline_value = true;
    }
    // QEMU spells its long options with one dash (-kernel, -smp, -drive ...): so may we.
    if (opt.size() > 2 && opt[0] == '-' && opt[1] != '-') opt = "-" + opt;
    if (opt == "-M") opt = "--machine";
    auto need_value = [&]() -> Result<std::string> {
      if (inline_value) return value;
      if (i + 1 >= args.size()) return errorf(EINVAL, "{} needs a value", opt);
      return args[++i];
    };
    if (opt == "-h" || opt == "--help") {
      r.help = true;
    } else if (opt == "-v" || opt == "--verbose") {
      r.verbose = true;
    } else if (opt == "-S") {
      r.start_paused = true;
    } else if (opt == "--no-reboot") {
      r.no_reboot = true;
    } else if (opt == "--rng") {
      c.virtio_rng = true;
    } else if (opt == "--kernel") {
      c.kernel = CORVID_TRY(need_value());
    } else if (opt == "--initrd") {
      c.initrd = CORVID_TRY(need_value());
    } else if (opt == "--append") {
      c.cmdline = CORVID_TRY(need_value());
    } else if (opt == "-m" || opt == "--memory") {
      std::string v = CORVID_TRY(need_value());
      auto size = parse_size(v, 1ull << 20);
      if (!size) return errorf(EINVAL, "--memory {}: {}", v, size.error().message);
      c.memory_bytes = *size;
    } else if (opt == "--smp") {
      c.vcpus = CORVID_TRY(parse_smp(CORVID_TRY(need_value())));
    } else if (opt == "--accel") {
      // QEMU's -accel NAME[,prop=..] (thread=multi, ...): the name is what matters.
      std::string v = CORVID_TRY(need_value());
      c.accel = v.substr(0, v.find(','));
    } else if (opt == "--enable-kvm") {
      c.accel = "kvm";
    } else if (opt == "--machine") {
      CORVID_TRY_VOID(apply_machine(c, CORVID_TRY(need_value())));
    } else if (opt == "--cpu") {
      // corvid's vCPU model is fixed (KVM: the host's, filtered; tcg: the one it implements).
      CORVID_TRY(need_value());
    } else if (opt == "--device") {
      CORVID_TRY_VOID(apply_device(c, CORVID_TRY(need_value())));
    } else if (opt == "--name") {
      // -name NAME or -name guest=NAME[,...]
      std::vector<std::string> items = split_options(CORVID_TRY(need_value()));
      for (size_t k = 0; k < items.size(); ++k) {
        auto [key, val] = key_value(items[k]);
        if (k == 0 && items[k].find('=') == std::string::npos) c.name = key;
        if (key == "guest") c.name = val;
      }
    } else if (opt == "--uuid") {
      c.uuid = CORVID_TRY(need_value());
    } else if (opt == "--display" || opt == "--vga" || opt == "--vnc") {
      std::string v = CORVID_TRY(need_value());
      if (v != "none")
        return errorf(EINVAL, "{} {}: corvid has no display (only 'none')", opt.substr(1), v);
    } else if (opt == "--nographic" || opt == "--nodefaults" || opt == "--no-user-config") {
      // corvid has no display and no default devices beyond its board: nothing to turn off.
    } else if (opt == "--drive") {
      c.drives.push_back(CORVID_TRY(parse_drive(CORVID_TRY(need_value()))));
    } else if (opt == "--serial") {
      c.serial = CORVID_TRY(parse_serial(CORVID_TRY(need_value())));
    } else if (opt == "--dump-dtb") {
      c.dump_dtb = CORVID_TRY(need_value());
    } else if (opt == "--dump-acpi") {
      r.dump_acpi = CORVID_TRY(need_value());
    } else if (opt == "--domain") {
      r.domain = CORVID_TRY(need_value());
    } else if (opt == "--qmp") {
      c.qmp_socket = CORVID_TRY(need_value());
    } else {
      return errorf(EINVAL, "unknown option '{}' (try 'corvid run --help')", args[i]);
    }
  }
  if (c.accel != "kvm" && c.accel != "xen" && c.accel != "tcg" && c.accel != "auto")
    return errorf(EINVAL, "--accel {}: expected kvm, xen, tcg or auto", c.accel);
  for (const auto& d : c.drives)
    if (d.transport == kNoTransport)
      return errorf(EINVAL, "--drive id={},if=none: no -device virtio-blk-pci,drive={} uses it",
                    d.id, d.id);
  if (!r.help && c.kernel.empty() && r.domain.empty())
    return make_error(EINVAL, "--kernel FILE (or --domain FILE.xml) is required");
  return r;
}

hw::MachineOptions machine_options(const config::VmConfig& c) {
  hw::MachineOptions m;
  m.memory_bytes = c.memory_bytes;
  m.vcpus = c.vcpus;
  m.accel = c.accel;
  m.kernel = c.kernel;
  m.initrd = c.initrd;
  m.cmdline = c.cmdline;
  m.virtio_rng = c.virtio_rng;
  m.virtio_console = c.virtio_console;
  m.dump_dtb = c.dump_dtb;
  for (const auto& d : c.drives) {
    hw::DriveOptions o;
    o.file = d.file;
    o.format = d.format;
    o.cache = d.cache;
    o.aio = d.aio;
    o.read_only = d.read_only;
    o.serial = d.serial;
    o.mmio = d.transport == "mmio";
    o.num_queues = d.num_queues;
    m.drives.push_back(std::move(o));
  }
  return m;
}

std::string serial_spec(const config::SerialConfig& s) {
  if (s.kind == "file" || s.kind == "socket") return s.kind + ":" + s.path;
  return s.kind.empty() ? "stdio" : s.kind;
}

}  // namespace corvid::tools
