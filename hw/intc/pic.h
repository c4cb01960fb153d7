// The two cascaded 8259A PICs (Intel 8259A datasheet): ICW1-4 initialisation, IMR, EOI
// (specific and non-specific), IRR/ISR reads through OCW3, edge-triggered inputs. Linux masks it
// once it finds an IOAPIC; it is here for guests that never do.
#pragma once

#include <cstdint>
#include <mutex>

#include "hw/core/io_bus.h"

namespace corvid::hw {

class Pic : public IoHandler {
 public:
  // Register [0x20,0x22) for the master and [0xa0,0xa2) for the slave: the offset's bit 7 in the
  // port number tells them apart, so register this handler once per chip with chip() below.
  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

  void set_irq(unsigned irq, bool level);
  bool has_interrupt();
  int acknowledge();

  // IoHandler views for each chip.
  class Chip : public IoHandler {
   public:
    Chip(Pic* pic, int index) : pic_(pic), index_(index) {}
    uint64_t io_read(uint64_t offset, unsigned size) override {
      return pic_->read(index_, offset, size);
    }
    void io_write(uint64_t offset, unsigned, uint64_t v) override {
      pic_->write(index_, offset, v);
    }

   private:
    Pic* pic_;
    int index_;
  };
  Chip master{this, 0}, slave{this, 1};

 private:
  struct State {
    uint8_t irr = 0, isr = 0, imr = 0xff, vector_base = 0, init_step = 0, read_isr = 0;
    bool icw4 = false, last_level[8] = {};
  };
  uint64_t read(int chip, uint64_t offset, unsigned size);
  void write(int chip, uint64_t offset, uint64_t value);
  int pending_irq(const State& s) const;
  State chip_[2];
  std::mutex mutex_;
};

}  // namespace corvid::hw
