// x87/MMX fault delivery on the bare translator (natively these would be SIGFPE/SIGILL): #MF at
// the next waiting instruction after an unmasked exception when CR0.NE=1 (and not with NE=0),
// #NM with CR0.TS, #UD for MMX with CR0.EM. The guest runs in 64-bit mode with an IDT whose
// handlers record the vector in eax and halt.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tcg/cpu.h"
#include "tests/unit/tcg/test_machine.h"

namespace corvid::tcg::testing {
namespace {

constexpr uint64_t kIdt = 0x3000, kCode = 0x4000, kHandlers = 0x5000, kGdt = 0x6000,
                   kStack = 0x8000, kCw = 0x9000;

struct Outcome {
  uint64_t rax, rbx, fault_rip;
  bool halted;
};

Outcome run(const std::vector<uint8_t>& code, uint64_t cr0_extra, uint64_t cr0_clear = 0) {
  TestBus bus(1 << 20);
  uint8_t* ram = bus.ram();
  uint64_t pml4 = 0x2000 | 3, pdpt = 0x83;  // PML4[0] -> PDPT, PDPT[0] = 1 GiB identity page
  std::memcpy(ram + 0x1000, &pml4, 8);
  std::memcpy(ram + 0x2000, &pdpt, 8);
  uint64_t code64 = 0x00209a0000000000ull;
  std::memcpy(ram + kGdt + 8, &code64, 8);
  for (unsigned v = 0; v < 32; ++v) {
    // Handler v: mov eax, v; hlt.
    uint64_t h = kHandlers + 8 * v;
    uint8_t stub[6] = {0xb8, static_cast<uint8_t>(v), 0, 0, 0, 0xf4};
    std::memcpy(ram + h, stub, sizeof stub);
    uint8_t gate[16] = {};
    gate[0] = h & 0xff;
    gate[1] = (h >> 8) & 0xff;
    gate[2] = 8;  // selector
    gate[5] = 0x8e;
    gate[6] = (h >> 16) & 0xff;
    gate[7] = (h >> 24) & 0xff;
    std::memcpy(ram + kIdt + 16 * v, gate, 16);
  }
  uint16_t cw = 0x37b;  // zero-divide unmasked
  std::memcpy(ram + kCw, &cw, 2);
  std::memcpy(ram + kCode, code.data(), code.size());
  Cpu cpu(bus, nullptr, 0);
  CpuState& s = cpu.state();
  s.cr0 = ((kCr0Pe | kCr0Pg | kCr0Et | kCr0Wp | cr0_extra) & ~cr0_clear);
  s.cr3 = 0x1000;
  s.cr4 = kCr4Pae | kCr4Osfxsr;
  s.efer = kEferLme | kEferLma;
  s.seg[kCs].attr = 0xa09b;
  s.seg[kCs].selector = 8;
  s.gdt_base = kGdt;
  s.gdt_limit = 0xff;
  s.idt_base = kIdt;
  s.idt_limit = 32 * 16 - 1;
  s.gpr[4] = kStack;
  s.rip = kCode;
  cpu.state_changed();
  cpu.flush_code();
  cpu.run(10000);
  uint64_t rip = 0;
  std::memcpy(&rip, ram + s.gpr[4], 8);  // the interrupt frame's RIP, when one was pushed
  return {s.gpr[0] & 0xffffffff, s.gpr[3], rip, cpu.halted()};
}

// fninit; fldcw [kCw]; fld1; fldz; fdivp (ZE, unmasked: pending); mov ebx, 1; <tail>; mov ebx, 2; hlt
std::vector<uint8_t> program(const std::vector<uint8_t>& tail) {
  std::vector<uint8_t> c;
  c.reserve(64);
  for (uint8_t b : {0xdb, 0xe3, 0xd9, 0x2c, 0x25, 0x00, 0x90, 0x00, 0x00, 0xd9, 0xe8, 0xd9, 0xee,
                    0xde, 0xf9, 0xbb, 0x01, 0x00, 0x00, 0x00})
    c.push_back(b);
  for (uint8_t b : tail) c.push_back(b);
  for (uint8_t b : {0xbb, 0x02, 0x00, 0x00, 0x00, 0xf4}) c.push_back(b);
  return c;
}
constexpr uint64_t kTailRip = kCode + 20;

TEST(TcgX87Exceptions, PendingUnmaskedExceptionFaultsAtNextWaitingInstruction) {
  for (const std::vector<uint8_t>& tail : std::vector<std::vector<uint8_t>>{
           {0x9b},              // fwait
           {0xd9, 0xe8},        // fld1
           {0x0f, 0xfc, 0xc1},  // paddb mm0, mm1
           {0x0f, 0x77}}) {     // emms
    Outcome o = run(program(tail), kCr0Ne);
    EXPECT_TRUE(o.halted);
    EXPECT_EQ(o.rax, 16u);
    EXPECT_EQ(o.rbx, 1u);
    EXPECT_EQ(o.fault_rip, kTailRip);
  }
  // Non-waiting instructions do not fault: fnstsw ax shows ES and ZE.
  Outcome o = run(program({0xdf, 0xe0, 0x89, 0xc1, 0x31, 0xc0}), kCr0Ne);
  EXPECT_EQ(o.rbx, 2u);
}

TEST(TcgX87Exceptions, NoFaultWithoutCr0Ne) {
  Outcome o = run(program({0x9b, 0xd9, 0xe8}), 0);
  EXPECT_TRUE(o.halted);
  EXPECT_EQ(o.rbx, 2u);
}

TEST(TcgX87Exceptions, TsGivesNmAndEmGivesNmForX87UdForMmx) {
  Outcome ts = run(program({}), kCr0Ts | kCr0Ne);
  EXPECT_EQ(ts.rax, 7u);
  EXPECT_EQ(ts.fault_rip, kCode);
  Outcome em = run(program({}), kCr0Em | kCr0Ne);
  EXPECT_EQ(em.rax, 7u);
  Outcome mmx = run({0x0f, 0xfc, 0xc1, 0xf4}, kCr0Em);
  EXPECT_EQ(mmx.rax, 6u);
  EXPECT_EQ(mmx.fault_rip, kCode);
  // fwait faults with #NM only when MP and TS are both set.
  Outcome wait_ts = run({0x9b, 0xbb, 0x02, 0, 0, 0, 0xf4}, kCr0Ts);
  EXPECT_EQ(wait_ts.rbx, 2u);
  Outcome wait_mp = run({0x9b, 0xbb, 0x02, 0, 0, 0, 0xf4}, kCr0Ts | kCr0Mp);
  EXPECT_EQ(wait_mp.rax, 7u);
}

}  // namespace
}  // namespace corvid::tcg::testing
