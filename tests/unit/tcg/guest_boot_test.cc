// End-to-end: the shared guest programs (tests/guest) boot on the bare translator through the PVH
// entry and print what they print under QEMU.
#include <gtest/gtest.h>

#include "tests/unit/tcg/test_machine.h"

namespace corvid::tcg::testing {
namespace {

RunResult boot(const std::string& elf, std::string* serial) {
  TestBus bus(64 << 20);
  Cpu cpu(bus, nullptr, 0);
  auto loaded = load_pvh(bus, cpu, elf);
  EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().message);
  RunResult r = run_until_exit(bus, cpu);
  *serial = bus.serial;
  return r;
}

TEST(TcgGuestBoot, HelloPrintsGreetingAndExitsZero) {
  std::string out;
  RunResult r = boot(GUEST_HELLO, &out);
  EXPECT_TRUE(r.exited) << out;
  EXPECT_EQ(r.status, 0u);
  EXPECT_NE(out.find("Hello from a corvid guest"), std::string::npos) << out;
  EXPECT_NE(out.find("1 memory map entries"), std::string::npos) << out;
}

TEST(TcgGuestBoot, CpuBoundComputesPrimesAndExitsFive) {
  std::string out;
  RunResult r = boot(GUEST_CPU_BOUND, &out);
  EXPECT_TRUE(r.exited) << out;
  EXPECT_EQ(r.status, 5u);
  EXPECT_NE(out.find("primes below 8192: 1028"), std::string::npos) << out;
}

}  // namespace
}  // namespace corvid::tcg::testing
