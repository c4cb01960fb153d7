// SSE/SSE2 fault delivery on the bare translator (natively these would be SIGFPE/SIGSEGV/SIGILL):
// unmasked SIMD floating-point exceptions give #XM with CR4.OSXMMEXCPT=1 and #UD without, leave
// the destination alone and report only the pre-computation flags when one of those is unmasked
// (SDM Vol. 1 §11.5.1-11.5.2); 16-byte memory operands of the aligned forms give #GP(0) when
// misaligned, scalar and 64-bit ones do not; CR0.EM or CR4.OSFXSR=0 give #UD, CR0.TS #NM.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tcg/cpu.h"
#include "tests/unit/tcg/test_machine.h"

namespace corvid::tcg::testing {
namespace {

constexpr uint64_t kIdt = 0x3000, kCode = 0x4000, kHandlers = 0x5000, kGdt = 0x6000,
                   kStack = 0x8000, kData = 0x9000;
constexpr uint32_t kMx = 0x00, kX0 = 0x10, kX1 = 0x20, kMisaligned = 0x28, kOutMx = 0x40;
constexpr uint64_t kNoVector = 0xaa;

struct Outcome {
  uint64_t vector, rbx, rcx, fault_rip;
  uint32_t mxcsr;
  uint8_t xmm0[16];
};

struct Prog {
  std::vector<uint8_t> code;
  // opcode bytes, ModRM /reg with an absolute [disp32] (SIB, no base or index).
  void mem(std::initializer_list<uint8_t> opcode, unsigned reg, uint32_t disp) {
    code.insert(code.end(), opcode);
    code.push_back(static_cast<uint8_t>(reg << 3 | 4));
    code.push_back(0x25);
    for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>((kData + disp) >> (8 * i)));
  }
  void raw(std::initializer_list<uint8_t> b) { code.insert(code.end(), b); }
};

// ldmxcsr [kMx]; movups xmm0, [kX0]; movups xmm1, [kX1]; mov ecx, 0x77 (the preamble); <insn>;
// mov ebx, 2; stmxcsr; hlt. Handlers: mov eax, vector; hlt.
Outcome run(uint32_t mxcsr, const float x0[4], const float x1[4],
            const std::vector<uint8_t>& insn, uint64_t cr0_extra = 0, bool osxmmexcpt = true,
            bool osfxsr = true, bool preamble = true) {
  TestBus bus(1 << 20);
  uint8_t* ram = bus.ram();
  uint64_t pml4 = 0x2000 | 3, pdpt = 0x83;
  std::memcpy(ram + 0x1000, &pml4, 8);
  std::memcpy(ram + 0x2000, &pdpt, 8);
  uint64_t code64 = 0x00209a0000000000ull;
  std::memcpy(ram + kGdt + 8, &code64, 8);
  for (unsigned v = 0; v < 32; ++v) {
    uint64_t h = kHandlers + 8 * v;
    uint8_t stub[6] = {0xb8, static_cast<uint8_t>(v), 0, 0, 0, 0xf4};
    std::memcpy(ram + h, stub, sizeof stub);
    uint8_t gate[16] = {};
    gate[0] = h & 0xff;
    gate[1] = (h >> 8) & 0xff;
    gate[2] = 8;
    gate[5] = 0x8e;
    gate[6] = (h >> 16) & 0xff;
    std::memcpy(ram + kIdt + 16 * v, gate, 16);
  }
  std::memcpy(ram + kData + kMx, &mxcsr, 4);
  std::memcpy(ram + kData + kX0, x0, 16);
  std::memcpy(ram + kData + kX1, x1, 16);
  std::memcpy(ram + kData + kMisaligned, x1, 16);
  Prog p;
  if (preamble) {
    p.mem({0x0f, 0xae}, 2, kMx);
    p.mem({0x0f, 0x10}, 0, kX0);
    p.mem({0x0f, 0x10}, 1, kX1);
    p.raw({0xb9, 0x77, 0, 0, 0});
  }
  uint64_t insn_rip = kCode + p.code.size();
  p.code.insert(p.code.end(), insn.begin(), insn.end());
  p.raw({0xbb, 0x02, 0, 0, 0});
  p.mem({0x0f, 0xae}, 3, kOutMx);
  p.raw({0xf4});
  std::memcpy(ram + kCode, p.code.data(), p.code.size());
  Cpu cpu(bus, nullptr, 0);
  CpuState& s = cpu.state();
  s.cr0 = kCr0Pe | kCr0Pg | kCr0Et | kCr0Wp | kCr0Mp | cr0_extra;
  s.cr3 = 0x1000;
  s.cr4 = kCr4Pae | (osfxsr ? kCr4Osfxsr : 0) | (osxmmexcpt ? kCr4Osxmmexcpt : 0);
  s.efer = kEferLme | kEferLma;
  s.seg[kCs].attr = 0xa09b;
  s.seg[kCs].selector = 8;
  s.gdt_base = kGdt;
  s.gdt_limit = 0xff;
  s.idt_base = kIdt;
  s.idt_limit = 32 * 16 - 1;
  s.gpr[0] = kNoVector;
  s.gpr[4] = kStack;
  s.rip = kCode;
  cpu.state_changed();
  cpu.flush_code();
  cpu.run(10000);
  Outcome o{};
  EXPECT_TRUE(cpu.halted());
  o.vector = s.gpr[0];
  o.rbx = s.gpr[3];
  o.rcx = s.gpr[1];
  // The frame's RIP, above the error code for #GP.
  std::memcpy(&o.fault_rip, ram + s.gpr[4] + (o.vector == 13 ? 8 : 0), 8);
  if (o.vector != kNoVector) {
    EXPECT_EQ(o.fault_rip, insn_rip);
  }
  o.mxcsr = s.mxcsr;
  std::memcpy(o.xmm0, s.xmm[0], 16);
  return o;
}

const float kOnes[4] = {1.0f, 1.0f, 1.0f, 1.0f};
const float kZeros[4] = {0.0f, 0.0f, 0.0f, 0.0f};
const std::vector<uint8_t> kDivss = {0xf3, 0x0f, 0x5e, 0xc1};  // divss xmm0, xmm1

TEST(TcgSseFaults, MaskedDivideByZeroSetsStickyFlagAndStoresInfinity) {
  Outcome o = run(0x1f80, kOnes, kZeros, kDivss);
  EXPECT_EQ(o.vector, kNoVector);
  EXPECT_EQ(o.rbx, 2u);
  EXPECT_EQ(o.mxcsr, 0x1f84u);
  float r;
  std::memcpy(&r, o.xmm0, 4);
  EXPECT_EQ(r, __builtin_inff());
}

TEST(TcgSseFaults, UnmaskedExceptionIsXmOrUdAndKeepsTheDestination) {
  Outcome xm = run(0x1d80, kOnes, kZeros, kDivss);  // ZM clear
  EXPECT_EQ(xm.vector, 19u);
  EXPECT_EQ(xm.mxcsr, 0x1d84u);
  EXPECT_EQ(std::memcmp(xm.xmm0, kOnes, 16), 0);
  Outcome ud = run(0x1d80, kOnes, kZeros, kDivss, 0, /*osxmmexcpt=*/false);
  EXPECT_EQ(ud.vector, 6u);
  EXPECT_EQ(ud.mxcsr, 0x1d84u);
  EXPECT_EQ(std::memcmp(ud.xmm0, kOnes, 16), 0);
  // Precision unmasked: 1/3 is inexact -> #XM with PE set, destination kept.
  const float three[4] = {3.0f, 3.0f, 3.0f, 3.0f};
  Outcome pe = run(0x0f80, kOnes, three, kDivss);
  EXPECT_EQ(pe.vector, 19u);
  EXPECT_EQ(pe.mxcsr, 0x0fa0u);
  EXPECT_EQ(std::memcmp(pe.xmm0, kOnes, 16), 0);
  // cvttss2si ecx, xmm1 with a NaN and IM clear: #XM, ecx not written.
  const float nan[4] = {__builtin_nanf(""), 0, 0, 0};
  Outcome cvt = run(0x1f00, kOnes, nan, {0xf3, 0x0f, 0x2c, 0xc9});
  EXPECT_EQ(cvt.vector, 19u);
  EXPECT_EQ(cvt.rcx, 0x77u);
  EXPECT_EQ(cvt.mxcsr, 0x1f01u);
  // comiss with a QNaN signals invalid, ucomiss does not.
  Outcome comi = run(0x1f00, kOnes, nan, {0x0f, 0x2f, 0xc1});
  EXPECT_EQ(comi.vector, 19u);
  Outcome ucomi = run(0x1f00, kOnes, nan, {0x0f, 0x2e, 0xc1});
  EXPECT_EQ(ucomi.vector, kNoVector);
  EXPECT_EQ(ucomi.mxcsr, 0x1f00u);
}

TEST(TcgSseFaults, UnmaskedPreComputationExceptionReportsOnlyItsFlags) {
  // addps: lane 0 SNaN + 1 (invalid), lane 1 max + max (overflow, inexact).
  float a[4] = {0, 3.0e38f, 1.0f, 1.0f}, b[4] = {1.0f, 3.0e38f, 1.0f, 1.0f};
  uint32_t snan = 0x7f800001;
  std::memcpy(&a[0], &snan, 4);
  const std::vector<uint8_t> addps = {0x0f, 0x58, 0xc1};
  Outcome im = run(0x1f00, a, b, addps);  // IM clear: IE only
  EXPECT_EQ(im.vector, 19u);
  EXPECT_EQ(im.mxcsr, 0x1f01u);
  Outcome om = run(0x1b80, a, b, addps);  // OM clear, IM set: all flags, then #XM
  EXPECT_EQ(om.vector, 19u);
  EXPECT_EQ(om.mxcsr, 0x1ba9u);
  EXPECT_EQ(std::memcmp(om.xmm0, a, 16), 0);
}

TEST(TcgSseFaults, UnmaskedUnderflowOnExactTinyResult) {
  // 2^-126 * 0.5 = 2^-127: tiny and exact. Masked: no flag, a denormal result (FTZ off) or +0
  // with UE|PE (FTZ on). Unmasked: #XM with UE, even with FTZ set.
  float a[4] = {0x1p-126f, 1, 1, 1}, b[4] = {0.5f, 1, 1, 1};
  const std::vector<uint8_t> mulss = {0xf3, 0x0f, 0x59, 0xc1};
  Outcome masked = run(0x1f80, a, b, mulss);
  EXPECT_EQ(masked.vector, kNoVector);
  EXPECT_EQ(masked.mxcsr, 0x1f80u);
  float r;
  std::memcpy(&r, masked.xmm0, 4);
  EXPECT_EQ(r, 0x1p-127f);
  Outcome ftz = run(0x9f80, a, b, mulss);
  EXPECT_EQ(ftz.mxcsr, 0x9fb0u);
  for (uint32_t mx : {0x1780u, 0x9780u}) {
    Outcome um = run(mx, a, b, mulss);
    EXPECT_EQ(um.vector, 19u) << std::hex << mx;
    EXPECT_EQ(um.mxcsr, mx | 0x10) << std::hex << mx;
    EXPECT_EQ(std::memcmp(um.xmm0, a, 16), 0);
  }
  // Not an underflow: the same lanes through minss, and a normal product.
  EXPECT_EQ(run(0x1780, a, b, {0xf3, 0x0f, 0x5d, 0xc1}).vector, kNoVector);
  EXPECT_EQ(run(0x1780, kOnes, b, mulss).vector, kNoVector);
}

TEST(TcgSseFaults, AlignmentChecksOnlyForAligned16ByteForms) {
  auto mem_insn = [](std::initializer_list<uint8_t> opcode) {
    Prog p;
    p.mem(opcode, 0, kMisaligned);
    return p.code;
  };
  for (auto op : {std::initializer_list<uint8_t>{0x0f, 0x58},          // addps
                  std::initializer_list<uint8_t>{0x66, 0x0f, 0x59},    // mulpd
                  std::initializer_list<uint8_t>{0x0f, 0x28},          // movaps
                  std::initializer_list<uint8_t>{0x66, 0x0f, 0xe5},    // pmulhw
                  std::initializer_list<uint8_t>{0x0f, 0xc2},          // cmpps (imm below)
                  std::initializer_list<uint8_t>{0x66, 0x0f, 0x5b}}) { // cvtps2dq
    std::vector<uint8_t> insn = mem_insn(op);
    if (op.size() == 2 && *(op.begin() + 1) == 0xc2) insn.push_back(1);
    Outcome o = run(0x1f80, kOnes, kOnes, insn);
    EXPECT_EQ(o.vector, 13u) << int(*(op.end() - 1));
  }
  for (auto op : {std::initializer_list<uint8_t>{0xf3, 0x0f, 0x58},    // addss
                  std::initializer_list<uint8_t>{0xf2, 0x0f, 0x59},    // mulsd
                  std::initializer_list<uint8_t>{0x0f, 0x5a},          // cvtps2pd m64
                  std::initializer_list<uint8_t>{0x0f, 0x10}}) {       // movups
    Outcome o = run(0x1f80, kOnes, kOnes, mem_insn(op));
    EXPECT_EQ(o.vector, kNoVector) << int(*(op.end() - 1));
    EXPECT_EQ(o.rbx, 2u);
  }
}

TEST(TcgSseFaults, EmOsfxsrAndTs) {
  const std::vector<uint8_t> addps = {0x0f, 0x58, 0xc1};
  EXPECT_EQ(run(0x1f80, kOnes, kOnes, {0x0f, 0x58, 0xc1}, 0).vector, kNoVector);
  // Without the preamble (its ldmxcsr would fault first): the instruction alone.
  auto alone = [&](uint64_t cr0, bool osfxsr) {
    return run(0x1f80, kOnes, kOnes, addps, cr0, true, osfxsr, false).vector;
  };
  EXPECT_EQ(alone(kCr0Em, true), 6u);
  EXPECT_EQ(alone(0, false), 6u);
  EXPECT_EQ(alone(kCr0Ts, true), 7u);
}

}  // namespace
}  // namespace corvid::tcg::testing
