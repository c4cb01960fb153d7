#include "tests/unit/tcg/test_machine.h"

#include <elf.h>
#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>

namespace corvid::tcg::testing {

TestBus::TestBus(uint64_t ram_size) : size_(ram_size) {
  void* p = mmap(nullptr, ram_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ram_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

TestBus::~TestBus() {
  if (ram_) munmap(ram_, size_);
}

uint8_t* TestBus::ram_page(uint64_t gpa) {
  if (!ram_ || gpa >= size_) return nullptr;
  return ram_ + (gpa & ~0xfffull);
}

uint64_t TestBus::mmio_read(uint64_t, unsigned) {
  return ~0ull;
}
void TestBus::mmio_write(uint64_t gpa, unsigned, uint64_t value) {
  mmio_writes.emplace_back(gpa, value);
}

uint64_t TestBus::pio_read(uint16_t port, unsigned) {
  if (port == 0x3fd) return 0x60;  // LSR: transmitter empty
  return ~0ull;
}

void TestBus::pio_write(uint16_t port, unsigned, uint64_t value) {
  if (port == 0x3f8) serial.push_back(static_cast<char>(value));
  if (port == 0xf4) {
    exited = true;
    exit_status = static_cast<uint32_t>(value);
    if (cpu) cpu->request_stop();
  }
}

uint64_t TestBus::tsc() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

Result<> load_pvh(TestBus& bus, Cpu& cpu, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return errorf(ENOENT, "{}: cannot open", path);
  std::vector<uint8_t> img((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (img.size() < sizeof(Elf64_Ehdr)) return errorf(EINVAL, "{}: not an ELF file", path);
  Elf64_Ehdr eh;
  std::memcpy(&eh, img.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    return errorf(EINVAL, "{}: bad ELF magic", path);
  uint64_t entry = 0;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    uint64_t off = eh.e_phoff + uint64_t{i} * eh.e_phentsize;
    if (off + sizeof ph > img.size()) return errorf(EINVAL, "{}: truncated program headers", path);
    std::memcpy(&ph, img.data() + off, sizeof ph);
    if (ph.p_offset + ph.p_filesz > img.size())
      return errorf(EINVAL, "{}: truncated segment", path);
    if (ph.p_type == PT_LOAD) {
      if (ph.p_paddr + ph.p_memsz > bus.ram_size())
        return errorf(EINVAL, "{}: segment outside RAM", path);
      std::memcpy(bus.ram() + ph.p_paddr, img.data() + ph.p_offset, ph.p_filesz);
    } else if (ph.p_type == PT_NOTE) {
      for (uint64_t p = ph.p_offset; p + 12 <= ph.p_offset + ph.p_filesz;) {
        uint32_t namesz, descsz, type;
        std::memcpy(&namesz, &img[p], 4);
        std::memcpy(&descsz, &img[p + 4], 4);
        std::memcpy(&type, &img[p + 8], 4);
        uint64_t desc = p + 12 + ((namesz + 3) & ~3u);
        if (type == 18 && desc + 4 <= img.size()) {
          uint32_t e32;
          std::memcpy(&e32, &img[desc], 4);
          entry = e32;
        }
        p = desc + ((descsz + 3) & ~3u);
      }
    }
  }
  if (!entry) return errorf(EINVAL, "{}: no PVH entry note", path);
  // struct hvm_start_info at 0x6000 with one memory map entry at 0x6100.
  uint32_t info[14] = {0x336ec578, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x6100, 0, 1, 0};
  std::memcpy(bus.ram() + 0x6000, info, sizeof info);
  uint64_t mm[3] = {0, bus.ram_size(), 1};
  std::memcpy(bus.ram() + 0x6100, mm, 20);
  CpuState& s = cpu.state();
  s.rip = entry;
  s.gpr[3] = 0x6000;
  s.rflags = 2;
  cpu.state_changed();
  return {};
}

RunResult run_until_exit(TestBus& bus, Cpu& cpu, uint64_t max_blocks) {
  RunResult r;
  bus.cpu = &cpu;
  for (;;) {
    CpuExit e = cpu.run(max_blocks);
    r.last = e.reason;
    if (bus.exited || e.reason != CpuExitReason::kStop) break;
  }
  r.exited = bus.exited;
  r.status = bus.exit_status;
  return r;
}

}  // namespace corvid::tcg::testing
