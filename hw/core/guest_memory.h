// GuestMemory: the only way devices and loaders touch guest RAM. Every access is bounds-checked
// against the RAM regions; guest integers are little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "base/mapping.h"
#include "base/result.h"

namespace corvid::hw {

struct RamRegion {
  uint64_t gpa = 0;   // guest physical start
  uint64_t size = 0;  // bytes
  uint8_t* host = nullptr;
};

class GuestMemory {
 public:
  // Adds a RAM region backed by a fresh anonymous mapping (hugepage-capable). Regions must not
  // overlap.
  Result<RamRegion> add_ram(uint64_t gpa, uint64_t size, bool hugepages = true);

  const std::vector<RamRegion>& regions() const { return regions_; }
  uint64_t ram_size() const;
  // Bytes of guest RAM the host has actually backed (mincore): what the guest touched.
  uint64_t resident_bytes() const;

  // Host pointer for [gpa, gpa+len) if it lies entirely inside one RAM region, else nullptr.
  // len == 0 is valid when gpa lies inside (or at the end of) a region.
  uint8_t* host_ptr(uint64_t gpa, uint64_t len) const;
  bool contains(uint64_t gpa, uint64_t len) const { return host_ptr(gpa, len) != nullptr; }

  // Copies between guest RAM and host buffers; EFAULT naming the range when it is not RAM.
  Result<> read(uint64_t gpa, void* dst, uint64_t len) const;
  Result<> write(uint64_t gpa, const void* src, uint64_t len) const;
  Result<> fill(uint64_t gpa, uint8_t byte, uint64_t len) const;

  Result<uint8_t> read_u8(uint64_t gpa) const;
  Result<uint16_t> read_le16(uint64_t gpa) const;
  Result<uint32_t> read_le32(uint64_t gpa) const;
  Result<uint64_t> read_le64(uint64_t gpa) const;
  Result<> write_u8(uint64_t gpa, uint8_t v) const;
  Result<> write_le16(uint64_t gpa, uint16_t v) const;
  Result<> write_le32(uint64_t gpa, uint32_t v) const;
  Result<> write_le64(uint64_t gpa, uint64_t v) const;

  // Device DMA writes: a device that wrote guest RAM behind the vCPUs' backs (host pointers,
  // io_uring straight into RAM) reports the range here before it tells the guest (virtio: before
  // publishing the used element), so an accelerator that caches derived state (the translator's
  // translated blocks) can drop it. Install the observer before devices run; it is called from
  // device threads. KVM needs none: the hardware sees the writes.
  using DmaWriteObserver = std::function<void(uint64_t gpa, uint64_t len)>;
  void set_dma_write_observer(DmaWriteObserver observer) { dma_observer_ = std::move(observer); }
  bool has_dma_write_observer() const { return static_cast<bool>(dma_observer_); }
  void notify_dma_write(uint64_t gpa, uint64_t len) const {
    if (dma_observer_ && len > 0) dma_observer_(gpa, len);
  }

 private:
  std::vector<RamRegion> regions_;
  std::vector<Mapping> mappings_;
  DmaWriteObserver dma_observer_;
};

}  // namespace corvid::hw
