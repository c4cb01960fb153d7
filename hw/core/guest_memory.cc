#include "hw/core/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "base/endian.h"

namespace corvid::hw {

Result<RamRegion> GuestMemory::add_ram(uint64_t gpa, uint64_t size, bool hugepages) {
  if (size == 0) return make_error(EINVAL, "RAM region of 0 bytes");
  if (gpa + size < gpa)
    return errorf(EINVAL, "RAM region at {:#x} of {:#x} bytes wraps", gpa, size);
  for (const auto& r : regions_) {
    if (gpa < r.gpa + r.size && r.gpa < gpa + size)
      return errorf(EEXIST, "RAM region [{:#x}, {:#x}) overlaps [{:#x}, {:#x})", gpa, gpa + size,
                    r.gpa, r.gpa + r.size);
  }
  auto map = Mapping::anonymous(size, hugepages);
  if (!map) return tl::unexpected(with_context(map.error(), "guest RAM"));
  RamRegion region{gpa, size, map->data()};
  mappings_.push_back(std::move(*map));
  regions_.push_back(region);
  return region;
}

uint64_t GuestMemory::ram_size() const {
  uint64_t total = 0;
  for (const auto& r : regions_) total += r.size;
  return total;
}

uint64_t GuestMemory::resident_bytes() const {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t total = 0;
  for (const auto& r : regions_) {
    std::vector<unsigned char> vec((r.size + page - 1) / page);
    if (mincore(r.host, r.size, vec.data()) != 0) continue;
    for (unsigned char v : vec) total += (v & 1) ? page : 0;
  }
  return total;
}

uint8_t* GuestMemory::host_ptr(uint64_t gpa, uint64_t len) const {
  for (const auto& r : regions_) {
    // Written to avoid overflow: gpa - r.gpa is only computed once gpa >= r.gpa.
    if (gpa >= r.gpa && gpa - r.gpa <= r.size && len <= r.size - (gpa - r.gpa))
      return r.host + (gpa - r.gpa);
  }
  return nullptr;
}

Result<> GuestMemory::read(uint64_t gpa, void* dst, uint64_t len) const {
  const uint8_t* p = host_ptr(gpa, len);
  if (!p) return errorf(EFAULT, "guest range [{:#x}, +{:#x}) is not RAM", gpa, len);
  std::memcpy(dst, p, len);
  return {};
}

Result<> GuestMemory::write(uint64_t gpa, const void* src, uint64_t len) const {
  uint8_t* p = host_ptr(gpa, len);
  if (!p) return errorf(EFAULT, "guest range [{:#x}, +{:#x}) is not RAM", gpa, len);
  std::memcpy(p, src, len);
  return {};
}

Result<> GuestMemory::fill(uint64_t gpa, uint8_t byte, uint64_t len) const {
  uint8_t* p = host_ptr(gpa, len);
  if (!p) return errorf(EFAULT, "guest range [{:#x}, +{:#x}) is not RAM", gpa, len);
  std::memset(p, byte, len);
  return {};
}

namespace {
template <typename T, T (*load)(const void*)>
Result<T> load_at(const GuestMemory& m, uint64_t gpa) {
  const uint8_t* p = m.host_ptr(gpa, sizeof(T));
  if (!p) return errorf(EFAULT, "guest address {:#x} (+{}) is not RAM", gpa, sizeof(T));
  return load(p);
}
template <typename T, void (*store)(void*, T)>
Result<> store_at(const GuestMemory& m, uint64_t gpa, T v) {
  uint8_t* p = m.host_ptr(gpa, sizeof(T));
  if (!p) return errorf(EFAULT, "guest address {:#x} (+{}) is not RAM", gpa, sizeof(T));
  store(p, v);
  return {};
}
uint8_t load_u8(const void* p) {
  return *static_cast<const uint8_t*>(p);
}
void store_u8(void* p, uint8_t v) {
  *static_cast<uint8_t*>(p) = v;
}
}  // namespace

Result<uint8_t> GuestMemory::read_u8(uint64_t gpa) const {
  return load_at<uint8_t, load_u8>(*this, gpa);
}
Result<uint16_t> GuestMemory::read_le16(uint64_t gpa) const {
  return load_at<uint16_t, load_le16>(*this, gpa);
}
Result<uint32_t> GuestMemory::read_le32(uint64_t gpa) const {
  return load_at<uint32_t, load_le32>(*this, gpa);
}
Result<uint64_t> GuestMemory::read_le64(uint64_t gpa) const {
  return load_at<uint64_t, load_le64>(*this, gpa);
}
Result<> GuestMemory::write_u8(uint64_t gpa, uint8_t v) const {
  return store_at<uint8_t, store_u8>(*this, gpa, v);
}
Result<> GuestMemory::write_le16(uint64_t gpa, uint16_t v) const {
  return store_at<uint16_t, store_le16>(*this, gpa, v);
}
Result<> GuestMemory::write_le32(uint64_t gpa, uint32_t v) const {
  return store_at<uint32_t, store_le32>(*this, gpa, v);
}
Result<> GuestMemory::write_le64(uint64_t gpa, uint64_t v) const {
  return store_at<uint64_t, store_le64>(*this, gpa, v);
}

}  // namespace corvid::hw
