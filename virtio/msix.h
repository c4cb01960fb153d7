// An MSI-X table and pending-bit array (PCI Local Bus 3.0 §6.8.2), as a virtio-pci device exposes
// them in a memory BAR. Delivery goes to hw::InterruptSink::signal_msi.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/core/interrupts.h"

namespace corvid::virtio {

class MsixTable {
 public:
  static constexpr uint64_t kPbaOffset = 0x800;  // within the BAR; the table starts at 0

  explicit MsixTable(unsigned vectors) : entries_(vectors), pending_(vectors, false) {}

  unsigned size() const { return static_cast<unsigned>(entries_.size()); }
  // Message Control bits 15 (enable) and 14 (function mask).
  bool enabled() const { return enabled_; }
  void set_control(bool enabled, bool function_masked, hw::InterruptSink* sink);
  bool function_masked() const { return function_masked_; }

  // BAR accesses: table entries at [0, 16*size), the PBA at kPbaOffset.
  uint64_t read(uint64_t offset, unsigned size) const;
  void write(uint64_t offset, unsigned size, uint64_t value, hw::InterruptSink* sink);

  // Sends vector `v`, or records it pending while it (or the function) is masked.
  void notify(unsigned v, hw::InterruptSink* sink);
  void reset();

 private:
  struct Entry {
    uint32_t addr_lo = 0, addr_hi = 0, data = 0, control = 1;  // masked at reset
  };
  void deliver_pending(hw::InterruptSink* sink);

  std::vector<Entry> entries_;
  std::vector<bool> pending_;
  bool enabled_ = false;
  bool function_masked_ = false;
};

}  // namespace corvid::virtio
