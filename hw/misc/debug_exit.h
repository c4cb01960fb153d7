// The debug-exit port (QEMU's isa-debug-exit at 0xf4, 4 bytes): a write of v powers the VM off
// with status v, so test guests report pass/fail. corvid exits with v itself (QEMU: (v << 1) | 1).
#pragma once

#include "hw/core/io_bus.h"
#include "hw/machine_events.h"

namespace corvid::hw {

class DebugExit final : public IoHandler {
 public:
  explicit DebugExit(MachineEvents* events) : events_(events) {}
  uint64_t io_read(uint64_t, unsigned) override { return 0; }
  void io_write(uint64_t, unsigned, uint64_t value) override {
    events_->request_power_off(static_cast<int>(value & 0xff));
  }

 private:
  MachineEvents* events_;
};

}  // namespace corvid::hw
