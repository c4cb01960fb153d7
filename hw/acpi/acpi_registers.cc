#include "hw/acpi/acpi_registers.h"

#include "base/log.h"
#include "hw/acpi/tables.h"

namespace corvid::hw::acpi {

uint64_t AcpiRegisters::io_read(uint64_t offset, unsigned size) {
  if (offset != kGedEvent || size != 4) return 0;
  std::lock_guard lock(mutex_);
  uint32_t events = pending_;
  if (events) {
    pending_ = 0;
    irq_->set_irq(gsi_, false);
  }
  return events;
}

void AcpiRegisters::io_write(uint64_t offset, unsigned size, uint64_t value) {
  if (size != 1) return;  // the FADT describes byte registers; ignore other widths
  if (offset == kSleepControl && (value & kSlpEn)) {
    unsigned type = (value >> 2) & 7;
    if (type == kSlpTypS5) {
      LOG_INFO("ACPI: the guest entered S5 (soft off)");
      events_->request_power_off(0);
    } else {
      LOG_WARN("ACPI: sleep type {} is not supported; ignored", type);
    }
  } else if (offset == kReset && (value & 0xff) == kResetValue) {
    LOG_INFO("ACPI: reset register written");
    events_->request_reset();
  }
}

void AcpiRegisters::press_power_button() {
  std::lock_guard lock(mutex_);
  pending_ |= kEventPowerButton;
  irq_->set_irq(gsi_, true);
}

}  // namespace corvid::hw::acpi
