// The hardware-reduced ACPI register block (one MMIO page, hw/x86/memory_map.h kAcpiRegisters):
//
//   +0x00  GED event register (32 bits). Read: the pending events (bit 0 = power button),
//          which the read clears, lowering the GED interrupt. Writes are ignored.
//   +0x10  sleep control (8 bits, FADT SLEEP_CONTROL_REG, ACPI 6.5 4.8.3.7): SLP_EN (bit 5) with
//          SLP_TYP (bits 4:2) = 5 powers the VM off with status 0; other sleep types are ignored.
//   +0x11  sleep status (8 bits, FADT SLEEP_STATUS_REG, 4.8.3.8): reads 0 (never woken).
//   +0x12  reset register (8 bits, FADT RESET_REG): writing kResetValue resets the VM.
//
// press_power_button() is the host side: any thread, raises the event and the level interrupt.
#pragma once

#include <cstdint>
#include <mutex>

#include "base/result.h"
#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"
#include "hw/machine_events.h"

namespace corvid::hw::acpi {

class AcpiRegisters final : public IoHandler {
 public:
  static constexpr uint64_t kGedEvent = 0x00;
  static constexpr uint64_t kSleepControl = 0x10;
  static constexpr uint64_t kSleepStatus = 0x11;
  static constexpr uint64_t kReset = 0x12;
  static constexpr uint64_t kSize = 0x1000;
  static constexpr uint8_t kResetValue = 0x42;
  static constexpr uint32_t kEventPowerButton = 1u << 0;
  static constexpr uint8_t kSlpEn = 1u << 5;

  AcpiRegisters(MachineEvents* events, InterruptSink* irq, uint32_t ged_gsi)
      : events_(events), irq_(irq), gsi_(ged_gsi) {}

  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

  void press_power_button();

 private:
  MachineEvents* events_;
  InterruptSink* irq_;
  uint32_t gsi_;
  std::mutex mutex_;
  uint32_t pending_ = 0;
};

}  // namespace corvid::hw::acpi
