#include "tests/unit/tcg/differential.h"

#include <sys/mman.h>

#include <cstring>

#include <fmt/format.h>

#include "tcg/flags.h"

extern "C" void run_native(corvid::tcg::testing::MachineState* st, void* code);
extern "C" char native_return[];

namespace corvid::tcg::testing {
namespace {

constexpr uint64_t kCodeAddr = 0x100000;
constexpr uint64_t kStackTop = 0x90000;

}  // namespace

Differential::Differential() : bus_(1ull << 30) {
  void* x =
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* d = mmap(reinterpret_cast<void*>(kDataAddr), kDataSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (x == MAP_FAILED || d != reinterpret_cast<void*>(kDataAddr) || !bus_.ram()) return;
  exec_ = static_cast<uint8_t*>(x);
  native_data_ = static_cast<uint8_t*>(d);
  // Guest page tables: PML4[0] -> PDPT, PDPT[0] = 1 GiB identity page.
  uint64_t pml4 = 0x2000 | 3, pdpt0 = 0x83;
  std::memcpy(bus_.ram() + 0x1000, &pml4, 8);
  std::memcpy(bus_.ram() + 0x2000, &pdpt0, 8);
  ok_ = true;
}

Differential::~Differential() {
  if (exec_) munmap(exec_, 4096);
  if (native_data_) munmap(native_data_, kDataSize);
}

std::string Differential::compare(const std::vector<uint8_t>& code, const MachineState& in,
                                  uint64_t flag_mask, const std::vector<uint8_t>& data) {
  // Native run: code, then jmp *[rip+0] to native_return.
  std::memcpy(exec_, code.data(), code.size());
  uint8_t tail[6] = {0xff, 0x25, 0, 0, 0, 0};
  std::memcpy(exec_ + code.size(), tail, 6);
  uint64_t ret = reinterpret_cast<uint64_t>(native_return);
  std::memcpy(exec_ + code.size() + 6, &ret, 8);
  std::memset(native_data_, 0, kDataSize);
  if (!data.empty()) std::memcpy(native_data_, data.data(), data.size());
  MachineState native = in;
  uint8_t native_stack[256];
  native.gpr[4] = reinterpret_cast<uint64_t>(native_stack + 128);
  run_native(&native, exec_);
  native.gpr[4] = in.gpr[4];

  // Translator run: same code at kCodeAddr followed by hlt, 64-bit mode, identity paging.
  Cpu cpu(bus_, nullptr, 0);
  std::memcpy(bus_.ram() + kCodeAddr, code.data(), code.size());
  bus_.ram()[kCodeAddr + code.size()] = 0xf4;
  std::memset(bus_.ram() + kDataAddr, 0, kDataSize);
  if (!data.empty()) std::memcpy(bus_.ram() + kDataAddr, data.data(), data.size());
  CpuState& s = cpu.state();
  std::memcpy(s.gpr, in.gpr, sizeof s.gpr);
  s.gpr[4] = kStackTop;
  s.rflags = in.rflags | 2;
  s.cc_op = 0;
  s.cr0 = kCr0Pe | kCr0Pg | kCr0Et | kCr0Wp;
  s.cr3 = 0x1000;
  s.cr4 = kCr4Pae | kCr4Osfxsr;
  s.efer = kEferLme | kEferLma | kEferNxe;
  s.seg[kCs].attr = 0xa09b;
  s.rip = kCodeAddr;
  cpu.state_changed();
  cpu.flush_code();
  CpuExit e = cpu.run(10000);
  if (!cpu.halted())
    return fmt::format("translator did not reach the end (exit {})", static_cast<int>(e.reason));
  MachineState emu;
  std::memcpy(emu.gpr, s.gpr, sizeof emu.gpr);
  emu.gpr[4] = in.gpr[4];
  emu.rflags = read_rflags(s);

  std::string diff;
  static const char* names[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  for (int i = 0; i < 16; ++i) {
    if (i == 4) continue;
    if (native.gpr[i] != emu.gpr[i]) {
      diff +=
          fmt::format("{}: native {:#x} translator {:#x}; ", names[i], native.gpr[i], emu.gpr[i]);
    }
  }
  if ((native.rflags ^ emu.rflags) & flag_mask) {
    diff += fmt::format("flags: native {:#x} translator {:#x} (mask {:#x}); ", native.rflags,
                        emu.rflags, flag_mask);
  }
  if (std::memcmp(native_data_, bus_.ram() + kDataAddr, kDataSize) != 0)
    diff += "data window differs; ";
  return diff;
}

}  // namespace corvid::tcg::testing
