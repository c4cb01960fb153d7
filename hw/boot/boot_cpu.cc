#include "hw/boot/boot_cpu.h"

#include "hw/x86/memory_map.h"

namespace corvid::hw::boot {
namespace {

// Descriptors (SDM vol. 3, 3.4.5): base 0, limit 4 GiB (G=1), present, DPL 0.
constexpr uint64_t kGdt[] = {
    0,
    0x00cf9b000000ffff,  // 0x08: 32-bit code, execute/read, accessed
    0x00af9b000000ffff,  // 0x10: 64-bit code (L=1)
    0x00cf93000000ffff,  // 0x18: data, read/write, accessed
};

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Mp = 1ull << 1, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5,
                   kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

Result<> write_gdt(const GuestMemory& memory) {
  for (size_t i = 0; i < std::size(kGdt); ++i)
    CORVID_TRY_VOID(memory.write_le64(x86::kBootGdt + i * 8, kGdt[i]));
  return {};
}

// PML4 -> PDPT -> four page directories of 2 MiB pages: 0..4 GiB mapped to itself, writable.
Result<> write_identity_tables(const GuestMemory& memory) {
  const uint64_t pml4 = x86::kPageTables, pdpt = pml4 + 0x1000, pd = pdpt + 0x1000;
  CORVID_TRY_VOID(memory.fill(pml4, 0, 6 * 0x1000));
  CORVID_TRY_VOID(memory.write_le64(pml4, pdpt | 0x3));
  for (uint64_t i = 0; i < 4; ++i)
    CORVID_TRY_VOID(memory.write_le64(pdpt + i * 8, (pd + i * 0x1000) | 0x3));
  for (uint64_t i = 0; i < 2048; ++i)
    CORVID_TRY_VOID(memory.write_le64(pd + i * 8, (i << 21) | 0x83));  // present, writable, PS
  return {};
}

accel::BootState base_state(uint64_t entry) {
  accel::BootState s;
  s.rip = entry;
  s.gdt_base = x86::kBootGdt;
  s.gdt_limit = sizeof(kGdt) - 1;
  s.data_selector = kDataSelector;
  return s;
}

}  // namespace

Result<accel::BootState> protected_mode_entry(const GuestMemory& memory, uint64_t entry) {
  CORVID_TRY_VOID(write_gdt(memory));
  accel::BootState s = base_state(entry);
  s.mode = accel::BootState::Mode::kProtected32Flat;
  s.code_selector = kCode32Selector;
  s.cr0 = kCr0Pe | kCr0Et;
  return s;
}

Result<accel::BootState> long_mode_entry(const GuestMemory& memory, uint64_t entry) {
  CORVID_TRY_VOID(write_gdt(memory));
  CORVID_TRY_VOID(write_identity_tables(memory));
  accel::BootState s = base_state(entry);
  s.mode = accel::BootState::Mode::kLong64;
  s.code_selector = kCode64Selector;
  s.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Pg;
  s.cr3 = x86::kPageTables;
  s.cr4 = kCr4Pae;
  s.efer = kEferLme | kEferLma;
  return s;
}

}  // namespace corvid::hw::boot
