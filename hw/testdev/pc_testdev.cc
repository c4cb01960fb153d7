#include "hw/testdev/pc_testdev.h"

namespace corvid::hw {
namespace {

// The bits an access of size bytes at byte offset covers within the 32-bit register.
uint32_t lane_mask(uint64_t offset, unsigned size) {
  uint32_t bits = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
  return bits << (8 * (offset & 3));
}

}  // namespace

uint64_t PcTestdev::Data::io_read(uint64_t offset, unsigned size) {
  std::lock_guard lock(dev->mutex_);
  return (dev->scratch_ & lane_mask(offset, size)) >> (8 * (offset & 3));
}

void PcTestdev::Data::io_write(uint64_t offset, unsigned size, uint64_t value) {
  std::lock_guard lock(dev->mutex_);
  uint32_t mask = lane_mask(offset, size);
  dev->scratch_ =
      (dev->scratch_ & ~mask) | ((static_cast<uint32_t>(value) << (8 * (offset & 3))) & mask);
}

void PcTestdev::IrqLines::io_write(uint64_t offset, unsigned size, uint64_t value) {
  (void)size;
  if (offset < kIrqLines && sink) sink->set_irq(static_cast<uint32_t>(offset), (value & 0xff) != 0);
}

// Little-endian at any width; an access running past the window's end is cut off there.
uint64_t PcTestdev::Iomem::io_read(uint64_t offset, unsigned size) {
  std::lock_guard lock(mutex);
  uint64_t v = 0;
  for (unsigned i = 0; i < size && offset + i < kIomemSize; ++i)
    v |= static_cast<uint64_t>(bytes[offset + i]) << (8 * i);
  return v;
}

void PcTestdev::Iomem::io_write(uint64_t offset, unsigned size, uint64_t value) {
  std::lock_guard lock(mutex);
  for (unsigned i = 0; i < size && offset + i < kIomemSize; ++i)
    bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

}  // namespace corvid::hw
