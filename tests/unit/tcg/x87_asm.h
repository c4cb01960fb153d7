// A tiny x87 assembler for the differential tests: instructions with memory operands address
// [rbx + disp32], rbx holding the data window (kDataAddr).
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace corvid::tcg::testing {

struct F80 {
  uint64_t mant = 0;
  uint16_t se = 0;
};

inline F80 f80(long double v) {
  F80 r;
  std::memcpy(&r.mant, &v, 8);
  std::memcpy(&r.se, reinterpret_cast<const uint8_t*>(&v) + 8, 2);
  return r;
}

struct X87Asm {
  std::vector<uint8_t> code;
  void raw(std::initializer_list<uint8_t> bytes) { code.insert(code.end(), bytes); }
  // opcode bytes then ModRM /reg with [rbx + disp32].
  void mem(std::initializer_list<uint8_t> opcode, unsigned reg, uint32_t disp) {
    raw(opcode);
    code.push_back(static_cast<uint8_t>(0x80 | (reg << 3) | 3));
    for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>(disp >> (8 * i)));
  }
  void fninit() { raw({0xdb, 0xe3}); }
  // fninit with every physical register +0: natively the empty registers keep stale contents.
  void reset() {
    for (int i = 0; i < 8; ++i) raw({0xd9, 0xee});
    fninit();
  }
  void fldcw(uint32_t disp) { mem({0xd9}, 5, disp); }
  void fld80(uint32_t disp) { mem({0xdb}, 5, disp); }
  void fstp80(uint32_t disp) { mem({0xdb}, 7, disp); }
  void fnstsw_ax() { raw({0xdf, 0xe0}); }
  // fxsave64 [rbx+disp] (512 bytes), then zero the saved FIP (a host address natively) and re-initialise so
  // the host process continues with a clean x87.
  // The XMM registers are zeroed first: natively they hold whatever the test process left.
  // MXCSR is loaded from [rbx + disp + 0x1f0], the FXSAVE area's software bytes (the caller stores 0x1f80 there): natively it
  // holds sticky flags from the test process.
  void dump(uint32_t disp) {
    mem({0x0f, 0xae}, 2, disp + 0x1f0);
    for (uint8_t r = 0; r < 16; ++r) {
      if (r < 8)
        raw({0x66, 0x0f, 0xef, static_cast<uint8_t>(0xc0 | r << 3 | r)});
      else
        raw({0x66, 0x45, 0x0f, 0xef, static_cast<uint8_t>(0xc0 | (r - 8) << 3 | (r - 8))});
    }
    mem({0x48, 0x0f, 0xae}, 0, disp);
    mem({0x48, 0xc7}, 0, disp + 8);
    for (int i = 0; i < 4; ++i) code.push_back(0);
    fninit();
  }
};

}  // namespace corvid::tcg::testing
