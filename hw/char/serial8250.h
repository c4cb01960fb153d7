// A 16550A-compatible UART (the PC's COM port): the register model Linux's 8250 driver and our
// guests' polled console use, with receive FIFO, interrupt identification and loopback.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <span>

#include "hw/char/char_backend.h"
#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"

namespace corvid::hw {

class Serial8250 final : public IoHandler {
 public:
  // backend and irq are not owned; irq may be null (no interrupt line).
  Serial8250(CharBackend* backend, InterruptSink* irq, uint32_t gsi)
      : backend_(backend), irq_(irq), gsi_(gsi) {}

  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

  // Host input (from the backend's thread).
  void receive(std::span<const uint8_t> bytes);

 private:
  uint8_t iir_locked() const;
  void update_irq_locked();

  CharBackend* backend_;
  InterruptSink* irq_;
  uint32_t gsi_;
  std::mutex mutex_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0;
  bool fifo_enabled_ = false;
  bool thre_pending_ = false;  // THR-empty interrupt latched until IIR is read or THR written
  bool irq_level_ = false;
};

}  // namespace corvid::hw
