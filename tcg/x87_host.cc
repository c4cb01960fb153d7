// Running guest x87 instructions on the host's x87 unit, and the x87 state formats the guest can
// store and load (FSTENV/FLDENV/FSAVE/FRSTOR).
#include "tcg/x87_host.h"

#include <cpuid.h>

#include <cstring>

#include "tcg/sse_common.h"

extern "C" char corvid_x87_stubs[];

namespace corvid::tcg {
namespace {

using Stub = uint64_t (*)(void* image, void* mem, uint64_t rflags);

// An x87 exception is pending (and ES/B are set) exactly while an unmasked exception flag is set:
// measured on hardware, FLDCW that unmasks a flagged exception sets ES at once, FXRSTOR of flags
// without ES still makes the next waiting instruction fault, and ES without flags is dropped.
bool pending(uint16_t fsw, uint16_t fcw) {
  return fsw & ~fcw & kFswExceptions;
}

void fill_image(const CpuState& s, uint16_t fsw, uint8_t* img) {
  std::memset(img, 0, 32);  // FOP, FIP and FDP are 0: a changed one shows the host updated it
  std::memcpy(img, &s.fcw, 2);
  std::memcpy(img + 2, &fsw, 2);
  img[4] = static_cast<uint8_t>(s.ftw);
  uint32_t mxcsr = __builtin_ia32_stmxcsr();  // the host's own: the stub must not change it
  std::memcpy(img + 24, &mxcsr, 4);
  std::memcpy(img + 32, s.fpr, sizeof s.fpr);
}

}  // namespace

uint16_t x87_with_summary(uint16_t fsw, uint16_t fcw) {
  fsw &= ~(kFswEs | kFswB);
  if (pending(fsw, fcw)) fsw |= kFswEs | kFswB;
  return fsw;
}

X87Result x87_run(CpuState& s, unsigned index, uint8_t* mem, uint64_t rflags_in,
                  unsigned store_size) {
  alignas(16) uint8_t img[512];
  // Flags of exceptions the guest left unmasked and pending (only when the instruction does not
  // wait for them, or CR0.NE=0) would make the host fault: run without them, then merge them back.
  uint16_t held = 0;
  if (pending(s.fsw, s.fcw)) held = s.fsw & (kFswExceptions | kFswSf);
  fill_image(s, static_cast<uint16_t>(s.fsw & ~held & ~(kFswEs | kFswB)), img);
  alignas(16) uint8_t saved[160];
  if (store_size) {
    std::memcpy(saved, img, sizeof saved);
    std::memset(mem, 0, 16);
  }
  Stub fn = reinterpret_cast<Stub>(corvid_x87_stubs + 32 * index);
  uint64_t flags_in = (rflags_in & (kFlagCf | kFlagPf | kFlagZf)) | 2;
  X87Result r;
  r.rflags = fn(img, mem, flags_in);
  uint16_t fsw;
  std::memcpy(&fsw, img + 2, 2);
  if (store_size && (fsw & kFswEs)) {
    // An unmasked exception can suppress the store: run again over other memory contents and
    // see whether the destination bytes followed.
    alignas(16) uint8_t img2[512];
    std::memcpy(img2, saved, sizeof saved);
    alignas(16) uint8_t mem2[16];
    std::memset(mem2, 0xff, sizeof mem2);
    fn(img2, mem2, flags_in);
    r.stored = std::memcmp(mem, mem2, store_size) == 0;
  }
  uint16_t fop;
  uint64_t fip, fdp;
  std::memcpy(&fop, img + 6, 2);
  std::memcpy(&fip, img + 8, 8);
  std::memcpy(&fdp, img + 16, 8);
  r.ip_updated = fip != 0;
  r.dp_updated = fdp != 0;
  r.fop_updated = fop != 0;
  std::memcpy(&s.fcw, img, 2);
  s.ftw = img[4];
  std::memcpy(s.fpr, img + 32, sizeof s.fpr);
  s.fsw = held ? x87_with_summary(fsw | held, s.fcw) : fsw;
  return r;
}

bool x87_selectors_deprecated() {
  // CPUID.(EAX=07H,ECX=0):EBX[13]: the host stores 0 for FCS and FDS; the guest sees the same.
  static const bool deprecated = [] {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 13));
  }();
  return deprecated;
}

void x87_check(Cpu& cpu, const Op& op, bool waiting) {
  const CpuState& s = cpu.s_;
  if (s.cr0 & (kCr0Em | kCr0Ts)) cpu.raise_no_error(kNm, &op);
  if (waiting && (s.cr0 & kCr0Ne) && pending(s.fsw, s.fcw)) cpu.raise_no_error(kMf, &op);
}

void x87_enter_mmx(CpuState& s) {
  unsigned top = (s.fsw >> kFswTopShift) & 7;
  if (top) {
    // Physical register j is ST((j - TOP) mod 8).
    uint8_t regs[8][16];
    for (unsigned j = 0; j < 8; ++j) std::memcpy(regs[j], s.fpr[(j - top) & 7], 16);
    std::memcpy(s.fpr, regs, sizeof regs);
    s.fsw &= ~(7u << kFswTopShift);
  }
  s.ftw = 0xff;
}

uint16_t x87_full_tags(const CpuState& s) {
  // SDM Vol. 1 §8.1.7: 00 valid, 01 zero, 10 special (NaN, infinity, denormal, unsupported),
  // 11 empty; the tag word is indexed by physical register.
  unsigned top = (s.fsw >> kFswTopShift) & 7;
  uint16_t tags = 0;
  for (unsigned phys = 0; phys < 8; ++phys) {
    unsigned tag = 3;
    if (s.ftw & (1u << phys)) {
      const uint8_t* r = s.fpr[(phys - top) & 7];
      uint64_t mant;
      uint16_t se;
      std::memcpy(&mant, r, 8);
      std::memcpy(&se, r + 8, 2);
      unsigned exp = se & 0x7fff;
      if (exp == 0x7fff)
        tag = 2;
      else if (exp == 0)
        tag = mant ? 2 : 1;
      else
        tag = (mant >> 63) ? 0 : 2;
    }
    tags |= static_cast<uint16_t>(tag << (2 * phys));
  }
  return tags;
}

}  // namespace corvid::tcg
