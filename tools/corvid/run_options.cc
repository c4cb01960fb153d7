#include "tools/corvid/run_options.h"

#include <cstdio>
#include <cstdlib>

#include "base/size.h"

namespace corvid::tools {
namespace {

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
      "                       [,if=virtio|mmio][,serial=S][,discard=unmap]\n"
      "  --serial SPEC        stdio | pty | file:PATH | socket:PATH | none (default stdio;\n"
      "                       on stdio: Ctrl-A X quits, Ctrl-A H lists the keys)\n"
      "  --rng                add a virtio-rng device\n"
      "  --dump-dtb FILE      write the machine's device tree blob to FILE\n"
      "  --dump-acpi DIR      write the machine's ACPI tables to DIR (SIG.dat, for iasl -d)\n"
      "  --no-reboot          exit instead of rebooting when the guest resets\n"
      "  --qmp unix:PATH,server  serve QMP (QEMU 7.2's protocol) on a unix socket\n"
      "  --domain FILE.xml    take the VM from a libvirt domain XML\n"
      "  -v, --verbose        log what corvid does (same as CORVID_LOG=info)\n"
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
      else
        return errorf(EINVAL, "--drive: unknown interface '{}' (virtio or mmio)", value);
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
  return d;
}

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
    auto need_value = [&]() -> Result<std::string> {
      if (inline_value) return value;
      if (i + 1 >= args.size()) return errorf(EINVAL, "{} needs a value", opt);
      return args[++i];
    };
    if (opt == "-h" || opt == "--help") {
      r.help = true;
    } else if (opt == "-v" || opt == "--verbose") {
      r.verbose = true;
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
      c.vcpus = CORVID_TRY(parse_count(opt, CORVID_TRY(need_value())));
    } else if (opt == "--accel") {
      c.accel = CORVID_TRY(need_value());
      if (c.accel != "kvm" && c.accel != "xen" && c.accel != "tcg" && c.accel != "auto")
        return errorf(EINVAL, "--accel {}: expected kvm, xen, tcg or auto", c.accel);
    } else if (opt == "--drive") {
      c.drives.push_back(CORVID_TRY(parse_drive(CORVID_TRY(need_value()))));
    } else if (opt == "--serial") {
      std::string v = CORVID_TRY(need_value());
      if (v == "stdio" || v == "pty" || v == "none") {
        c.serial = {v, ""};
      } else if (v.starts_with("file:")) {
        c.serial = {"file", v.substr(5)};
      } else if (v.starts_with("socket:")) {
        c.serial = {"socket", v.substr(7)};
      } else {
        return errorf(EINVAL, "--serial {}: expected stdio, pty, file:PATH, socket:PATH or none",
                      v);
      }
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
    m.drives.push_back(std::move(o));
  }
  return m;
}

std::string serial_spec(const config::SerialConfig& s) {
  if (s.kind == "file" || s.kind == "socket") return s.kind + ":" + s.path;
  return s.kind.empty() ? "stdio" : s.kind;
}

}  // namespace corvid::tools
