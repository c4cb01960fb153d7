#include "hw/core/io_bus.h"

#include <mutex>

namespace corvid::hw {

Result<> IoBus::add(uint64_t base, uint64_t len, IoHandler* handler, std::string name) {
  if (len == 0 || base + len < base)
    return errorf(EINVAL, "{}: bad range {:#x}+{:#x}", name, base, len);
  std::unique_lock lock(mutex_);
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + len)
    return errorf(EEXIST, "{}: range {:#x}+{:#x} overlaps {}", name, base, len, next->second.name);
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len > base)
      return errorf(EEXIST, "{}: range {:#x}+{:#x} overlaps {}", name, base, len,
                    prev->second.name);
  }
  ranges_.emplace(base, Range{len, handler, std::move(name)});
  return {};
}

void IoBus::remove(uint64_t base) {
  std::unique_lock lock(mutex_);
  ranges_.erase(base);
}

const IoBus::Range* IoBus::find(uint64_t addr, uint64_t* base) const {
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  if (addr - it->first >= it->second.len) return nullptr;
  *base = it->first;
  return &it->second;
}

IoHandler* IoBus::lookup(uint64_t addr, uint64_t* offset) const {
  std::shared_lock lock(mutex_);
  uint64_t base;
  const Range* r = find(addr, &base);
  if (!r) return nullptr;
  *offset = addr - base;
  return r->handler;
}

// The handler runs without the bus lock held, so a device may add or remove ranges on any bus
// from inside an access (a PCI BAR write arriving through the PIO bus remaps an I/O BAR).
bool IoBus::read(uint64_t addr, unsigned size, uint64_t* value) const {
  uint64_t offset = 0;
  IoHandler* h = lookup(addr, &offset);
  if (!h) {
    *value = size >= 8 ? ~0ull : ((1ull << (size * 8)) - 1);
    return false;
  }
  *value = h->io_read(offset, size);
  return true;
}

bool IoBus::write(uint64_t addr, unsigned size, uint64_t value) const {
  uint64_t offset = 0;
  IoHandler* h = lookup(addr, &offset);
  if (!h) return false;
  h->io_write(offset, size, value);
  return true;
}

}  // namespace corvid::hw
