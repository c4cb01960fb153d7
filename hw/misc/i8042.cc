#include "hw/misc/i8042.h"

namespace corvid::hw {
namespace {
constexpr uint64_t kCommand = 4;
constexpr uint8_t kCmdPulseReset = 0xfe;  // pulse output line 0 (CPU reset)
}  // namespace

uint64_t I8042::io_read(uint64_t offset, unsigned) {
  // Status: output buffer empty, input buffer empty, system flag set (POST passed). Data: none.
  if (offset == kCommand) return 0x04;
  return 0;
}

void I8042::io_write(uint64_t offset, unsigned, uint64_t value) {
  if (offset == kCommand && (value & 0xff) == kCmdPulseReset) events_->request_reset();
}

}  // namespace corvid::hw
