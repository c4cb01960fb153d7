#include "accel/xen/xen_accelerator.h"

#include <unistd.h>

#include <fstream>
#include <string>

extern "C" {
#include <xenctrl.h>
}

namespace corvid::accel {
namespace {

// A dom0 (or a domain with a device model role) talks to Xen through privcmd; without that node
// libxenctrl cannot reach the hypervisor, so there is no point asking it (it would print its own
// errors on stderr).
constexpr const char* kPrivcmdPaths[] = {"/dev/xen/privcmd", "/proc/xen/privcmd"};

std::string hypervisor_type() {
  std::ifstream in("/sys/hypervisor/type");
  std::string type;
  in >> type;
  return type;
}

}  // namespace

Result<std::unique_ptr<Accelerator>> create_xen_accelerator(const AccelOptions&) {
  const char* privcmd = nullptr;
  for (const char* p : kPrivcmdPaths) {
    if (access(p, F_OK) == 0) {
      privcmd = p;
      break;
    }
  }
  if (!privcmd) {
    std::string type = hypervisor_type();
    return errorf(
        ENODEV, "xen: no Xen hypervisor reachable (no /dev/xen/privcmd; {})",
        type.empty() ? "/sys/hypervisor/type is absent" : "this host runs under '" + type + "'");
  }
  xc_interface* xch = xc_interface_open(nullptr, nullptr, 0);
  if (!xch) return errno_error("xen: {} exists but xc_interface_open failed (not dom0?)", privcmd);
  int version = xc_version(xch, XENVER_version, nullptr);
  xc_interface_close(xch);
  return errorf(ENOTSUP,
                "xen: Xen {}.{} found, but building HVM domains is not implemented in "
                "this build",
                version >> 16, version & 0xffff);
}

}  // namespace corvid::accel
