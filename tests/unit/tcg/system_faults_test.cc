// CPU behaviour kvm-unit-tests' x86 suite found wrong in the translator (docs/kvm-unit-tests.md),
// pinned on the bare translator: ENTER at nesting levels 0 and 2, RF in a fault's frame (and not
// in a trap's), #GP(0) instead of #PF for a non-canonical address, #PF with RSVD for a reserved
// bit in a paging entry. 64-bit mode, an identity map of the first 1 GiB through 2 MiB
// pages, handlers that record the vector in eax and halt.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tcg/cpu.h"
#include "tests/unit/tcg/test_machine.h"

namespace corvid::tcg::testing {
namespace {

constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kIdt = 0x4000, kHandlers = 0x5000,
                   kGdt = 0x6000, kCode = 0x7000, kStack = 0x9000, kData = 0xa000;

struct Guest {
  TestBus bus{8 << 20};
  Cpu cpu{bus, nullptr, 0};
  uint8_t* ram = bus.ram();

  explicit Guest(const std::vector<uint8_t>& code) {
    put64(kPml4, kPdpt | 3);
    put64(kPdpt, kPd | 3);
    put64(kPd, 0x83);                 // 0-2 MiB
    put64(kPd + 8, 0x200000 | 0x83);  // 2-4 MiB
    put64(kGdt + 8, 0x00209a0000000000ull);
    for (unsigned v = 0; v < 32; ++v) {
      uint64_t h = kHandlers + 8 * v;
      uint8_t stub[6] = {0xb8, static_cast<uint8_t>(v), 0, 0, 0, 0xf4};  // mov eax, v; hlt
      std::memcpy(ram + h, stub, sizeof stub);
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
    s.gpr[0] = 0xffff;  // "no exception"
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
  void run() { cpu.run(10000); }
  uint64_t reg(int i) { return cpu.state().gpr[i]; }
  // The exception frame at RSP: [error code,] RIP, CS, RFLAGS, RSP, SS.
  uint64_t frame(int i) { return get64(reg(4) + 8 * i); }
};

std::vector<uint8_t> operator+(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
const std::vector<uint8_t> kHlt = {0xf4};
// mov rbp, imm32 (sign-extended)
std::vector<uint8_t> mov_rbp(uint32_t v) {
  return {0x48, 0xc7, 0xc5, uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
}

TEST(TcgSystemFaults, EnterLevelZeroPushesRbpAndAllocates) {
  Guest g(mov_rbp(0x1234) + std::vector<uint8_t>{0xc8, 0x38, 0x12, 0x00} +
          kHlt);  // enter 0x1238, 0
  g.run();
  EXPECT_EQ(g.reg(0), 0xffffu);  // no exception
  EXPECT_EQ(g.reg(5), kStack - 8);
  EXPECT_EQ(g.reg(4), kStack - 8 - 0x1238);
  EXPECT_EQ(g.get64(kStack - 8), 0x1234u);
}

TEST(TcgSystemFaults, EnterLevelTwoCopiesTheOuterFramePointer) {
  // The enclosing frame at rbp = kData holds its own frame pointer one slot below.
  Guest g(mov_rbp(kData) + std::vector<uint8_t>{0xc8, 0x10, 0x00, 0x02} + kHlt);  // enter 16, 2
  g.put64(kData - 8, 0xabcdef);
  g.run();
  EXPECT_EQ(g.reg(0), 0xffffu);
  uint64_t frame = kStack - 8;
  EXPECT_EQ(g.reg(5), frame);
  EXPECT_EQ(g.get64(kStack - 8), kData);       // the old rbp
  EXPECT_EQ(g.get64(kStack - 16), 0xabcdefu);  // copied from [old rbp - 8]
  EXPECT_EQ(g.get64(kStack - 24), frame);      // the new frame pointer
  EXPECT_EQ(g.reg(4), kStack - 24 - 16);
}

TEST(TcgSystemFaults, FaultFramesCarryRf) {
  Guest g({0x0f, 0x0b});  // ud2
  g.run();
  EXPECT_EQ(g.reg(0), 6u);
  EXPECT_EQ(g.frame(0), kCode);
  EXPECT_NE(g.frame(2) & (1u << 16), 0u);            // RF in the pushed RFLAGS
  EXPECT_EQ(g.cpu.state().rflags & (1u << 16), 0u);  // and not in the handler's
}

TEST(TcgSystemFaults, TrapFramesDoNotCarryRf) {
  Guest g({0xcc});  // int3
  g.run();
  EXPECT_EQ(g.reg(0), 3u);
  EXPECT_EQ(g.frame(2) & (1u << 16), 0u);
}

TEST(TcgSystemFaults, NonCanonicalAccessIsGpNotPf) {
  // mov rax, 0x8000000000000000; mov [rax], ebx
  Guest g({0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x89, 0x18});
  g.run();
  EXPECT_EQ(g.reg(0), 13u);
  EXPECT_EQ(g.frame(0), 0u);  // error code 0
  EXPECT_EQ(g.frame(1), kCode + 10);
}

TEST(TcgSystemFaults, ReservedBitInALargePageIsPfWithRsvd) {
  // mov dword [0x400000], ebx through a 2 MiB PDE with bit 13 (reserved) set.
  Guest g({0x89, 0x1c, 0x25, 0x00, 0x00, 0x40, 0x00});
  g.put64(kPd + 16, 0x400000 | 0x2000 | 0x83);
  g.run();
  EXPECT_EQ(g.reg(0), 14u);
  EXPECT_EQ(g.frame(0), 0x0bu);  // P | W | RSVD
  EXPECT_EQ(g.cpu.state().cr2, 0x400000u);
}

TEST(TcgSystemFaults, AddressBitAboveMaxPhysAddrIsPfWithRsvd) {
  // mov ebx, [0x400000] through a PDE whose page-table address has bit 45 set.
  Guest g({0x8b, 0x1c, 0x25, 0x00, 0x00, 0x40, 0x00});
  g.put64(kPd + 16, (1ull << 45) | kData | 3);
  g.run();
  EXPECT_EQ(g.reg(0), 14u);
  EXPECT_EQ(g.frame(0), 0x09u);  // P | RSVD (a read)
}

TEST(TcgSystemFaults, CleanLargePageStillMaps) {
  Guest g({0x89, 0x1c, 0x25, 0x00, 0x00, 0x40, 0x00, 0xf4});
  g.put64(kPd + 16, 0x400000 | 0x83);
  g.cpu.state().gpr[3] = 0x55aa;
  g.run();
  EXPECT_EQ(g.reg(0), 0xffffu);
  EXPECT_EQ(g.get64(0x400000) & 0xffffffff, 0x55aau);
}

TEST(TcgSystemFaults, ApicBaseReservedBitsAreGp) {
  // mov ecx, 0x1b; mov eax, 0xfee00801 (bit 0 reserved); xor edx, edx; wrmsr
  Guest g({0xb9, 0x1b, 0, 0, 0, 0xb8, 0x01, 0x08, 0xe0, 0xfe, 0x31, 0xd2, 0x0f, 0x30});
  g.run();
  EXPECT_EQ(g.reg(0), 13u);
  EXPECT_EQ(g.frame(1), kCode + 12);
}

TEST(TcgSystemFaults, PageFaultWhileDeliveringNpIsSerialNotDouble) {
  // int 33 through a gate whose code segment (0x10) is not present raises #NP; pushing its frame
  // on a read-only stack raises #PF, which (on an IST stack) must be delivered as itself: #NP
  // then #PF is handled serially, only contributory+contributory or #PF+#PF make a #DF.
  Guest g({0xcd, 0x21});
  g.put64(kGdt + 16, 0x00201a0000000000ull);  // code segment, P = 0
  uint64_t gate = g.get64(kIdt + 16 * 6);
  g.put64(kIdt + 16 * 33, (gate & ~0xffff0000ull) | (0x10ull << 16));
  g.put64(kIdt + 16 * 14, g.get64(kIdt + 16 * 14) | (1ull << 32));  // #PF on IST1
  constexpr uint64_t kTss = 0xb000;
  g.put64(kTss + 0x24, kData);  // IST1
  g.cpu.state().tr.base = kTss;
  g.cpu.state().tr.limit = 0x67;
  g.put64(kPd + 8, 0x200000 | 0x81);  // 2-4 MiB read-only
  g.cpu.state().gpr[4] = 0x300000;
  g.cpu.flush_code();
  g.run();
  EXPECT_EQ(g.reg(0), 14u);
  EXPECT_EQ(g.frame(0), 0x03u);  // P | W, supervisor
  EXPECT_EQ(g.cpu.state().cr2, 0x300000u - 8);
}

}  // namespace
}  // namespace corvid::tcg::testing
