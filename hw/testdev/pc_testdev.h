// QEMU's pc-testdev (`-device pc-testdev`), the ISA test device bare-metal CPU test programs such
// as kvm-unit-tests drive to check port I/O emulation and to raise interrupt lines on demand:
//   0xe0-0xe3  a 32-bit scratch register, readable and writable at any width and byte offset
//   0xe4-0xe7  "flush page": a write names a guest page (a KVM-only hint; nothing to do here)
//   0xe8-0xeb  the same scratch register, byte-wise
//   0x2000-0x2017  interrupt line n = GSI n: a write of v sets its level to (v != 0)
//   MMIO 0xff000000-0xff00ffff  64 KiB of device memory (kvm-unit-tests' emulator test maps it to
//   run instructions against MMIO operands, i.e. through the slow path of every memory access)
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"

namespace corvid::hw {

class PcTestdev {
 public:
  static constexpr uint16_t kDataPort = 0xe0, kFlushPort = 0xe4, kBytePort = 0xe8,
                            kIrqBase = 0x2000, kIrqLines = 24;
  static constexpr uint64_t kIomemBase = 0xff000000, kIomemSize = 0x10000;
  explicit PcTestdev(InterruptSink* irq) : data_(this), irq_lines_(irq) {}
  // Register data() for kDataPort and kBytePort (4 bytes each), flush() for kFlushPort (4),
  // irq_lines() for kIrqBase (kIrqLines), iomem() on the MMIO bus at kIomemBase (kIomemSize).
  IoHandler* data() { return &data_; }
  IoHandler* flush() { return &flush_; }
  IoHandler* irq_lines() { return &irq_lines_; }
  IoHandler* iomem() { return &iomem_; }

 private:
  struct Data final : IoHandler {
    explicit Data(PcTestdev* d) : dev(d) {}
    uint64_t io_read(uint64_t offset, unsigned size) override;
    void io_write(uint64_t offset, unsigned size, uint64_t value) override;
    PcTestdev* dev;
  };
  struct Flush final : IoHandler {
    uint64_t io_read(uint64_t, unsigned) override { return 0; }
    void io_write(uint64_t, unsigned, uint64_t) override {}
  };
  struct IrqLines final : IoHandler {
    explicit IrqLines(InterruptSink* s) : sink(s) {}
    uint64_t io_read(uint64_t, unsigned) override { return 0; }
    void io_write(uint64_t offset, unsigned size, uint64_t value) override;
    InterruptSink* sink;
  };

  struct Iomem final : IoHandler {
    uint64_t io_read(uint64_t offset, unsigned size) override;
    void io_write(uint64_t offset, unsigned size, uint64_t value) override;
    std::mutex mutex;
    std::array<uint8_t, kIomemSize> bytes{};
  };

  std::mutex mutex_;
  uint32_t scratch_ = 0;
  Data data_;
  Flush flush_;
  IrqLines irq_lines_;
  Iomem iomem_;
};

}  // namespace corvid::hw
