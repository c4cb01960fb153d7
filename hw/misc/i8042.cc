// Command set and status bits from the Intel 8042 / IBM PC/AT keyboard controller documentation
// (PC/AT Technical Reference, "Keyboard controller"), as Linux's drivers/input/serio/i8042.c uses
// them.
#include "hw/misc/i8042.h"

#include <utility>

namespace corvid::hw {
namespace {

constexpr uint8_t kStatusObf = 0x01, kStatusSystem = 0x04, kStatusCommand = 0x08,
                  kStatusNotInhibited = 0x10, kStatusAuxData = 0x20, kStatusTimeout = 0x40;
constexpr uint8_t kCtrKbdInt = 0x01, kCtrAuxInt = 0x02, kCtrSystem = 0x04, kCtrKbdDisable = 0x10,
                  kCtrAuxDisable = 0x20, kCtrTranslate = 0x40;
constexpr uint8_t kCmdReadCtr = 0x20, kCmdWriteCtr = 0x60, kCmdAuxDisable = 0xa7,
                  kCmdAuxEnable = 0xa8, kCmdAuxTest = 0xa9, kCmdSelfTest = 0xaa, kCmdKbdTest = 0xab,
                  kCmdKbdDisable = 0xad, kCmdKbdEnable = 0xae, kCmdReadInput = 0xc0,
                  kCmdReadOutput = 0xd0, kCmdWriteOutput = 0xd1, kCmdWriteKbdBuffer = 0xd2,
                  kCmdWriteAuxBuffer = 0xd3, kCmdWriteAux = 0xd4, kCmdPulseFirst = 0xf0;
constexpr uint8_t kSelfTestOk = 0x55, kPortTestOk = 0x00;
constexpr uint8_t kDeviceNoAnswer = 0xfe;   // what comes back, with the time-out bit, from nobody
constexpr uint8_t kOutputPortReset = 0x01;  // 0 holds the CPU in reset
constexpr uint8_t kInputPortNotInhibited = 0x80;
static_assert(I8042::kBiosCtr == (kCtrTranslate | kCtrAuxDisable | kCtrSystem | kCtrKbdInt));
constexpr size_t kOutputMax = 16;

}  // namespace

uint64_t I8042::Port::io_read(uint64_t, unsigned) {
  return command ? controller->read_status() : controller->read_data();
}

void I8042::Port::io_write(uint64_t, unsigned, uint64_t value) {
  if (command) {
    controller->write_command(static_cast<uint8_t>(value));
  } else {
    controller->write_data(static_cast<uint8_t>(value));
  }
}

uint8_t I8042::read_status() {
  std::lock_guard lock(mutex_);
  uint8_t s = kStatusNotInhibited | (ctr_ & kCtrSystem ? kStatusSystem : 0) |
              (last_was_command_ ? kStatusCommand : 0);
  if (!out_.empty()) {
    s |= kStatusObf;
    if (out_.front().aux) s |= kStatusAuxData;
    if (out_.front().timeout) s |= kStatusTimeout;
  }
  return s;
}

uint8_t I8042::read_data() {
  std::lock_guard lock(mutex_);
  if (out_.empty()) return last_read_;  // the output buffer keeps its last byte
  last_read_ = out_.front().byte;
  out_.pop_front();
  // Drop the lines so the next byte in the queue makes a fresh edge.
  if (irq_ && irq1_) irq_->set_irq(kKeyboardGsi, false);
  if (irq_ && irq12_) irq_->set_irq(kAuxGsi, false);
  irq1_ = irq12_ = false;
  update_irqs();
  return last_read_;
}

void I8042::write_command(uint8_t cmd) {
  bool reset = false;
  {
    std::lock_guard lock(mutex_);
    last_was_command_ = true;
    pending_ = 0;
    switch (cmd) {
      case kCmdReadCtr:
        push(ctr_, false);
        break;
      case kCmdWriteCtr:
      case kCmdWriteOutput:
      case kCmdWriteKbdBuffer:
      case kCmdWriteAuxBuffer:
      case kCmdWriteAux:
        pending_ = cmd;
        break;
      case kCmdAuxDisable:
        ctr_ |= kCtrAuxDisable;
        break;
      case kCmdAuxEnable:
        ctr_ &= ~kCtrAuxDisable;
        break;
      case kCmdAuxTest:
      case kCmdKbdTest:
        // Nothing attached leaves clock and data lines pulled high: the interface test passes.
        push(kPortTestOk, false);
        break;
      case kCmdSelfTest:
        ctr_ |= kCtrSystem;
        push(kSelfTestOk, false);
        break;
      case kCmdKbdDisable:
        ctr_ |= kCtrKbdDisable;
        break;
      case kCmdKbdEnable:
        ctr_ &= ~kCtrKbdDisable;
        break;
      case kCmdReadInput:
        push(kInputPortNotInhibited, false);
        break;
      case kCmdReadOutput:
        push(output_port_, false);
        break;
      default:
        // 0xf0-0xff pulse output-port lines low for 6 us; bit 0 of the mask is the CPU reset.
        if (cmd >= kCmdPulseFirst && !(cmd & kOutputPortReset)) reset = true;
        break;
    }
    update_irqs();
  }
  if (reset) events_->request_reset();
}

void I8042::write_data(uint8_t value) {
  bool reset = false;
  {
    std::lock_guard lock(mutex_);
    last_was_command_ = false;
    const uint8_t cmd = std::exchange(pending_, 0);
    switch (cmd) {
      case kCmdWriteCtr:
        ctr_ = value;
        break;
      case kCmdWriteOutput:
        output_port_ = value;
        reset = !(value & kOutputPortReset);
        break;
      case kCmdWriteKbdBuffer:
        push(value, false);
        break;
      case kCmdWriteAuxBuffer:
        push(value, true);  // the AUX loopback Linux uses to find the mouse port
        break;
      case kCmdWriteAux:
        push(kDeviceNoAnswer, true, true);  // no mouse
        break;
      default:
        push(kDeviceNoAnswer, false, true);  // no keyboard
        break;
    }
    update_irqs();
  }
  if (reset) events_->request_reset();
}

void I8042::push(uint8_t byte, bool aux, bool timeout) {
  if (out_.size() < kOutputMax) out_.push_back({byte, aux, timeout});
}

// IRQ 1 / 12 are the output-buffer-full lines, gated by the command byte's interrupt enables.
void I8042::update_irqs() {
  bool kbd = false, aux = false;
  if (!out_.empty()) {
    kbd = !out_.front().aux && (ctr_ & kCtrKbdInt);
    aux = out_.front().aux && (ctr_ & kCtrAuxInt);
  }
  if (irq_ && kbd != irq1_) irq_->set_irq(kKeyboardGsi, kbd);
  if (irq_ && aux != irq12_) irq_->set_irq(kAuxGsi, aux);
  irq1_ = kbd;
  irq12_ = aux;
}

}  // namespace corvid::hw
