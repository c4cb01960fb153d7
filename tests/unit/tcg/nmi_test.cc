// NMI in the translator CPU (SDM Vol. 3 §6.7.1): taken through IDT vector 2 with IF clear, wakes
// HLT, and blocks further NMIs until the handler's IRET (one more stays pending meanwhile).
// 64-bit mode on an identity-mapped first 2 MiB.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tcg/cpu.h"
#include "tests/unit/tcg/test_machine.h"

namespace corvid::tcg::testing {
namespace {

constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kIdt = 0x4000, kHandlers = 0x5000,
                   kGdt = 0x6000, kCode = 0x7000, kStack = 0x9000;

struct Guest {
  TestBus bus{4 << 20};
  Cpu cpu{bus, nullptr, 0};
  uint8_t* ram = bus.ram();

  // handler: vector 2's code; every other vector records itself in eax and halts.
  Guest(const std::vector<uint8_t>& code, const std::vector<uint8_t>& nmi_handler) {
    put64(kPml4, kPdpt | 3);
    put64(kPdpt, kPd | 3);
    put64(kPd, 0x83);
    put64(kGdt + 8, 0x00209a0000000000ull);
    for (unsigned v = 0; v < 32; ++v) {
      uint64_t h = kHandlers + 64 * v;
      std::vector<uint8_t> stub = {0xb8, static_cast<uint8_t>(v), 0, 0, 0, 0xf4};  // mov eax,v; hlt
      if (v == kNmi) stub = nmi_handler;
      std::memcpy(ram + h, stub.data(), stub.size());
      uint64_t lo = (h & 0xffff) | (8ull << 16) | (0x8eull << 40) | ((h & 0xffff0000ull) << 32);
      put64(kIdt + 16 * v, lo);
    }
    std::memcpy(ram + kCode, code.data(), code.size());
    CpuState& s = cpu.state();
    s.cr0 = kCr0Pe | kCr0Pg | kCr0Et | kCr0Wp;
    s.cr3 = kPml4;
    s.cr4 = kCr4Pae;
    s.efer = kEferLme | kEferLma | kEferNxe;
    s.seg[kCs].attr = 0xa09b;
    s.seg[kCs].selector = 8;
    s.gdt_base = kGdt;
    s.gdt_limit = 0xff;
    s.idt_base = kIdt;
    s.idt_limit = 32 * 16 - 1;
    s.gpr[0] = 0xffff;
    s.gpr[4] = kStack;
    s.rip = kCode;
    cpu.state_changed();
    cpu.flush_code();
  }
  void put64(uint64_t a, uint64_t v) { std::memcpy(ram + a, &v, 8); }
  uint64_t get64(uint64_t a) const {
    uint64_t v;
    std::memcpy(&v, ram + a, 8);
    return v;
  }
  CpuExitReason run() { return cpu.run(10000).reason; }
  uint64_t reg(int i) { return cpu.state().gpr[i]; }
};

const std::vector<uint8_t> kCliHlts = {0xfa, 0xf4, 0xf4, 0xf4, 0xeb, 0xfe};  // cli; hlt x3; jmp $
const uint64_t kNmiHandler = kHandlers + 64 * kNmi;

TEST(TcgNmi, WakesHltWithInterruptsOffThroughVector2) {
  Guest g(kCliHlts, {0xb8, 2, 0, 0, 0, 0xf4});  // mov eax, 2; hlt
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);
  EXPECT_EQ(g.reg(0), 0xffffu);
  EXPECT_EQ(g.cpu.state().rip, kCode + 2);
  g.cpu.post_nmi();
  EXPECT_TRUE(g.cpu.nmi_pending());
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);  // the handler's hlt
  EXPECT_EQ(g.reg(0), 2u);
  EXPECT_FALSE(g.cpu.nmi_pending());
  EXPECT_EQ(g.cpu.state().rip, kNmiHandler + 6);
  // Frame: RIP after the interrupted hlt, CS, RFLAGS with IF clear.
  uint64_t rsp = g.reg(4);
  EXPECT_EQ(g.get64(rsp), kCode + 2);
  EXPECT_EQ(g.get64(rsp + 8), 8u);
  EXPECT_EQ(g.get64(rsp + 16) & kFlagIf, 0u);
  EXPECT_EQ(g.cpu.state().nmi_blocked, 1u);
}

TEST(TcgNmi, SecondNmiWaitsForIret) {
  // inc ebx; hlt; iretq
  Guest g(kCliHlts, {0xff, 0xc3, 0xf4, 0x48, 0xcf});
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);
  g.cpu.post_nmi();
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);
  EXPECT_EQ(g.reg(3), 1u);
  EXPECT_EQ(g.cpu.state().rip, kNmiHandler + 3);
  // A second NMI while the first handler has not returned: held, the halt is not even left.
  g.cpu.post_nmi();
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);
  EXPECT_EQ(g.reg(3), 1u);
  EXPECT_TRUE(g.cpu.nmi_pending());
  // Resume the handler (as an external wake would): its IRET unblocks, the held NMI follows at
  // once with the return address of the first frame.
  g.cpu.set_halted(false);
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);
  EXPECT_EQ(g.reg(3), 2u);
  EXPECT_EQ(g.cpu.state().rip, kNmiHandler + 3);
  EXPECT_EQ(g.get64(g.reg(4)), kCode + 2);
  EXPECT_FALSE(g.cpu.nmi_pending());
  // Back in the main code after the second IRET: nothing pending, the next hlt stops it.
  g.cpu.set_halted(false);
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);
  EXPECT_EQ(g.cpu.state().rip, kCode + 3);
  EXPECT_EQ(g.cpu.state().nmi_blocked, 0u);
}

TEST(TcgNmi, IretThatFaultsStillUnblocks) {
  // The NMI handler returns to a non-present code selector (0x10): IRET raises #NP(0x10), and
  // NMIs are unblocked even so (SDM Vol. 3 §6.7.1).
  // mov qword [rsp+8], 0x10; iretq
  Guest g(kCliHlts, {0x48, 0xc7, 0x44, 0x24, 0x08, 0x10, 0, 0, 0, 0x48, 0xcf});
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);
  g.cpu.post_nmi();
  EXPECT_EQ(g.run(), CpuExitReason::kHalt);
  EXPECT_EQ(g.reg(0), static_cast<uint64_t>(kNp));
  EXPECT_EQ(g.cpu.state().nmi_blocked, 0u);
}

TEST(TcgNmi, HandlerOnTheSamePageIsNotChainedToTheInterruptedBlock) {
  // cli; L: jmp L, and the NMI handler (inc ebx; iretq) on the same page. The loop's exit, left
  // unchained when the budget ran out, must not be linked to the handler the NMI enters next:
  // the loop would then jump into the handler without an interrupt frame (kvm-unit-tests' apic
  // test entered its IPI handler like that and IRET popped garbage).
  Guest g({0xfa, 0xeb, 0xfe}, {});
  const uint64_t handler = kCode + 0x800;
  const uint8_t code[] = {0xff, 0xc3, 0x48, 0xcf};
  std::memcpy(g.ram + handler, code, sizeof code);
  g.put64(kIdt + 16 * kNmi,
          (handler & 0xffff) | (8ull << 16) | (0x8eull << 40) | ((handler & 0xffff0000ull) << 32));
  EXPECT_EQ(g.run(), CpuExitReason::kBudget);
  for (int i = 1; i <= 3; ++i) {
    g.cpu.post_nmi();
    EXPECT_EQ(g.run(), CpuExitReason::kBudget);
    EXPECT_EQ(g.reg(3), static_cast<uint64_t>(i));
    EXPECT_EQ(g.reg(4), kStack);
    EXPECT_EQ(g.cpu.state().rip, kCode + 1);
    EXPECT_EQ(g.reg(0), 0xffffu);  // no exception
  }
}

}  // namespace
}  // namespace corvid::tcg::testing
