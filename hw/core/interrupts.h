// How devices raise interrupts, whatever the accelerator: KVM implements it with KVM_IRQ_LINE /
// irqfd / KVM_SIGNAL_MSI, the translator with corvid's own IOAPIC and LAPIC.
#pragma once

#include <cstdint>

namespace corvid::hw {

class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  // Sets a GSI (IOAPIC input / legacy IRQ) to level high or low. Edge-triggered sources pulse it.
  virtual void set_irq(uint32_t gsi, bool level) = 0;
  // Delivers a message-signalled interrupt (address/data as written by the guest to MSI-X).
  virtual void signal_msi(uint64_t address, uint32_t data) = 0;
};

}  // namespace corvid::hw
