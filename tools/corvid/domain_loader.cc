#include <dlfcn.h>
#include <unistd.h>

#include <climits>

#include "tools/corvid/domain_module.h"

namespace corvid::tools {

Result<config::DomainConfig> load_domain(const std::string& path) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return errno_error("--domain: cannot find corvid's own path");
  std::string dir(exe, static_cast<size_t>(n));
  dir.resize(dir.rfind('/') + 1);
  const std::string module = dir + "corvid-domain.so";
  // The module stays loaded for the life of the process: libvirt registers atexit handlers.
  void* handle = dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return errorf(ENOENT, "--domain needs {}: {}", module, dlerror());
  auto fn = reinterpret_cast<LoadDomainFn>(dlsym(handle, kDomainModuleSymbol));
  if (!fn) return errorf(ENOENT, "{} lacks {}", module, kDomainModuleSymbol);
  Result<config::DomainConfig> out = make_error(EINVAL, "no result");
  fn(path, &out);
  return out;
}

}  // namespace corvid::tools
