#include "hw/x86/reset_vector.h"

#include <cstdint>

namespace corvid::hw::x86 {

Result<> write_reset_vector(const GuestMemory& memory) {
  // 16-bit real mode code.
  static constexpr uint8_t kStub[] = {
      0xba, 0xf9, 0x0c,  // mov dx, 0x0cf9
      0xb0, 0x06,        // mov al, 0x06     (RST_CPU | SYS_RST: full reset)
      0xee,              // out dx, al
      0xb0, 0xfe,        // mov al, 0xfe     (i8042: pulse the reset line)
      0xe6, 0x64,        // out 0x64, al
      0xf4,              // hlt
      0xeb, 0xfd,        // jmp to the hlt
  };
  static_assert(sizeof kStub <= 16, "the reset vector has 16 bytes below 1 MiB");
  return memory.write(kResetVector, kStub, sizeof kStub);
}

}  // namespace corvid::hw::x86
