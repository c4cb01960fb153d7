// The softmmu: page walker (SDM Vol. 3 Chapter 4) and the TLB slow paths. The fast paths are in
// softmmu_inline.h; everything they cannot handle with one compare lands here: misses, MMIO,
// stores to pages holding translated code, and accesses that straddle a page.
#include <cstring>

#include "tcg/code_pages.h"
#include "tcg/cpu.h"
#include "tcg/softmmu_inline.h"

namespace corvid::tcg {
namespace {

constexpr uint64_t kPteP = 1, kPteRw = 2, kPteUs = 4, kPteA = 1 << 5, kPteD = 1 << 6,
                   kPtePs = 1 << 7, kPteG = 1 << 8;
constexpr uint64_t kPteNx = 1ull << 63;
constexpr uint64_t kAddrMask52 = 0x000ffffffffff000ull;

// #PF error code bits (SDM Vol. 3 §4.7).
constexpr uint32_t kPfP = 1, kPfW = 2, kPfU = 4, kPfRsvd = 8, kPfId = 16;

struct Walk {
  uint64_t paddr = 0;  // physical address of va's page (4 KiB granule)
  bool writable = true, user = true, nx = false, dirty = true;
};

}  // namespace

// Atomically sets bits in a guest page-table entry (A/D), as the hardware's locked update does.
static void set_pte_bits(uint8_t* host, bool is64, uint64_t bits) {
  if (is64) {
    __atomic_fetch_or(reinterpret_cast<uint64_t*>(host), bits, __ATOMIC_SEQ_CST);
  } else {
    __atomic_fetch_or(reinterpret_cast<uint32_t*>(host), static_cast<uint32_t>(bits),
                      __ATOMIC_SEQ_CST);
  }
}

// Physical-address bits at and above MAXPHYADDR (40) that 4-level (51:40) and PAE (62:40)
// entries must keep clear.
constexpr uint64_t kReservedPhys4Level = 0x000fff0000000000ull;
constexpr uint64_t kReservedPhysPae = 0x7fffff0000000000ull;

uint64_t Cpu::translate(uint64_t va, Access access, bool supervisor, const Op* op) {
  bool user = !supervisor && s_.cpl == 3;
  bool write = access == Access::kWrite;
  bool exec = access == Access::kExec;
  // In IA-32e mode a non-canonical linear address faults before any page walk (SDM Vol. 1
  // §3.3.7.1): #GP(0), where hardware would give #SS(0) for a stack-segment reference (the softmmu
  // does not know the segment; QEMU's TCG reports #GP as well).
  if (long_mode_active(s_) && static_cast<uint64_t>(static_cast<int64_t>(va << 16) >> 16) != va)
    raise(kGp, 0, op);
  if (!(s_.cr0 & kCr0Pg)) return long_mode_active(s_) ? va : (va & 0xffffffffull);

  bool nxe = s_.efer & kEferNxe;
  uint32_t err_base = (write ? kPfW : 0) | (user ? kPfU : 0) | (exec && nxe ? kPfId : 0);
  auto page_fault = [&](uint32_t err) {
    s_.cr2 = va;
    raise(kPf, err_base | err, op);
  };

  Walk w;
  struct Level {
    uint8_t* host;
    uint64_t entry;
  };
  Level levels[4];
  int depth = 0;
  bool is64 = (s_.cr4 & kCr4Pae) != 0;
  uint64_t leaf_size_mask = 0xfff;
  uint64_t leaf = 0;

  auto read_entry = [&](uint64_t pa) -> Level {
    uint8_t* page = bus_.ram_page(pa & ~0xfffull);
    if (!page) {
      // Page tables outside RAM: no sane guest does this; treat as not present.
      page_fault(0);
    }
    uint8_t* host = page + (pa & 0xfff);
    uint64_t e;
    if (is64) {
      e = __atomic_load_n(reinterpret_cast<uint64_t*>(host), __ATOMIC_RELAXED);
    } else {
      e = __atomic_load_n(reinterpret_cast<uint32_t*>(host), __ATOMIC_RELAXED);
    }
    return {host, e};
  };
  // Reserved bits of a present entry fault with RSVD set (SDM Vol. 3 §4.7, Tables 4-14..4-20):
  // physical-address bits from MAXPHYADDR (40, CPUID 0x80000008) up, PS in a PML4E, and the
  // bits between the page offset and the frame of a 1 GiB / 2 MiB / 4 MiB page.
  auto account = [&](uint64_t e, uint64_t reserved = 0) {
    if (!(e & kPteP)) page_fault(0);
    if (e & reserved) page_fault(kPfP | kPfRsvd);
    if (is64 && (e & kPteNx) && !nxe) page_fault(kPfP | kPfRsvd);
    w.writable &= (e & kPteRw) != 0;
    w.user &= (e & kPteUs) != 0;
    w.nx |= nxe && (e & kPteNx);
  };

  if (long_mode_active(s_)) {
    // 4-level paging: PML4 -> PDPT (1 GiB) -> PD (2 MiB) -> PT.
    uint64_t table = s_.cr3 & kAddrMask52;
    for (int level = 3; level >= 0; --level) {
      unsigned shift = 12 + 9 * level;
      Level l = read_entry(table + ((va >> shift) & 511) * 8);
      uint64_t reserved = kReservedPhys4Level;
      if (level == 3) reserved |= kPtePs;
      if (level == 2 && (l.entry & kPtePs)) reserved |= 0x3fffe000ull;
      if (level == 1 && (l.entry & kPtePs)) reserved |= 0x1fe000ull;
      account(l.entry, reserved);
      levels[depth++] = l;
      if (level == 0 || ((l.entry & kPtePs) && level <= 2)) {
        leaf = l.entry;
        leaf_size_mask = (1ull << shift) - 1;
        break;
      }
      table = l.entry & kAddrMask52;
    }
  } else if (is64) {
    // PAE: PDPTE -> PD (2 MiB) -> PT.
    va &= 0xffffffffull;
    Level pdpte = read_entry((s_.cr3 & 0xffffffe0u) + ((va >> 30) & 3) * 8);
    if (!(pdpte.entry & kPteP)) page_fault(0);
    uint64_t table = pdpte.entry & kAddrMask52;
    for (int level = 1; level >= 0; --level) {
      unsigned shift = 12 + 9 * level;
      Level l = read_entry(table + ((va >> shift) & 511) * 8);
      account(l.entry, kReservedPhysPae | (level == 1 && (l.entry & kPtePs) ? 0x1fe000ull : 0));
      levels[depth++] = l;
      if (level == 0 || (l.entry & kPtePs)) {
        leaf = l.entry;
        leaf_size_mask = (1ull << shift) - 1;
        break;
      }
      table = l.entry & kAddrMask52;
    }
  } else {
    // Legacy 32-bit paging: PD (4 MiB with CR4.PSE) -> PT.
    va &= 0xffffffffull;
    Level pde = read_entry((s_.cr3 & 0xfffff000u) + ((va >> 22) & 1023) * 4);
    bool pse_page = (pde.entry & kPtePs) && (s_.cr4 & kCr4Pse);
    account(pde.entry, pse_page ? 1ull << 21 : 0);  // PSE-36: bits 20:13 = PA 39:32
    levels[depth++] = pde;
    if (pse_page) {
      leaf = (pde.entry & 0xffc00000u) | ((pde.entry & 0x1fe000ull) << 19) | (pde.entry & 0xfff);
      leaf_size_mask = 0x3fffff;
    } else {
      Level pte = read_entry((pde.entry & 0xfffff000u) + ((va >> 12) & 1023) * 4);
      account(pte.entry);
      levels[depth++] = pte;
      leaf = pte.entry;
    }
  }

  // Access rights (SDM Vol. 3 §4.6).
  if (user && !w.user) page_fault(kPfP);
  if (write && !w.writable && (user || (s_.cr0 & kCr0Wp))) page_fault(kPfP);
  if (exec && w.nx) page_fault(kPfP);

  for (int i = 0; i < depth; ++i) {
    if (!(levels[i].entry & kPteA)) set_pte_bits(levels[i].host, is64, kPteA);
  }
  if (write && !(leaf & kPteD)) set_pte_bits(levels[depth - 1].host, is64, kPteD);
  (void)kPteG;  // global pages only matter for selective flushes; we flush everything.
  uint64_t base = leaf & kAddrMask52 & ~leaf_size_mask;
  if (!is64 && leaf_size_mask == 0x3fffff) base = leaf & ~0x3fffffull & 0xffffffffffull;
  return base | (va & leaf_size_mask & ~0xfffull) | (va & 0xfff);
}

TlbEntry& Cpu::tlb_fill(uint64_t va, Access access, bool supervisor, const Op* op) {
  ++stats_.tlb_misses;
  uint64_t page = va & ~0xfffull;
  unsigned idx = supervisor ? 0 : mmu_index_;
  TlbEntry& e = tlb_[idx][(va >> 12) & (kTlbSize - 1)];
  uint64_t pa = translate(va, access, supervisor, op) & ~0xfffull;  // CR2 = the exact va
  // Probe write permission without faulting: only a write access (which set D) gets a write tag,
  // so the first store after a read walks again and sets the dirty bit.
  bool same = e.paddr == pa && ((e.read & ~0xfffull) == page || (e.write & ~0xfffull) == page ||
                                (e.code & ~0xfffull) == page);
  if (!same) e.read = e.write = e.code = kTlbInvalid;
  e.paddr = pa;
  uint8_t* host = bus_.ram_page(pa);
  uint64_t tag = host ? page : (page | kTlbMmio);
  e.addend = host ? reinterpret_cast<uintptr_t>(host) - page : 0;
  if (access == Access::kWrite) {
    bool code = page_blocks_.count(pa) || (code_pages_ && code_pages_->has_code(pa));
    e.write = tag | (code ? kTlbNotDirty : 0);
    e.read = tag;
  } else if (access == Access::kRead) {
    e.read = tag;
  } else {
    e.code = tag;
    e.read = tag;
  }
  return e;
}

uint64_t Cpu::load_slow(uint64_t va, unsigned size, const Op* op, bool supervisor) {
  if ((va & 0xfff) + size > 4096) {
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= load_slow(va + i, 1, op, supervisor) << (8 * i);
    return v;
  }
  unsigned idx = supervisor ? 0 : mmu_index_;
  TlbEntry* e = &tlb_[idx][(va >> 12) & (kTlbSize - 1)];
  if ((e->read & ~kTlbMmio) != (va & ~0xfffull)) e = &tlb_fill(va, Access::kRead, supervisor, op);
  if (e->read & kTlbMmio) return bus_.mmio_read(e->paddr | (va & 0xfff), size);
  uint64_t v = 0;
  std::memcpy(&v, reinterpret_cast<void*>(va + e->addend), size);
  return v;
}

void Cpu::store_slow(uint64_t va, unsigned size, uint64_t v, const Op* op, bool supervisor) {
  if ((va & 0xfff) + size > 4096) {
    // Check both pages before writing anything, so a fault on the second leaves memory intact.
    translate(va, Access::kWrite, supervisor, op);
    translate(va + size - 1, Access::kWrite, supervisor, op);
    for (unsigned i = 0; i < size; ++i) store_slow(va + i, 1, v >> (8 * i), op, supervisor);
    return;
  }
  unsigned idx = supervisor ? 0 : mmu_index_;
  TlbEntry* e = &tlb_[idx][(va >> 12) & (kTlbSize - 1)];
  if ((e->write & ~(kTlbMmio | kTlbNotDirty)) != (va & ~0xfffull)) {
    e = &tlb_fill(va, Access::kWrite, supervisor, op);
  }
  if (e->write & kTlbMmio) {
    bus_.mmio_write(e->paddr | (va & 0xfff), size, v);
    return;
  }
  if (e->write & kTlbNotDirty) {
    code_page_written(e->paddr);
    e = &tlb_[idx][(va >> 12) & (kTlbSize - 1)];
  }
  std::memcpy(reinterpret_cast<void*>(va + e->addend), &v, size);
}

uint8_t* Cpu::host_for_write(uint64_t va, unsigned len, const Op* op) {
  if ((va & 0xfff) + len > 4096) return nullptr;
  TlbEntry* e = &tlb_[mmu_index_][(va >> 12) & (kTlbSize - 1)];
  if ((e->write & ~(kTlbMmio | kTlbNotDirty)) != (va & ~0xfffull)) {
    e = &tlb_fill(va, Access::kWrite, false, op);
  }
  if (e->write & (kTlbMmio | kTlbNotDirty)) return nullptr;
  return reinterpret_cast<uint8_t*>(va + e->addend);
}

uint8_t* Cpu::host_for_read(uint64_t va, unsigned len, const Op* op) {
  if ((va & 0xfff) + len > 4096) return nullptr;
  TlbEntry* e = &tlb_[mmu_index_][(va >> 12) & (kTlbSize - 1)];
  if ((e->read & ~kTlbMmio) != (va & ~0xfffull)) e = &tlb_fill(va, Access::kRead, false, op);
  if (e->read & kTlbMmio) return nullptr;
  return reinterpret_cast<uint8_t*>(va + e->addend);
}

void Cpu::flush_tlb() {
  ++stats_.tlb_flushes;
  for (auto& t : tlb_) {
    for (auto& e : t) e = TlbEntry{};
  }
  for (auto& j : jump_cache_) j = nullptr;
}

}  // namespace corvid::tcg
