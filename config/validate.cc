// The one validation of a VmConfig, shared by `corvid run`'s options and domain XML.
#include "config/validate.h"

#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "base/size.h"

namespace corvid::config {
namespace {

template <size_t N>
bool one_of(const std::string& v, const std::array<const char*, N>& allowed) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; });
}

template <size_t N>
std::string joined(const std::array<const char*, N>& allowed) {
  std::string out;
  for (const char* a : allowed) out += (out.empty() ? "" : ", ") + std::string(a);
  return out;
}

bool canonical_uuid(const std::string& u) {
  if (u.size() != 36) return false;
  for (size_t i = 0; i < u.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !std::isxdigit(static_cast<unsigned char>(u[i]))) return false;
  }
  return true;
}

Result<> check_access(const std::string& what, const std::string& path, int mode) {
  if (::access(path.c_str(), mode) != 0) return errno_error("{} '{}'", what, path);
  return {};
}

}  // namespace

std::string_view lifecycle_action_name(LifecycleAction action) {
  switch (action) {
    case LifecycleAction::kDestroy:
      return "destroy";
    case LifecycleAction::kRestart:
      return "restart";
    case LifecycleAction::kPreserve:
      return "preserve";
  }
  return "?";
}

Result<> validate_vm_config(const VmConfig& c) {
  static constexpr std::array kAccels = {"kvm", "xen", "tcg", "auto"};
  static constexpr std::array kFormats = {"", "raw", "qcow2"};
  static constexpr std::array kCaches = {"writeback", "writethrough", "none", "directsync",
                                         "unsafe"};
  static constexpr std::array kAios = {"io_uring", "threads"};
  static constexpr std::array kTransports = {"pci", "mmio"};
  static constexpr std::array kSerials = {"stdio", "file", "socket", "pty", "none"};

  if (c.name.empty()) return errorf(0, "the VM needs a name");
  if (!c.uuid.empty() && !canonical_uuid(c.uuid))
    return errorf(0, "uuid '{}' is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", c.uuid);
  if (c.memory_bytes < kMinMemoryBytes || c.memory_bytes > kMaxMemoryBytes)
    return errorf(0, "memory {} is out of range ({} to {})", format_size(c.memory_bytes),
                  format_size(kMinMemoryBytes), format_size(kMaxMemoryBytes));
  if (c.memory_bytes % 4096)
    return errorf(0, "memory {} bytes is not a multiple of the 4 KiB page size", c.memory_bytes);
  if (c.vcpus < 1 || c.vcpus > kMaxVcpus)
    return errorf(0, "{} vCPUs is out of range (1 to {})", c.vcpus, kMaxVcpus);
  if (!one_of(c.accel, kAccels))
    return errorf(0, "accelerator '{}' is not one of {}", c.accel, joined(kAccels));
  if (c.kernel.empty()) return errorf(0, "no kernel: corvid boots a kernel image directly");
  CORVID_TRY_VOID(check_access("kernel", c.kernel, R_OK));
  if (!c.initrd.empty()) CORVID_TRY_VOID(check_access("initrd", c.initrd, R_OK));
  for (const auto& d : c.drives) {
    std::string what = d.id.empty() ? "drive" : "drive " + d.id;
    if (d.file.empty()) return errorf(0, "{} has no file", what);
    CORVID_TRY_VOID(check_access(what, d.file, d.read_only ? R_OK : R_OK | W_OK));
    if (!one_of(d.format, kFormats))
      return errorf(0, "{}: format '{}' is not raw or qcow2", what, d.format);
    if (!one_of(d.cache, kCaches))
      return errorf(0, "{}: cache '{}' is not one of {}", what, d.cache, joined(kCaches));
    if (!one_of(d.aio, kAios))
      return errorf(0, "{}: aio '{}' is not one of {}", what, d.aio, joined(kAios));
    if (!one_of(d.transport, kTransports))
      return errorf(0, "{}: transport '{}' is not pci or mmio", what, d.transport);
    if (d.num_queues < 1 || d.num_queues > 64)
      return errorf(0, "{}: {} queues (1..64 supported)", what, d.num_queues);
  }
  for (size_t i = 0; i < c.drives.size(); ++i)
    for (size_t j = i + 1; j < c.drives.size(); ++j)
      if (!c.drives[i].id.empty() && c.drives[i].id == c.drives[j].id)
        return errorf(0, "two drives are named '{}'", c.drives[i].id);
  if (!one_of(c.serial.kind, kSerials))
    return errorf(0, "serial '{}' is not one of {}", c.serial.kind, joined(kSerials));
  if ((c.serial.kind == "file" || c.serial.kind == "socket") && c.serial.path.empty())
    return errorf(0, "serial {} needs a path", c.serial.kind);
  if (c.qmp_socket.size() >= sizeof(sockaddr_un{}.sun_path))
    return errorf(0, "QMP socket path '{}' is longer than {} bytes", c.qmp_socket,
                  sizeof(sockaddr_un{}.sun_path) - 1);
  return {};
}

std::string dump_vm_config(const VmConfig& c) {
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  std::string out;
  auto line = [&](std::string_view k, std::string_view v) { out += fmt::format("{}: {}\n", k, v); };
  line("name", c.name);
  line("uuid", c.uuid);
  line("accel", c.accel);
  line("memory", fmt::format("{} ({} bytes)", format_size(c.memory_bytes), c.memory_bytes));
  line("vcpus", std::to_string(c.vcpus));
  line("kernel", c.kernel);
  line("initrd", c.initrd);
  line("cmdline", c.cmdline);
  line("on_poweroff", lifecycle_action_name(c.on_poweroff));
  line("on_reboot", lifecycle_action_name(c.on_reboot));
  line("on_crash", lifecycle_action_name(c.on_crash));
  for (const auto& d : c.drives)
    line("drive", fmt::format("id={} file={} format={} cache={} aio={} read_only={} discard={} "
                              "serial={} transport={}",
                              d.id, d.file, d.format.empty() ? "probe" : d.format, d.cache, d.aio,
                              yes(d.read_only), yes(d.discard), d.serial, d.transport));
  line("serial", c.serial.path.empty() ? c.serial.kind : c.serial.kind + " " + c.serial.path);
  line("virtio_console", yes(c.virtio_console));
  line("virtio_rng", yes(c.virtio_rng));
  return out;
}

}  // namespace corvid::config
