#include "hw/misc/i8042.h"

namespace corvid::hw {
namespace {
constexpr uint8_t kCmdPulseReset = 0xfe;  // pulse output line 0 (CPU reset)
constexpr uint8_t kStatusSystemFlag = 0x04;
}  // namespace

// Status: output buffer empty, input buffer empty, system flag set (self test passed).
uint64_t I8042::Command::io_read(uint64_t, unsigned) {
  return kStatusSystemFlag;
}

void I8042::Command::io_write(uint64_t, unsigned, uint64_t value) {
  if ((value & 0xff) == kCmdPulseReset) events->request_reset();
}

}  // namespace corvid::hw
