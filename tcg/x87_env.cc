// FSTENV/FLDENV/FSAVE/FRSTOR (SDM Vol. 1 §8.1.10, Figures 8-9..8-12): the environment image is 14
// bytes with a 16-bit operand size and 28 bytes otherwise (also in 64-bit mode), in a protected-
// mode or a real-mode (CR0.PE=0 or virtual-8086) layout; FSAVE/FRSTOR add ST(0)..ST(7), 10 bytes
// each.
#include <cstring>

#include "tcg/sse_common.h"
#include "tcg/x87_host.h"

namespace corvid::tcg {
namespace {

enum EnvKind : uint8_t { kFnstenv = 0, kFldenv, kFnsave, kFrstor };

void put16(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, 2);
}
void put32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
uint32_t get16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void write_env(const CpuState& s, uint8_t* b, bool small, bool real) {
  uint32_t tags = x87_full_tags(s);
  // Real mode stores 20/32-bit linear pointers split across two fields.
  uint32_t fip = static_cast<uint32_t>(s.fip), fdp = static_cast<uint32_t>(s.fdp);
  if (real) {
    fip += static_cast<uint32_t>(s.fcs) << 4;
    fdp += static_cast<uint32_t>(s.fds) << 4;
  }
  if (small) {
    put16(b + 0, s.fcw);
    put16(b + 2, s.fsw);
    put16(b + 4, tags);
    put16(b + 6, fip);
    put16(b + 8, real ? ((fip >> 4) & 0xf000) | s.fop : s.fcs);
    put16(b + 10, fdp);
    put16(b + 12, real ? (fdp >> 4) & 0xf000 : s.fds);
    return;
  }
  // The reserved upper halves read as 1s on hardware.
  put32(b + 0, 0xffff0000u | s.fcw);
  put32(b + 4, 0xffff0000u | s.fsw);
  put32(b + 8, 0xffff0000u | tags);
  if (real) {
    put32(b + 12, 0xffff0000u | (fip & 0xffff));
    put32(b + 16, ((fip >> 4) & 0x0ffff000u) | s.fop);
    put32(b + 20, 0xffff0000u | (fdp & 0xffff));
    put32(b + 24, (fdp >> 4) & 0x0ffff000u);
  } else {
    put32(b + 12, fip);
    put32(b + 16, s.fcs | (static_cast<uint32_t>(s.fop) << 16));
    put32(b + 20, fdp);
    put32(b + 24, 0xffff0000u | s.fds);
  }
}

void read_env(CpuState& s, const uint8_t* b, bool small, bool real) {
  uint32_t fcw, fsw, tags, fip, fdp, fop = 0, fcs = 0, fds = 0;
  if (small) {
    fcw = get16(b);
    fsw = get16(b + 2);
    tags = get16(b + 4);
    fip = get16(b + 6);
    fdp = get16(b + 10);
    if (real) {
      fip |= (get16(b + 8) & 0xf000) << 4;
      fop = get16(b + 8) & 0x7ff;
      fdp |= (get16(b + 12) & 0xf000) << 4;
    } else {
      fcs = get16(b + 8);
      fds = get16(b + 12);
    }
  } else {
    fcw = get16(b);
    fsw = get16(b + 4);
    tags = get16(b + 8);
    if (real) {
      fip = (get32(b + 12) & 0xffff) | ((get32(b + 16) & 0x0ffff000u) << 4);
      fop = get32(b + 16) & 0x7ff;
      fdp = (get32(b + 20) & 0xffff) | ((get32(b + 24) & 0x0ffff000u) << 4);
    } else {
      fip = get32(b + 12);
      fcs = get16(b + 16);
      fop = (get32(b + 16) >> 16) & 0x7ff;
      fdp = get32(b + 20);
      fds = get16(b + 24);
    }
  }
  s.fcw = static_cast<uint16_t>(fcw);
  s.fsw = x87_with_summary(static_cast<uint16_t>(fsw), s.fcw);
  // Only empty versus in use survives: the processor derives the rest from the registers.
  uint16_t ftw = 0;
  for (unsigned phys = 0; phys < 8; ++phys) {
    if (((tags >> (2 * phys)) & 3) != 3) ftw |= static_cast<uint16_t>(1u << phys);
  }
  s.ftw = ftw;
  s.fip = fip;
  s.fdp = fdp;
  s.fop = static_cast<uint16_t>(fop);
  s.fcs = static_cast<uint16_t>(fcs);
  s.fds = static_cast<uint16_t>(fds);
}

}  // namespace

void x87_helper_env(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  // FLDENV and FRSTOR do not wait for pending exceptions either (measured: FLDENV of an image
  // with an unmasked flag set does not fault).
  x87_check(cpu, op, false);
  bool small = op.size == 2;
  bool real = !(s.cr0 & kCr0Pe) || (s.rflags & kFlagVm);
  unsigned env = small ? 14 : 28;
  bool regs = op.cond == kFnsave || op.cond == kFrstor;
  unsigned total = env + (regs ? 80 : 0);
  uint64_t addr = slot(cpu, op.a);
  uint8_t buf[108] = {};
  if (op.cond == kFnstenv || op.cond == kFnsave) {
    cpu.translate(addr, Cpu::Access::kWrite, false, &op);
    cpu.translate(addr + total - 1, Cpu::Access::kWrite, false, &op);
    write_env(s, buf, small, real);
    if (regs) {
      for (unsigned i = 0; i < 8; ++i) std::memcpy(buf + env + 10 * i, s.fpr[i], 10);
    }
    store_mem(cpu, op, addr, total, false, buf);
    if (op.cond == kFnstenv) {
      // FNSTENV then masks every exception.
      s.fcw |= kFswExceptions;
      s.fsw = x87_with_summary(s.fsw, s.fcw);
    } else {
      // FNSAVE then initialises the FPU like FNINIT.
      s.fcw = 0x37f;
      s.fsw = s.ftw = s.fop = s.fcs = s.fds = 0;
      s.fip = s.fdp = 0;
    }
  } else {
    load_mem(cpu, op, addr, total, false, buf);
    read_env(s, buf, small, real);
    if (regs) {
      for (unsigned i = 0; i < 8; ++i) {
        std::memset(s.fpr[i], 0, 16);
        std::memcpy(s.fpr[i], buf + env + 10 * i, 10);
      }
    }
  }
}

}  // namespace corvid::tcg
