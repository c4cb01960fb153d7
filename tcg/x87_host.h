// The x87 FPU (tcg/ internal): guest x87 instructions run as the same instruction on the host's
// own x87 unit, with the guest's whole x87 state (control word, status word, tags, registers)
// loaded around it, so every result, flag, rounding and precision mode, stack fault and
// exception response is the hardware's own, bit for bit (see tcg/x87_stubs.S).
#pragma once

#include <cstdint>

#include "tcg/translator.h"

namespace corvid::tcg {

// FSW bits (SDM Vol. 1 §8.1.3).
constexpr uint16_t kFswExceptions = 0x3f, kFswSf = 1u << 6, kFswEs = 1u << 7, kFswB = 1u << 15;
constexpr unsigned kFswTopShift = 11;

// The encoding index into the stub table for x87 opcode byte 0xd8..0xdf and its ModRM byte.
inline unsigned x87_stub_index(unsigned opcode, unsigned modrm) {
  return (opcode - 0xd8) * 72 + (modrm >= 0xc0 ? modrm - 0xc0 : 64 + ((modrm >> 3) & 7));
}

struct X87Result {
  uint64_t rflags = 0;       // host RFLAGS after the instruction (fcomi's ZF/PF/CF)
  bool ip_updated = false;   // a non-control instruction: FIP changes
  bool fop_updated = false;  // ... and FOP (hosts may store FOP only on unmasked exceptions)
  bool dp_updated = false;   // ... and FDP (a memory operand; hosts may store it only on exceptions)
  bool stored = true;        // the memory destination was written (not suppressed by #I/#O/#U)
};

// Runs stub `index` over the x87 state in s with `mem` (16 bytes) as the memory operand and
// rflags_in's CF/PF/ZF loaded (fcmovcc). store_size: bytes of a memory destination, else 0.
X87Result x87_run(CpuState& s, unsigned index, uint8_t* mem, uint64_t rflags_in,
                  unsigned store_size);

// Whether FCS/FDS read as 0 (CPUID.(EAX=07H,ECX=0):EBX[13] on the host).
bool x87_selectors_deprecated();

// fsw with ES and B recomputed: set exactly while an unmasked exception flag is set.
uint16_t x87_with_summary(uint16_t fsw, uint16_t fcw);

// The full tag word FSTENV/FSAVE store, computed from the registers (SDM Vol. 1 §8.1.7).
uint16_t x87_full_tags(const CpuState& s);

// Fault checks every x87 instruction makes first (SDM Vol. 3 §2.5, Vol. 1 §8.6): #NM when CR0.EM
// or CR0.TS; for waiting instructions, #MF when an unmasked exception is pending and CR0.NE=1.
// (With CR0.NE=0 the exception would be signalled on FERR#, which is not wired: the instruction
// proceeds as if IGNNE# were asserted.)
void x87_check(Cpu& cpu, const Op& op, bool waiting);

// TOP changes to 0 and every tag to valid, keeping each physical register (MMX instructions,
// SDM Vol. 1 §9.5.1). Afterwards fpr[i] is MMX register i.
void x87_enter_mmx(CpuState& s);

// FSTENV/FLDENV images (SDM Vol. 1 Figures 8-9..8-12): 14 bytes with a 16-bit operand size, 28
// with 32 bits (and always in 64-bit mode); real-mode layouts when CR0.PE=0 or in virtual-8086 mode.
void x87_helper_env(Cpu& cpu, const Op& op);

}  // namespace corvid::tcg
