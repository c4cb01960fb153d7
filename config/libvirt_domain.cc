// The libvirt step: validate and normalise a domain XML with libvirt's own parser through the
// in-process test driver ("test:///default" needs no daemon). VIR_DOMAIN_DEFINE_VALIDATE makes
// libvirt check the document against its RelaxNG schema; without it unknown elements would be
// dropped silently.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "base/unique_fd.h"
#include "config/domain_xml.h"

namespace corvid::config {
namespace {

constexpr size_t kMaxDomainXmlBytes = 16 << 20;

// libvirt prints every error to stderr by default; corvid reports them itself.
void swallow_libvirt_error(void*, virErrorPtr) {}

std::string last_libvirt_message(std::string_view fallback) {
  const virError* e = virGetLastError();
  std::string msg = (e && e->message) ? e->message : std::string(fallback);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

template <typename T, auto Free>
struct Owned {
  T* p = nullptr;
  ~Owned() {
    if (p) Free(p);
  }
};

}  // namespace

Result<std::string> normalize_domain_xml(std::string_view xml) {
  // The test driver keeps one shared in-memory state per process; serialise uses of it.
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  virSetErrorFunc(nullptr, swallow_libvirt_error);
  if (virInitialize() < 0)
    return errorf(0, "libvirt: {}", last_libvirt_message("virInitialize failed"));

  Owned<virConnect, virConnectClose> conn{virConnectOpen("test:///default")};
  if (!conn.p) return errorf(0, "libvirt: {}", last_libvirt_message("cannot open test:///default"));
  std::string text(xml);
  Owned<virDomain, virDomainFree> dom{
      virDomainDefineXMLFlags(conn.p, text.c_str(), VIR_DOMAIN_DEFINE_VALIDATE)};
  if (!dom.p) return errorf(0, "{}", last_libvirt_message("domain XML refused"));
  char* desc = virDomainGetXMLDesc(dom.p, 0);
  if (!desc) return errorf(0, "libvirt: {}", last_libvirt_message("virDomainGetXMLDesc failed"));
  std::string normalized(desc);
  free(desc);
  // Leave the shared test driver as we found it: the next define may reuse the name.
  virDomainUndefine(dom.p);
  return normalized;
}

Result<DomainConfig> load_domain_xml_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("{}", path);
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("{}", path);
    if (n == 0) break;
    // A domain XML is a few KiB; refuse to slurp a device or a huge file by mistake.
    if (text.size() + n > kMaxDomainXmlBytes)
      return errorf(EFBIG, "{}: larger than {} bytes, not a domain XML", path, kMaxDomainXmlBytes);
    text.append(buf, n);
  }
  auto loaded = load_domain_xml(text);
  if (!loaded) return tl::unexpected(with_context(loaded.error(), path));
  return loaded;
}

}  // namespace corvid::config
