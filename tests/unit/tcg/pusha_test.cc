// PUSHA/PUSHAD and POPA/POPAD (kvm-unit-tests' realmode test stopped at its first pushal): frame
// order EAX, ECX, EDX, EBX, original ESP, EBP, ESI, EDI; POPA skips the stored ESP. 32-bit flat
// protected mode, paging off.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tcg/cpu.h"
#include "tests/unit/tcg/test_machine.h"

namespace corvid::tcg::testing {
namespace {

constexpr uint64_t kCode = 0x7000, kStack = 0x9000;

struct Guest32 {
  TestBus bus{1 << 20};
  Cpu cpu{bus, nullptr, 0};
  explicit Guest32(const std::vector<uint8_t>& code) {
    std::memcpy(bus.ram() + kCode, code.data(), code.size());
    CpuState& s = cpu.state();
    s.cr0 = kCr0Pe | kCr0Et;
    for (auto& seg : s.seg) seg = Segment{0, 0xffffffff, 0xc093, 0x10};
    s.seg[kCs] = Segment{0, 0xffffffff, 0xc09b, 0x08};
    for (int i = 0; i < 8; ++i) s.gpr[i] = 0x11111111u * (i + 1);
    s.gpr[4] = kStack;
    s.rip = kCode;
    cpu.state_changed();
    cpu.flush_code();
  }
  uint32_t mem32(uint64_t a) {
    uint32_t v;
    std::memcpy(&v, bus.ram() + a, 4);
    return v;
  }
};

TEST(TcgPusha, PushadFrameAndPopadRestores) {
  // pushad; xor eax,eax; xor ecx,ecx; xor ebp,ebp; xor edi,edi; popad; hlt
  Guest32 g({0x60, 0x31, 0xc0, 0x31, 0xc9, 0x31, 0xed, 0x31, 0xff, 0x61, 0xf4});
  g.cpu.run(100);
  const CpuState& s = g.cpu.state();
  const uint32_t order[8] = {0x11111111u, 0x22222222u, 0x33333333u, 0x44444444u,
                             static_cast<uint32_t>(kStack), 0x66666666u, 0x77777777u,
                             0x88888888u};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(g.mem32(kStack - 4 * (i + 1)), order[i]) << i;
  for (int i = 0; i < 8; ++i) {
    if (i != 4) {
      EXPECT_EQ(s.gpr[i], 0x11111111u * (i + 1)) << i;
    }
  }
  EXPECT_EQ(s.gpr[4], kStack);
  EXPECT_EQ(s.rip, kCode + 11);
}

TEST(TcgPusha, SixteenBitPushaKeepsHighHalves) {
  // pushaw (66 60); mov eax, 0xaaaa5555; popaw (66 61); hlt
  Guest32 g({0x66, 0x60, 0xb8, 0x55, 0x55, 0xaa, 0xaa, 0x66, 0x61, 0xf4});
  g.cpu.run(100);
  const CpuState& s = g.cpu.state();
  EXPECT_EQ(g.mem32(kStack - 4) >> 16, 0x1111u);  // AX first, at kStack - 2
  EXPECT_EQ(s.gpr[0], 0xaaaa1111u);  // popa writes AX only
  EXPECT_EQ(s.gpr[4], kStack);
}

}  // namespace
}  // namespace corvid::tcg::testing
