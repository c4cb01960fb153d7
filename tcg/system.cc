// CPUID (one stable model describing exactly what the translator implements), MSRs, and control
// register writes.
#include <algorithm>
#include <cstring>

#include "tcg/flags.h"
#include "tcg/system.h"

namespace corvid::tcg {
namespace {

// Leaf 1 EDX (SDM Vol. 2 "CPUID" Table 3-11): fpu pse tsc msr pae cx8 apic sep mtrr pge cmov pat
// clflush mmx fxsr sse sse2.
constexpr uint32_t kLeaf1Edx = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) |
                               (1u << 8) | (1u << 9) | (1u << 11) | (1u << 12) | (1u << 13) |
                               (1u << 15) | (1u << 16) | (1u << 19) | (1u << 23) | (1u << 24) |
                               (1u << 25) | (1u << 26);
// Leaf 1 ECX: sse3 ssse3 cx16 popcnt hypervisor.
constexpr uint32_t kLeaf1EdxHtt = 1u << 28;
constexpr uint32_t kLeaf1Ecx = (1u << 0) | (1u << 9) | (1u << 13) | (1u << 23) | (1u << 31);
// 0x8000_0001 EDX: syscall nx pdpe1gb rdtscp lm; ECX: lahf_lm.
constexpr uint32_t kExt1Edx = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29);
constexpr uint32_t kExt1Ecx = 1u << 0;
// Leaf 7 EDX bit 29: IA32_ARCH_CAPABILITIES (MSR 0x10a) exists.
constexpr uint32_t kLeaf7EdxArchCapabilities = 1u << 29;
// IA32_ARCH_CAPABILITIES (SDM Vol. 4 Table 2-2): an interpreter does not speculate, so it has none
// of the speculative-execution bugs Linux would otherwise mitigate at a high price under
// emulation (page-table isolation's CR3 switch, and TLB flush, on every kernel entry; `verw` on
// every return to user space; return thunks). RDCL_NO(0) SKIP_L1DFL_VMENTRY(3) SSB_NO(4)
// MDS_NO(5) PSCHANGE_MC_NO(6) TAA_NO(8) SBDR_SSDP_NO(13) FBSDP_NO(14) PSDP_NO(15) BHI_NO(20)
// GDS_NO(26) RFDS_NO(27) ITS_NO(62).
constexpr uint64_t kArchCapabilities = (1ull << 0) | (1ull << 3) | (1ull << 4) | (1ull << 5) |
                                       (1ull << 6) | (1ull << 8) | (1ull << 13) | (1ull << 14) |
                                       (1ull << 15) | (1ull << 20) | (1ull << 26) | (1ull << 27) |
                                       (1ull << 62);

void set_string(uint32_t* regs, const char* text) {
  std::memcpy(regs, text, 16);
}

}  // namespace

void do_cpuid(Cpu& cpu) {
  CpuState& s = cpu.s_;
  uint32_t leaf = static_cast<uint32_t>(s.gpr[0]);
  uint32_t sub = static_cast<uint32_t>(s.gpr[1]);
  uint32_t a = 0, b = 0, c = 0, d = 0;
  uint64_t hz = cpu.bus_.tsc_hz();
  unsigned cpus = std::max(1u, cpu.bus_.cpu_count()), shift = 0;
  while ((1u << shift) < cpus) ++shift;
  switch (leaf) {
    case 0:
      a = 0x16;
      std::memcpy(&b, "Genu", 4);
      std::memcpy(&d, "ineI", 4);
      std::memcpy(&c, "ntel", 4);
      break;
    case 1:
      a = 0x000306a9;  // family 6, model 0x3a, stepping 9
      // EBX[23:16]: addressable logical processors per package, valid with EDX.HTT.
      b = (static_cast<uint32_t>(cpu.index()) << 24) | ((1u << shift) << 16) | (8u << 8);
      c = kLeaf1Ecx;
      d = kLeaf1Edx | (cpus > 1 ? kLeaf1EdxHtt : 0);
      // CPUID.1:EDX.APIC follows IA32_APIC_BASE.EN (SDM Vol. 3 §11.4.3).
      if (cpu.intc_ && !(cpu.intc_->apic_base() & (1u << 11))) d &= ~(1u << 9);
      break;
    case 6:
      a = 1u << 2;  // ARAT: the LAPIC timer keeps running in deep C-states
      break;
    case 7:
      if (sub == 0) d = kLeaf7EdxArchCapabilities;  // EAX = 0: no further subleaves
      break;
    case 0xb:
      // Extended topology (SDM Vol. 2 "CPUID" leaf 0BH): one thread per core, every vCPU a core
      // of a single package, so Linux sees one package (not one per vCPU).
      d = static_cast<uint32_t>(cpu.index());
      if (sub == 0) {
        b = 1;
        c = 1u << 8;  // level 0: SMT
      } else if (sub == 1) {
        a = shift;
        b = cpus;
        c = (2u << 8) | 1;  // level 1: core
      } else {
        c = sub & 0xff;  // invalid level ends the enumeration
      }
      break;
    case 0x15:
      // TSC = crystal * ebx / eax: lets Linux skip PIT calibration.
      a = 1;
      b = 1;
      c = static_cast<uint32_t>(hz);
      break;
    case 0x16:
      a = static_cast<uint32_t>(hz / 1000000);
      b = a;
      c = 100;
      break;
    case 0x40000000:
      a = 0x40000010;
      std::memcpy(&b, "corv", 4);
      std::memcpy(&c, "idtc", 4);
      std::memcpy(&d, "gcpu", 4);
      break;
    case 0x40000010:
      a = static_cast<uint32_t>(hz / 1000);  // TSC kHz
      b = 1000000;                           // LAPIC bus kHz (1 GHz timer clock)
      break;
    case 0x80000000:
      a = 0x80000008;
      break;
    case 0x80000001:
      c = kExt1Ecx;
      d = kExt1Edx;
      break;
    case 0x80000002: {
      uint32_t r[4];
      set_string(r, "corvid TCG x86-6");
      a = r[0], b = r[1], c = r[2], d = r[3];
      break;
    }
    case 0x80000003: {
      uint32_t r[4];
      set_string(r, "4 CPU (stage 1)\0");
      a = r[0], b = r[1], c = r[2], d = r[3];
      break;
    }
    case 0x80000007:
      d = 1u << 8;  // invariant TSC
      break;
    case 0x80000008:
      a = 0x3028;  // 40 physical, 48 linear address bits
      break;
    default:
      break;
  }
  s.gpr[0] = a;
  s.gpr[3] = b;
  s.gpr[1] = c;
  s.gpr[2] = d;
}

bool read_msr(Cpu& cpu, uint32_t index, uint64_t* value) {
  CpuState& s = cpu.s_;
  uint64_t v = 0;
  switch (index) {
    case 0x10:
      v = cpu.bus_.tsc() + s.tsc_offset;
      break;
    case 0x17:
      v = 0;
      break;  // IA32_PLATFORM_ID
    case 0x10a:
      v = kArchCapabilities;
      break;
    case 0x1b:
      v = cpu.intc_ ? cpu.intc_->apic_base() : 0xfee00900;
      break;
    case 0x8b:
      v = 0;
      break;  // IA32_BIOS_SIGN_ID (microcode revision)
    case 0xfe:
      v = 0x508;
      break;  // MTRRcap: 8 variable ranges, fixed ranges, WC
    case 0x174:
      v = s.sysenter_cs;
      break;
    case 0x175:
      v = s.sysenter_esp;
      break;
    case 0x176:
      v = s.sysenter_eip;
      break;
    case 0x1a0:
      v = s.misc_enable;
      break;
    case 0x277:
      v = s.pat;
      break;
    case 0x2ff:
      v = s.mtrr_def_type;
      break;
    case 0x250:
      v = s.mtrr_fixed[0];
      break;
    case 0x258:
      v = s.mtrr_fixed[1];
      break;
    case 0x259:
      v = s.mtrr_fixed[2];
      break;
    case 0xc0000080:
      v = s.efer;
      break;
    case 0xc0000081:
      v = s.star;
      break;
    case 0xc0000082:
      v = s.lstar;
      break;
    case 0xc0000083:
      v = s.cstar;
      break;
    case 0xc0000084:
      v = s.sfmask;
      break;
    case 0xc0000100:
      v = s.seg[kFs].base;
      break;
    case 0xc0000101:
      v = s.seg[kGs].base;
      break;
    case 0xc0000102:
      v = s.kernel_gs_base;
      break;
    case 0xc0000103:
      v = s.tsc_aux;
      break;
    default:
      if (index >= 0x200 && index < 0x210) {
        v = s.mtrr_var[index - 0x200];
      } else if (index >= 0x268 && index <= 0x26f) {
        v = s.mtrr_fixed[3 + index - 0x268];
      } else {
        return false;
      }
  }
  *value = v;
  return true;
}

bool write_msr(Cpu& cpu, uint32_t index, uint64_t v) {
  CpuState& s = cpu.s_;
  switch (index) {
    case 0x10:
      s.tsc_offset = static_cast<int64_t>(v - cpu.bus_.tsc());
      break;
    case 0x1b:
      // Reserved: bits 7:0, 9, 10 (x2APIC mode, not offered) and 63:40 (MAXPHYADDR 40).
      if (v & ~0xfffffff900ull) return false;
      if (cpu.intc_) cpu.intc_->set_apic_base(v);
      break;
    case 0x8b:
      break;
    case 0x174:
      s.sysenter_cs = v & 0xffff;
      break;
    case 0x175:
      s.sysenter_esp = v;
      break;
    case 0x176:
      s.sysenter_eip = v;
      break;
    case 0x1a0:
      s.misc_enable = v;
      break;
    case 0x277:
      s.pat = v;
      break;
    case 0x2ff:
      s.mtrr_def_type = v;
      break;
    case 0x250:
      s.mtrr_fixed[0] = v;
      break;
    case 0x258:
      s.mtrr_fixed[1] = v;
      break;
    case 0x259:
      s.mtrr_fixed[2] = v;
      break;
    case 0xc0000080: {
      uint64_t allowed = kEferSce | kEferLme | kEferNxe;
      if (v & ~(allowed | kEferLma)) return false;
      // LME may not change while paging is on (SDM Vol. 3 §9.8.5).
      if ((s.cr0 & kCr0Pg) && ((v ^ s.efer) & kEferLme)) return false;
      s.efer = (s.efer & kEferLma) | (v & allowed);
      cpu.flush_tlb();
      break;
    }
    case 0xc0000081:
      s.star = v;
      break;
    case 0xc0000082:
      s.lstar = v;
      break;
    case 0xc0000083:
      s.cstar = v;
      break;
    case 0xc0000084:
      s.sfmask = v & 0xffffffffull;
      break;
    case 0xc0000100:
      s.seg[kFs].base = v;
      break;
    case 0xc0000101:
      s.seg[kGs].base = v;
      break;
    case 0xc0000102:
      s.kernel_gs_base = v;
      break;
    case 0xc0000103:
      s.tsc_aux = v & 0xffffffffull;
      break;
    default:
      if (index >= 0x200 && index < 0x210) {
        s.mtrr_var[index - 0x200] = v;
      } else if (index >= 0x268 && index <= 0x26f) {
        s.mtrr_fixed[3 + index - 0x268] = v;
      } else {
        return false;
      }
  }
  return true;
}

uint64_t read_cr(Cpu& cpu, int cr) {
  CpuState& s = cpu.s_;
  switch (cr) {
    case 0:
      return s.cr0;
    case 2:
      return s.cr2;
    case 3:
      return s.cr3;
    case 4:
      return s.cr4;
    default:
      if (cpu.intc_) {
        int tpr = cpu.intc_->tpr();
        if (tpr >= 0) return static_cast<uint64_t>(tpr) >> 4;
      }
      return s.cr8;
  }
}

void write_cr(Cpu& cpu, int cr, uint64_t v, const Op* op) {
  CpuState& s = cpu.s_;
  switch (cr) {
    case 0: {
      if ((v & kCr0Pg) && !(v & kCr0Pe)) cpu.raise(kGp, 0, op);
      if ((v >> 32) != 0) cpu.raise(kGp, 0, op);
      bool enabling_pg = (v & kCr0Pg) && !(s.cr0 & kCr0Pg);
      if (enabling_pg && (s.efer & kEferLme)) {
        if (!(s.cr4 & kCr4Pae)) cpu.raise(kGp, 0, op);
        s.efer |= kEferLma;
      }
      if (!(v & kCr0Pg) && (s.cr0 & kCr0Pg) && long_mode_active(s)) {
        if (code64(s)) cpu.raise(kGp, 0, op);
        s.efer &= ~kEferLma;
      }
      s.cr0 = v | kCr0Et;
      cpu.flush_tlb();
      break;
    }
    case 2:
      s.cr2 = v;
      break;
    case 3:
      s.cr3 = v;
      cpu.flush_tlb();
      break;
    case 4:
      if (v & ~0x7ffull) cpu.raise(kGp, 0, op);
      if (long_mode_active(s) && !(v & kCr4Pae)) cpu.raise(kGp, 0, op);
      s.cr4 = v;
      cpu.flush_tlb();
      break;
    case 8:
      s.cr8 = v & 0xf;
      if (cpu.intc_) cpu.intc_->set_tpr(static_cast<uint8_t>(s.cr8 << 4));
      break;
    default:
      cpu.raise_no_error(kUd, op);
  }
}

}  // namespace corvid::tcg
