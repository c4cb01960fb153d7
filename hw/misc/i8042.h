// The i8042 keyboard controller of a PC with nothing plugged into its two PS/2 ports: the
// controller answers its commands (command byte read/write, self-test, port tests, AUX loopback,
// output port, CPU reset through 0xfe or output-port bit 0) as the real part does, and bytes sent
// to the absent keyboard or mouse come back as 0xfe with the time-out status bit, so a driver's
// probe ends at once. IRQ 1 / IRQ 12 follow the output buffer when the command byte enables them.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"
#include "hw/machine_events.h"

namespace corvid::hw {

// Two one-byte ports: data() at 0x60 and command() at 0x64 (status on read). 0x61 between them is
// the PC speaker / PIT gate port, which belongs to the PIT.
class I8042 {
 public:
  static constexpr uint16_t kDataPort = 0x60, kCommandPort = 0x64;
  static constexpr uint32_t kKeyboardGsi = 1, kAuxGsi = 12;
  // The command byte a BIOS leaves with no mouse: translation, system flag, keyboard interrupt
  // on, AUX port disabled.
  static constexpr uint8_t kBiosCtr = 0x65;
  // irq may be null (no interrupt lines).
  explicit I8042(MachineEvents* events, InterruptSink* irq = nullptr)
      : events_(events), irq_(irq), data_(this, false), command_(this, true) {}
  IoHandler* data() { return &data_; }
  IoHandler* command() { return &command_; }

 private:
  struct Port final : IoHandler {
    Port(I8042* c, bool is_command) : controller(c), command(is_command) {}
    uint64_t io_read(uint64_t, unsigned) override;
    void io_write(uint64_t, unsigned, uint64_t value) override;
    I8042* controller;
    bool command;
  };
  struct Output {
    uint8_t byte;
    bool aux;      // from the mouse side: status bit 5, IRQ 12
    bool timeout;  // the device did not answer: status bit 6
  };
  uint8_t read_status();
  uint8_t read_data();
  void write_command(uint8_t cmd);
  void write_data(uint8_t value);
  void push(uint8_t byte, bool aux, bool timeout = false);
  void write_output_port(uint8_t value);
  void update_irqs();

  MachineEvents* events_;
  InterruptSink* irq_;
  Port data_, command_;
  std::mutex mutex_;
  std::deque<Output> out_;
  uint8_t ctr_ = kBiosCtr;  // the command byte
  uint8_t last_read_ = 0;
  uint8_t pending_ = 0;  // a command waiting for its data byte (0x60, 0xd1-0xd4)
  bool last_was_command_ = false;
  uint8_t output_port_ = 0x03;  // bit 0: CPU not in reset; bit 1: A20 enabled
  bool irq1_ = false, irq12_ = false;
};

}  // namespace corvid::hw
