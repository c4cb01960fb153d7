#include "hw/fw_cfg/fw_cfg.h"

namespace corvid::hw {
namespace {

// Numeric items are little-endian (fw_cfg.rst: "all integers are little-endian" except the file
// directory, which is big-endian).
std::vector<uint8_t> le_bytes(uint64_t v, unsigned n) {
  std::vector<uint8_t> out(n);
  for (unsigned i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

}  // namespace

FwCfg::FwCfg(const Config& config) {
  items_[kSignature] = {'Q', 'E', 'M', 'U'};
  items_[kId] = le_bytes(1, 4);  // bit 0: the traditional interface; bit 1 (DMA) stays clear
  items_[kUuid] = std::vector<uint8_t>(16, 0);
  items_[kRamSize] = le_bytes(config.ram_bytes, 8);
  items_[kNoGraphic] = le_bytes(1, 2);
  items_[kNbCpus] = le_bytes(config.cpus, 2);
  items_[kMaxCpus] = le_bytes(config.cpus, 2);
  items_[kNuma] = le_bytes(0, 8);  // no NUMA nodes
  items_[kBootMenu] = le_bytes(0, 2);
  items_[kFileDir] = {0, 0, 0, 0};  // big-endian count: no named files
}

uint64_t FwCfg::io_read(uint64_t offset, unsigned size) {
  if (offset != 1) return 0;  // the selector is write-only
  std::lock_guard lock(mutex_);
  auto it = items_.find(selector_);
  // A wider read returns consecutive bytes, the first in the most significant position, as
  // QEMU's data port does.
  uint64_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    uint8_t b = 0;
    if (it != items_.end() && position_ < it->second.size()) b = it->second[position_++];
    value = (value << 8) | b;
  }
  return value;
}

void FwCfg::io_write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset != 0 || size < 2) return;
  std::lock_guard lock(mutex_);
  selector_ = static_cast<uint16_t>(value);
  position_ = 0;
}

}  // namespace corvid::hw
