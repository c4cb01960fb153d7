// The guest CPU as one plain struct. The IR addresses every field (guest registers and the IR's
// own virtual registers alike) by its byte offset from the start of CpuState, which is what a host
// code generator needs: one base register, fixed displacements.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corvid::tcg {

// Segment register indices in x86 encoding order (SDM Vol. 2 Table 3-6 "Sreg").
enum SegIndex : int { kEs = 0, kCs, kSs, kDs, kFs, kGs };

// A segment register's hidden descriptor cache (SDM Vol. 3 §3.4.3).
struct Segment {
  uint64_t base = 0;
  uint32_t limit = 0xffff;
  // Descriptor bits 40..55 as they sit in the high dword >> 8: type[3:0] S DPL[1:0] P, then
  // limit[19:16] (unused here) AVL L D/B G.
  uint32_t attr = 0x93;
  uint16_t selector = 0;
};

constexpr uint32_t kSegAttrL = 1u << 13;
constexpr uint32_t kSegAttrDb = 1u << 14;
constexpr uint32_t kSegAttrP = 1u << 7;

// RFLAGS bits (SDM Vol. 1 §3.4.3).
constexpr uint64_t kFlagCf = 1u << 0, kFlagPf = 1u << 2, kFlagAf = 1u << 4, kFlagZf = 1u << 6,
                   kFlagSf = 1u << 7, kFlagTf = 1u << 8, kFlagIf = 1u << 9, kFlagDf = 1u << 10,
                   kFlagOf = 1u << 11, kFlagNt = 1u << 14, kFlagRf = 1u << 16, kFlagVm = 1u << 17,
                   kFlagAc = 1u << 18, kFlagId = 1u << 21;
constexpr uint64_t kArithFlags = kFlagCf | kFlagPf | kFlagAf | kFlagZf | kFlagSf | kFlagOf;

constexpr uint64_t kCr0Pe = 1u << 0, kCr0Mp = 1u << 1, kCr0Em = 1u << 2, kCr0Ts = 1u << 3,
                   kCr0Et = 1u << 4, kCr0Ne = 1u << 5, kCr0Wp = 1u << 16, kCr0Am = 1u << 18,
                   kCr0Nw = 1u << 29, kCr0Cd = 1u << 30, kCr0Pg = 1u << 31;
constexpr uint64_t kCr4Pse = 1u << 4, kCr4Pae = 1u << 5, kCr4Pge = 1u << 7, kCr4Osfxsr = 1u << 9,
                   kCr4Osxmmexcpt = 1u << 10;
constexpr uint64_t kEferSce = 1u << 0, kEferLme = 1u << 8, kEferLma = 1u << 10, kEferNxe = 1u << 11;

// Exception vectors (SDM Vol. 3 Table 6-1).
enum Vector : uint8_t {
  kDe = 0,
  kDb = 1,
  kNmi = 2,
  kBp = 3,
  kOf = 4,
  kBr = 5,
  kUd = 6,
  kNm = 7,
  kDf = 8,
  kTs = 10,
  kNp = 11,
  kSsFault = 12,
  kGp = 13,
  kPf = 14,
  kMf = 16,
  kAcFault = 17,
  kXm = 19,
};

constexpr int kNumTemps = 48;

struct alignas(16) CpuState {
  uint64_t gpr[16] = {};
  uint64_t rip = 0;
  // The non-arithmetic flags always live here. The six arithmetic flags live here only while
  // cc_op == kCcEflags; otherwise they are derived lazily from cc_op/cc_dst/cc_src/cc_src2.
  uint64_t rflags = 2;
  uint64_t cc_dst = 0, cc_src = 0, cc_src2 = 0;
  uint32_t cc_op = 0;
  uint32_t cpl = 0;

  Segment seg[6];
  Segment ldtr, tr;
  uint64_t gdt_base = 0, idt_base = 0;
  uint32_t gdt_limit = 0xffff, idt_limit = 0xffff;

  uint64_t cr0 = kCr0Et | kCr0Nw | kCr0Cd, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
  uint64_t efer = 0;
  uint64_t dr[8] = {};

  // MSRs (SDM Vol. 4 Table 2-2).
  uint64_t star = 0, lstar = 0, cstar = 0, sfmask = 0, kernel_gs_base = 0;
  uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
  uint64_t tsc_aux = 0, pat = 0x0007040600070406ull, misc_enable = 1;
  uint64_t mtrr_def_type = 0, mtrr_var[16] = {}, mtrr_fixed[11] = {};
  int64_t tsc_offset = 0;

  alignas(16) uint8_t xmm[16][16] = {};
  uint32_t mxcsr = 0x1f80;
  // x87 (SDM Vol. 1 §8.1, tcg/emit_x87.cc): control and status words, the abridged tag word
  // (bit i set = physical register i in use, as FXSAVE stores it), the last non-control
  // instruction's opcode and instruction/data pointers, and ST(0)..ST(7) in stack order as 80-bit
  // values in 16-byte slots (the FXSAVE layout). MMX register i is physical register i's mantissa.
  uint16_t fcw = 0x37f, fsw = 0, ftw = 0;
  uint16_t fop = 0, fcs = 0, fds = 0;
  uint64_t fip = 0, fdp = 0;
  uint8_t fpr[8][16] = {};

  // 1 after sti / mov ss / pop ss: interrupts are blocked until the next instruction retires.
  uint32_t interrupt_shadow = 0;
  // 1 from the delivery of an NMI until the next IRET (SDM Vol. 3 §6.7.1): further NMIs wait.
  uint32_t nmi_blocked = 0;

  // The IR's virtual registers (temporaries local to a block).
  uint64_t temp[kNumTemps] = {};
};

constexpr uint32_t gpr_offset(int r) {
  return offsetof(CpuState, gpr) + 8 * r;
}
constexpr uint32_t temp_offset(int t) {
  return offsetof(CpuState, temp) + 8 * t;
}

inline bool long_mode_active(const CpuState& s) {
  return s.efer & kEferLma;
}
inline bool code64(const CpuState& s) {
  return long_mode_active(s) && (s.seg[kCs].attr & kSegAttrL);
}

}  // namespace corvid::tcg
