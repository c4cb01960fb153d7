// Shared by the SSE/SSE2 differential tests: a few-byte assembler addressing [rbx + disp32]
// (rbx = the data window) and the edge values the cases are built from.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tcg/cpu_state.h"
#include "tests/unit/tcg/differential.h"

namespace corvid::tcg::testing {

struct SseAsm {
  std::vector<uint8_t> code;
  void raw(std::initializer_list<uint8_t> bytes) { code.insert(code.end(), bytes); }
  void bytes(const std::vector<uint8_t>& b) { code.insert(code.end(), b.begin(), b.end()); }
  // opcode bytes, then ModRM /reg with [rbx + disp32].
  void mem(const std::vector<uint8_t>& opcode, unsigned reg, uint32_t disp) {
    bytes(opcode);
    code.push_back(static_cast<uint8_t>(0x80 | (reg << 3) | 3));
    for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>(disp >> (8 * i)));
  }
  // opcode bytes, then ModRM with two registers (mod = 11).
  void regs(const std::vector<uint8_t>& opcode, unsigned reg, unsigned rm) {
    bytes(opcode);
    code.push_back(static_cast<uint8_t>(0xc0 | (reg << 3) | rm));
  }
  void ldmxcsr(uint32_t disp) { mem({0x0f, 0xae}, 2, disp); }
  void stmxcsr(uint32_t disp) { mem({0x0f, 0xae}, 3, disp); }
  void movdqu_load(unsigned x, uint32_t disp) { mem({0xf3, 0x0f, 0x6f}, x, disp); }
  void movdqu_store(unsigned x, uint32_t disp) { mem({0xf3, 0x0f, 0x7f}, x, disp); }
};

using Vec = std::array<uint8_t, 16>;

// Single-precision edge values: zeros, denormals (smallest/largest), min/max normals,
// infinities, QNaN/SNaN of both signs with payloads, rounding ties, the limits of the 32- and
// 64-bit integer conversions.
inline const std::vector<uint32_t>& f32_edges() {
  static const std::vector<uint32_t> v = {
      0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00400000,
      0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000,
      0xffc00001, 0x7f800001, 0xff900000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x40200000,
      0xc0200000, 0x3dcccccd, 0x3eaaaaab, 0x4f000000, 0xcf000000, 0x4effffff, 0x5f000000,
      0xdf000000, 0x5effffff, 0x40400000, 0x3f7fffff, 0x3f000000, 0xbf000000, 0x4b800001,
  };
  return v;
}

// Double-precision edge values, as above, plus values that over/underflow or round when
// narrowed to single precision.
inline const std::vector<uint64_t>& f64_edges() {
  static const std::vector<uint64_t> v = {
      0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000001,
      0x000fffffffffffff, 0x0010000000000000, 0x8010000000000000, 0x7fefffffffffffff,
      0xffefffffffffffff, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
      0xfff8000000000001, 0x7ff0000000000001, 0xfff4000000000000, 0x3ff0000000000000,
      0xbff0000000000000, 0x3ff8000000000000, 0x4004000000000000, 0xc004000000000000,
      0x3fb999999999999a, 0x3fd5555555555555, 0x41e0000000000000, 0xc1e0000000000000,
      0x41dfffffffe00000, 0xc1e0000000100000, 0x43e0000000000000, 0xc3e0000000000000,
      0x43dfffffffffffff, 0x47f0000000000000, 0x3805c6e6c4a4c2a3, 0x3690000000000000,
      0x3ff0000000000001, 0x36a0000000000000, 0x3e70000000000000,
  };
  return v;
}

// Packed vectors whose lane 0 walks the edge list, the other lanes other edge values, so the
// pairs (a[i], b[j]) over all i, j meet every edge combination in lane 0.
inline std::vector<Vec> f32_vectors() {
  const auto& f = f32_edges();
  size_t n = f.size();
  std::vector<Vec> out;
  for (size_t k = 0; k < n; ++k) {
    uint32_t lanes[4] = {f[k], f[(k + 5) % n], f[(k + 11) % n], f[(k + 23) % n]};
    Vec v;
    std::memcpy(v.data(), lanes, 16);
    out.push_back(v);
  }
  return out;
}
inline std::vector<Vec> f64_vectors() {
  const auto& f = f64_edges();
  size_t n = f.size();
  std::vector<Vec> out;
  for (size_t k = 0; k < n; ++k) {
    uint64_t lanes[2] = {f[k], f[(k + 7) % n]};
    Vec v;
    std::memcpy(v.data(), lanes, 16);
    out.push_back(v);
  }
  return out;
}

// Integer vectors: zeros, all ones, lane-size extremes, byte patterns and pseudo-random ones.
inline std::vector<Vec> int_vectors() {
  const uint64_t pats[][2] = {{0, 0},
                              {~0ull, ~0ull},
                              {0x8000800080008000ull, 0x7fff7fff7fff7fffull},
                              {0x8080808080808080ull, 0x7f7f7f7f01010101ull},
                              {0x80000000ffffffffull, 0x000000017fffffffull},
                              {0x00ff00fe01000180ull, 0xff7f80817ffe0002ull},
                              {0x0000000000000003ull, 0x0000000000000000ull},
                              {0x000000000000000full, 0x1234567800000000ull},
                              {0x8000000000000000ull, 0x7fffffffffffffffull},
                              {0x0102030405060708ull, 0xf0e0d0c0b0a09080ull}};
  std::vector<Vec> out;
  for (const auto& p : pats) {
    Vec v;
    std::memcpy(v.data(), p, 16);
    out.push_back(v);
  }
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 8; ++i) {
    uint64_t r[2];
    for (auto& w : r) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w = x;
    }
    Vec v;
    std::memcpy(v.data(), r, 16);
    out.push_back(v);
  }
  return out;
}

// MXCSR values, all exceptions masked: each rounding mode, DAZ, FTZ, both, and sticky flags
// already set.
inline const std::vector<uint32_t>& mxcsr_values() {
  static const std::vector<uint32_t> v = {0x1f80, 0x3f80, 0x5f80, 0x7f80,
                                          0x1fc0, 0x9f80, 0xdfc0, 0x1fa1};
  return v;
}

constexpr uint32_t kA = 0x00, kB = 0x10, kMx = 0x30, kOut = 0x40;

inline std::string hex(const Vec& v) {
  return fmt::format("{:02x}", fmt::join(v.begin(), v.end(), ""));
}

// op xmm0, xmm1 (mem = false) or op xmm0, [B] (mem = true), optionally with imm8; the result
// (xmm0) and MXCSR are stored to the data window. rax/rcx come from `st`, `reg`/`rm` are the
// ModRM fields (default xmm0/rax and xmm1/rcx).
inline std::string run_case(Differential& d, const std::vector<uint8_t>& opcode, int imm,
                            const Vec& a, const Vec& b, uint32_t mx, bool mem,
                            const MachineState& st, unsigned reg = 0, unsigned rm = 1) {
  std::vector<uint8_t> data(0x80);
  std::memcpy(data.data() + kA, a.data(), 16);
  std::memcpy(data.data() + kB, b.data(), 16);
  std::memcpy(data.data() + kMx, &mx, 4);
  uint32_t dflt = 0x1f80;
  std::memcpy(data.data() + kMx + 4, &dflt, 4);
  SseAsm x;
  x.ldmxcsr(kMx);
  x.movdqu_load(0, kA);
  x.movdqu_load(1, kB);
  if (mem)
    x.mem(opcode, reg, kB);
  else
    x.regs(opcode, reg, rm);
  if (imm >= 0) x.code.push_back(static_cast<uint8_t>(imm));
  x.movdqu_store(0, kOut);
  x.stmxcsr(kOut + 16);
  x.ldmxcsr(kMx + 4);
  x.raw({0x66, 0x0f, 0xef, 0xc0, 0x66, 0x0f, 0xef, 0xc9});  // pxor xmm0, xmm0; pxor xmm1, xmm1
  return d.compare(x.code, st, kArithFlags, data);
}

}  // namespace corvid::tcg::testing
