// The part of the i8042 keyboard controller a VM needs: the CPU reset line (command 0xfe on port
// 0x64, Linux's default reboot method) and a status register that says "no data, no keyboard".
#pragma once

#include "hw/core/io_bus.h"
#include "hw/machine_events.h"

namespace corvid::hw {

// Two one-byte ports: data() at 0x60 and command() at 0x64 (0x61 between them is the PC speaker
// / PIT gate port, which belongs to the PIT).
class I8042 {
 public:
  static constexpr uint16_t kDataPort = 0x60, kCommandPort = 0x64;
  explicit I8042(MachineEvents* events) : command_(events) {}
  IoHandler* data() { return &data_; }
  IoHandler* command() { return &command_; }

 private:
  struct Data final : IoHandler {
    uint64_t io_read(uint64_t, unsigned) override { return 0; }  // no scancodes
    void io_write(uint64_t, unsigned, uint64_t) override {}
  };
  struct Command final : IoHandler {
    explicit Command(MachineEvents* e) : events(e) {}
    uint64_t io_read(uint64_t, unsigned) override;
    void io_write(uint64_t, unsigned, uint64_t value) override;
    MachineEvents* events;
  };
  Data data_;
  Command command_;
};

}  // namespace corvid::hw
