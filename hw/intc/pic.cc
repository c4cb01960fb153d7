#include "hw/intc/pic.h"

namespace corvid::hw {

uint64_t Pic::io_read(uint64_t offset, unsigned size) {
  return read(0, offset, size);
}
void Pic::io_write(uint64_t offset, unsigned, uint64_t value) {
  write(0, offset, value);
}

int Pic::pending_irq(const State& s) const {
  uint8_t ready = s.irr & ~s.imr;
  for (int i = 0; i < 8; ++i) {
    if (s.isr & (1u << i)) return -1;  // fully nested: a higher-priority one is in service
    if (ready & (1u << i)) return i;
  }
  return -1;
}

uint64_t Pic::read(int chip, uint64_t offset, unsigned) {
  std::lock_guard lock(mutex_);
  State& s = chip_[chip];
  if (offset & 1) return s.imr;
  return s.read_isr ? s.isr : s.irr;
}

void Pic::write(int chip, uint64_t offset, uint64_t value) {
  std::lock_guard lock(mutex_);
  State& s = chip_[chip];
  uint8_t v = static_cast<uint8_t>(value);
  if (!(offset & 1)) {
    if (v & 0x10) {  // ICW1
      s = State{};
      s.imr = 0;
      s.icw4 = v & 1;
      s.init_step = 2;
    } else if ((v & 0x18) == 0x08) {  // OCW3
      if (v & 2) s.read_isr = v & 1;
    } else {  // OCW2
      unsigned cmd = v >> 5;
      if (cmd == 1) {  // non-specific EOI
        for (int i = 0; i < 8; ++i) {
          if (s.isr & (1u << i)) {
            s.isr &= static_cast<uint8_t>(~(1u << i));
            break;
          }
        }
      } else if (cmd == 3) {  // specific EOI
        s.isr &= static_cast<uint8_t>(~(1u << (v & 7)));
      }
    }
    return;
  }
  switch (s.init_step) {
    case 2:
      s.vector_base = v & 0xf8;
      s.init_step = 3;
      break;
    case 3:
      s.init_step = s.icw4 ? 4 : 0;
      break;
    case 4:
      s.init_step = 0;
      break;
    default:
      s.imr = v;
      break;
  }
}

void Pic::set_irq(unsigned irq, bool level) {
  if (irq >= 16) return;
  std::lock_guard lock(mutex_);
  State& s = chip_[irq >> 3];
  unsigned pin = irq & 7;
  if (level && !s.last_level[pin]) s.irr |= static_cast<uint8_t>(1u << pin);  // edge
  s.last_level[pin] = level;
  if (irq >= 8) {
    bool any = pending_irq(chip_[1]) >= 0;
    if (any && !chip_[0].last_level[2]) chip_[0].irr |= 4;
    chip_[0].last_level[2] = any;
  }
}

bool Pic::has_interrupt() {
  std::lock_guard lock(mutex_);
  return pending_irq(chip_[0]) >= 0;
}

int Pic::acknowledge() {
  std::lock_guard lock(mutex_);
  int irq = pending_irq(chip_[0]);
  if (irq < 0) return -1;
  State& m = chip_[0];
  m.irr &= static_cast<uint8_t>(~(1u << irq));
  m.isr |= static_cast<uint8_t>(1u << irq);
  if (irq == 2) {
    State& sl = chip_[1];
    int sirq = pending_irq(sl);
    if (sirq < 0) return sl.vector_base + 7;  // spurious
    sl.irr &= static_cast<uint8_t>(~(1u << sirq));
    sl.isr |= static_cast<uint8_t>(1u << sirq);
    return sl.vector_base + sirq;
  }
  return m.vector_base + irq;
}

}  // namespace corvid::hw
