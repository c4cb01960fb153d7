#include "base/mapping.h"

#include <sys/mman.h>

namespace corvid {

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    reset();
    addr_ = std::exchange(o.addr_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

void Mapping::reset() {
  if (addr_) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

Result<Mapping> Mapping::anonymous(size_t size, bool hugepages) {
  if (size == 0) return make_error(EINVAL, "cannot map 0 bytes");
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (p == MAP_FAILED) return errno_error("mmap of {} bytes of anonymous memory", size);
  if (hugepages) ::madvise(p, size, MADV_HUGEPAGE);
  return Mapping(p, size);
}

Result<Mapping> Mapping::file(int fd, size_t size, int prot, int flags, off_t offset) {
  if (size == 0) return make_error(EINVAL, "cannot map 0 bytes");
  void* p = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (p == MAP_FAILED) return errno_error("mmap of {} bytes of fd {}", size, fd);
  return Mapping(p, size);
}

}  // namespace corvid
