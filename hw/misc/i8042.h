// The part of the i8042 keyboard controller a VM needs: the CPU reset line (command 0xfe on port
// 0x64, Linux's default reboot method) and a status register that says "no data, no keyboard".
#pragma once

#include "hw/core/io_bus.h"
#include "hw/machine_events.h"

namespace corvid::hw {

// Register on the PIO bus at 0x60 with length 5 (0x60 data .. 0x64 command/status).
class I8042 final : public IoHandler {
 public:
  explicit I8042(MachineEvents* events) : events_(events) {}
  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

 private:
  MachineEvents* events_;
};

}  // namespace corvid::hw
