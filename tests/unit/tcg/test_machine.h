// A minimal machine for driving tcg::Cpu in tests: flat RAM, a COM1 capture, the debug-exit port,
// and a PVH ELF loader (the same entry protocol the board uses).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "tcg/cpu.h"

namespace corvid::tcg::testing {

class TestBus : public SystemBus {
 public:
  explicit TestBus(uint64_t ram_size);
  ~TestBus() override;
  uint8_t* ram_page(uint64_t gpa) override;
  uint64_t mmio_read(uint64_t gpa, unsigned size) override;
  void mmio_write(uint64_t gpa, unsigned size, uint64_t value) override;
  uint64_t pio_read(uint16_t port, unsigned size) override;
  void pio_write(uint16_t port, unsigned size, uint64_t value) override;
  uint64_t tsc() override;
  uint64_t tsc_hz() override { return 1000000000; }

  uint8_t* ram() { return ram_; }
  uint64_t ram_size() const { return size_; }
  Cpu* cpu = nullptr;
  std::string serial;
  bool exited = false;
  uint32_t exit_status = 0;
  std::vector<std::pair<uint64_t, uint64_t>> mmio_writes;

 private:
  uint8_t* ram_;
  uint64_t size_;
};

// Loads a PVH ELF (Xen note 18) and sets the CPU to its 32-bit flat entry with %ebx pointing at a
// struct hvm_start_info.
Result<> load_pvh(TestBus& bus, Cpu& cpu, const std::string& path);

struct RunResult {
  bool exited = false;
  uint32_t status = 0;
  CpuExitReason last = CpuExitReason::kInternalError;
};
// Runs until the debug-exit port is written, the CPU halts with interrupts off, or shuts down.
RunResult run_until_exit(TestBus& bus, Cpu& cpu, uint64_t max_blocks = 50'000'000);

}  // namespace corvid::tcg::testing
