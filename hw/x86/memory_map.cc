#include "hw/x86/memory_map.h"

#include <algorithm>

namespace corvid::hw::x86 {

RamLayout ram_layout(uint64_t ram_bytes) {
  RamLayout l;
  l.low_size = std::min(ram_bytes, kPciHoleStart);
  l.high_size = ram_bytes - l.low_size;
  return l;
}

std::vector<fdt::MemoryRange> e820_map(const RamLayout& layout) {
  using Type = fdt::MemoryRange::Type;
  std::vector<fdt::MemoryRange> map;
  // Conventional memory up to the EBDA; the EBDA (MP floating pointer) and the legacy VGA/BIOS
  // area (0xa0000-0xfffff) are not RAM for the guest (ACPI spec 6.5, 15.1; the PC convention
  // Linux expects in e820). The BIOS area holding the ACPI tables and the MP table is reserved.
  map.push_back({0, kEbdaStart, Type::kRam});
  map.push_back({kEbdaStart, kLowMemEnd - kEbdaStart, Type::kReserved});
  map.push_back({kBiosAreaStart, kHighMemStart - kBiosAreaStart, Type::kReserved});
  if (layout.low_size > kHighMemStart)
    map.push_back({kHighMemStart, layout.low_size - kHighMemStart, Type::kRam});
  map.push_back({kKvmReservedBase, kKvmReservedSize, Type::kReserved});
  if (layout.high_size) map.push_back({kFourGiB, layout.high_size, Type::kRam});
  return map;
}

}  // namespace corvid::hw::x86
