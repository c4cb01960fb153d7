#include "accel/xen/xen_accelerator.h"

#include <dlfcn.h>
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
  // libxenctrl (and the half-dozen Xen libraries it pulls in) is loaded only on a Xen host, so
  // the common case does not pay for it at every launch (docs/benchmarks-launch.md).
  void* lib = dlopen("libxenctrl.so.4.17", RTLD_NOW | RTLD_LOCAL);
  if (!lib) lib = dlopen("libxenctrl.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return errorf(ENODEV, "xen: {} exists but libxenctrl cannot be loaded: {}", privcmd, dlerror());
  auto open_fn = reinterpret_cast<decltype(&xc_interface_open)>(dlsym(lib, "xc_interface_open"));
  auto version_fn = reinterpret_cast<decltype(&xc_version)>(dlsym(lib, "xc_version"));
  auto close_fn = reinterpret_cast<decltype(&xc_interface_close)>(dlsym(lib, "xc_interface_close"));
  if (!open_fn || !version_fn || !close_fn) {
    dlclose(lib);
    return errorf(ENODEV, "xen: libxenctrl lacks the functions corvid needs");
  }
  xc_interface* xch = open_fn(nullptr, nullptr, 0);
  if (!xch) {
    int e = errno;
    dlclose(lib);
    return errorf(e, "xen: {} exists but xc_interface_open failed (not dom0?)", privcmd);
  }
  int version = version_fn(xch, XENVER_version, nullptr);
  close_fn(xch);
  dlclose(lib);
  return errorf(ENOTSUP,
                "xen: Xen {}.{} found, but building HVM domains is not implemented in "
                "this build",
                version >> 16, version & 0xffff);
}

}  // namespace corvid::accel
