// MMX differential tests: every MMX instruction (and the SSE/SSSE3 ones with MMX operands) runs
// natively and in the translator over edge and random 64-bit values; the comparison covers the
// GPRs and the data window, which holds the result and the whole x87/MMX state (FXSAVE: TOP, tags,
// the aliased registers with their all-ones exponent field).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include <fmt/format.h>

#include "tcg/cpu_state.h"
#include "tests/unit/tcg/differential.h"
#include "tests/unit/tcg/x87_asm.h"

namespace corvid::tcg::testing {
namespace {

constexpr uint32_t kA = 0x00, kB = 0x10, kOut = 0x40, kDump = 0x200;

struct MmOp {
  const char* name;
  std::vector<uint8_t> opcode;  // bytes before ModRM
  int imm = -1;                 // immediate byte after ModRM/displacement, if any
};

const std::vector<MmOp>& binary_ops() {
  static const std::vector<MmOp> ops = {
      {"paddb", {0x0f, 0xfc}},
      {"paddw", {0x0f, 0xfd}},
      {"paddd", {0x0f, 0xfe}},
      {"paddq", {0x0f, 0xd4}},
      {"paddsb", {0x0f, 0xec}},
      {"paddsw", {0x0f, 0xed}},
      {"paddusb", {0x0f, 0xdc}},
      {"paddusw", {0x0f, 0xdd}},
      {"psubb", {0x0f, 0xf8}},
      {"psubw", {0x0f, 0xf9}},
      {"psubd", {0x0f, 0xfa}},
      {"psubq", {0x0f, 0xfb}},
      {"psubsb", {0x0f, 0xe8}},
      {"psubsw", {0x0f, 0xe9}},
      {"psubusb", {0x0f, 0xd8}},
      {"psubusw", {0x0f, 0xd9}},
      {"pmullw", {0x0f, 0xd5}},
      {"pmulhw", {0x0f, 0xe5}},
      {"pmulhuw", {0x0f, 0xe4}},
      {"pmuludq", {0x0f, 0xf4}},
      {"pmaddwd", {0x0f, 0xf5}},
      {"pcmpeqb", {0x0f, 0x74}},
      {"pcmpeqw", {0x0f, 0x75}},
      {"pcmpeqd", {0x0f, 0x76}},
      {"pcmpgtb", {0x0f, 0x64}},
      {"pcmpgtw", {0x0f, 0x65}},
      {"pcmpgtd", {0x0f, 0x66}},
      {"packsswb", {0x0f, 0x63}},
      {"packssdw", {0x0f, 0x6b}},
      {"packuswb", {0x0f, 0x67}},
      {"punpcklbw", {0x0f, 0x60}},
      {"punpcklwd", {0x0f, 0x61}},
      {"punpckldq", {0x0f, 0x62}},
      {"punpckhbw", {0x0f, 0x68}},
      {"punpckhwd", {0x0f, 0x69}},
      {"punpckhdq", {0x0f, 0x6a}},
      {"pand", {0x0f, 0xdb}},
      {"pandn", {0x0f, 0xdf}},
      {"por", {0x0f, 0xeb}},
      {"pxor", {0x0f, 0xef}},
      {"psllw", {0x0f, 0xf1}},
      {"pslld", {0x0f, 0xf2}},
      {"psllq", {0x0f, 0xf3}},
      {"psrlw", {0x0f, 0xd1}},
      {"psrld", {0x0f, 0xd2}},
      {"psrlq", {0x0f, 0xd3}},
      {"psraw", {0x0f, 0xe1}},
      {"psrad", {0x0f, 0xe2}},
      {"pminub", {0x0f, 0xda}},
      {"pmaxub", {0x0f, 0xde}},
      {"pminsw", {0x0f, 0xea}},
      {"pmaxsw", {0x0f, 0xee}},
      {"pavgb", {0x0f, 0xe0}},
      {"pavgw", {0x0f, 0xe3}},
      {"psadbw", {0x0f, 0xf6}},
      {"movq", {0x0f, 0x6f}},
      {"pshufw", {0x0f, 0x70}, 0x1b},
      {"pshufb", {0x0f, 0x38, 0x00}},
      {"phaddw", {0x0f, 0x38, 0x01}},
      {"phaddd", {0x0f, 0x38, 0x02}},
      {"phaddsw", {0x0f, 0x38, 0x03}},
      {"pmaddubsw", {0x0f, 0x38, 0x04}},
      {"phsubw", {0x0f, 0x38, 0x05}},
      {"phsubd", {0x0f, 0x38, 0x06}},
      {"phsubsw", {0x0f, 0x38, 0x07}},
      {"psignb", {0x0f, 0x38, 0x08}},
      {"psignw", {0x0f, 0x38, 0x09}},
      {"psignd", {0x0f, 0x38, 0x0a}},
      {"pmulhrsw", {0x0f, 0x38, 0x0b}},
      {"pabsb", {0x0f, 0x38, 0x1c}},
      {"pabsw", {0x0f, 0x38, 0x1d}},
      {"pabsd", {0x0f, 0x38, 0x1e}},
      {"palignr 3", {0x0f, 0x3a, 0x0f}, 3},
      {"palignr 12", {0x0f, 0x3a, 0x0f}, 12},
      {"pshufw e4", {0x0f, 0x70}, 0xe4},
  };
  return ops;
}

std::vector<uint64_t> values() {
  std::vector<uint64_t> v = {0,
                             ~0ull,
                             0x8000000000000000ull,
                             0x7fffffffffffffffull,
                             0x8080808080808080ull,
                             0x7f7f7f7f7f7f7f7full,
                             0x8000800080008000ull,
                             0x7fff7fff7fff7fffull,
                             0x0001000200030004ull,
                             0x00000000ffffffffull,
                             0xffff0000ffff0000ull,
                             0x000000000000000full,
                             0x0000000000000040ull,
                             0x0123456789abcdefull};
  std::mt19937_64 rng(9);
  for (int i = 0; i < 10; ++i) v.push_back(rng());
  return v;
}

void put64(std::vector<uint8_t>& data, uint32_t off, uint64_t v) {
  if (data.size() < off + 8) data.resize(off + 8);
  std::memcpy(data.data() + off, &v, 8);
}

class TcgMmx : public ::testing::Test {
 protected:
  Differential d;
  int cases = 0;
  void check(const X87Asm& a, std::vector<uint8_t> data, const std::string& what) {
    uint32_t mxcsr = 0x1f80;
    if (data.size() < kDump + 0x1f4) data.resize(kDump + 0x1f4);
    std::memcpy(data.data() + kDump + 0x1f0, &mxcsr, 4);
    MachineState st;
    st.gpr[3] = kDataAddr;
    st.gpr[7] = kDataAddr + kOut + 0x10;  // maskmovq's destination
    st.gpr[0] = 0x1234567887654321ull;
    ++cases;
    std::string diff = d.compare(a.code, st, kArithFlags, data);
    if (!diff.empty()) {
      for (uint32_t i = 0; i < kDataSize; ++i) {
        if (d.native_data()[i] != d.guest_data()[i]) {
          diff += fmt::format("first data difference at {:#x}: native {:#04x} translator {:#04x}",
                              i, d.native_data()[i], d.guest_data()[i]);
          break;
        }
      }
    }
    ASSERT_EQ(diff, "") << what;
  }
  // The prologue: x87 registers cleared, optionally one x87 push (TOP = 7) so entering MMX state
  // has to rotate; mm0 = [A], mm1 = [B].
  X87Asm start(bool push) {
    X87Asm x;
    x.reset();
    if (push) x.raw({0xd9, 0xe8});  // fld1
    x.mem({0x0f, 0x6f}, 0, kA);
    x.mem({0x0f, 0x6f}, 1, kB);
    return x;
  }
  void finish(X87Asm& x) {
    x.mem({0x0f, 0x7f}, 0, kOut);  // movq [out], mm0
    x.dump(kDump);
  }
};

TEST_F(TcgMmx, BinaryOpsRegisterAndMemoryForms) {
  ASSERT_TRUE(d.ok());
  std::vector<uint64_t> vals = values();
  for (const MmOp& op : binary_ops()) {
    for (uint64_t a : vals) {
      for (uint64_t b : vals) {
        for (int form = 0; form < 2; ++form) {
          std::vector<uint8_t> data;
          put64(data, kA, a);
          put64(data, kB, b);
          X87Asm x = start(form == 1);
          if (form == 0) {
            x.raw({});
            x.code.insert(x.code.end(), op.opcode.begin(), op.opcode.end());
            x.code.push_back(0xc1);  // mm0, mm1
          } else {
            x.mem({}, 0, kB);
            // mem() put ModRM first: rebuild as opcode + ModRM + disp.
            x.code.resize(x.code.size() - 5);
            x.code.insert(x.code.end(), op.opcode.begin(), op.opcode.end());
            x.code.push_back(0x83);
            for (int i = 0; i < 4; ++i) x.code.push_back(static_cast<uint8_t>(kB >> (8 * i)));
          }
          if (op.imm >= 0) x.code.push_back(static_cast<uint8_t>(op.imm));
          finish(x);
          check(x, data, fmt::format("{} a={:#x} b={:#x} form {}", op.name, a, b, form));
          if (HasFatalFailure()) return;
        }
      }
    }
  }
  std::printf("mmx binary ops: %d cases\n", cases);
}

TEST_F(TcgMmx, ShiftsByImmediateAndTransfers) {
  ASSERT_TRUE(d.ok());
  std::vector<uint64_t> vals = values();
  // 0F 71/72/73 /reg ib on mm0.
  const std::pair<std::vector<uint8_t>, const char*> shifts[] = {
      {{0x0f, 0x71, 0xf0}, "psllw"}, {{0x0f, 0x71, 0xd0}, "psrlw"}, {{0x0f, 0x71, 0xe0}, "psraw"},
      {{0x0f, 0x72, 0xf0}, "pslld"}, {{0x0f, 0x72, 0xd0}, "psrld"}, {{0x0f, 0x72, 0xe0}, "psrad"},
      {{0x0f, 0x73, 0xf0}, "psllq"}, {{0x0f, 0x73, 0xd0}, "psrlq"}};
  for (const auto& [bytes, name] : shifts) {
    for (uint8_t count : {0, 1, 7, 15, 16, 31, 32, 63, 64, 200}) {
      for (uint64_t a : vals) {
        std::vector<uint8_t> data;
        put64(data, kA, a);
        X87Asm x = start(false);
        x.code.insert(x.code.end(), bytes.begin(), bytes.end());
        x.code.push_back(count);
        finish(x);
        check(x, data, fmt::format("{} {} a={:#x}", name, count, a));
        if (HasFatalFailure()) return;
      }
    }
  }
  for (uint64_t a : vals) {
    for (uint64_t b : vals) {
      std::vector<uint8_t> data;
      put64(data, kA, a);
      put64(data, kB, b);
      X87Asm x = start(true);
      x.raw({0x0f, 0x7e, 0xc1});            // movd ecx, mm0
      x.raw({0x48, 0x0f, 0x7e, 0xca});      // movq rdx, mm1
      x.raw({0x0f, 0xc5, 0xf0, 0x02});      // pextrw esi, mm0, 2
      x.raw({0x0f, 0xd7, 0xf9});            // pmovmskb edi, mm1
      x.raw({0x0f, 0xc4, 0xc8, 0x01});      // pinsrw mm1, eax, 1
      x.raw({0x0f, 0x6e, 0xd0});            // movd mm2, eax
      x.raw({0x48, 0x0f, 0x6e, 0xdb});      // movq mm3, rbx
      x.mem({0x0f, 0xe7}, 1, kOut + 8);     // movntq [out+8], mm1
      x.mem({0x0f, 0x7e}, 2, kOut + 0x20);  // movd [out+0x20], mm2
      x.raw({0x48, 0xbf});                  // mov rdi, out+0x30
      uint64_t dst = kDataAddr + kOut + 0x30;
      for (int i = 0; i < 8; ++i) x.code.push_back(static_cast<uint8_t>(dst >> (8 * i)));
      x.raw({0x0f, 0xf7, 0xc1});       // maskmovq mm0, mm1
      x.mem({0x0f, 0x6e}, 5, kB + 4);  // movd mm5, [B+4]
      x.mem({0x0f, 0xc4}, 6, kA + 2);  // pinsrw mm6, [A+2], 3
      x.code.push_back(3);
      x.raw({0x0f, 0x71, 0xd6, 0x05});            // psrlw mm6, 5
      x.raw({0xf3, 0x0f, 0xd6, 0xc0});            // movq2dq xmm0, mm0
      x.raw({0xf2, 0x0f, 0xd6, 0xe0});            // movdq2q mm4, xmm0
      x.mem({0xf3, 0x0f, 0x7f}, 0, kOut + 0x80);  // movdqu [out+0x80], xmm0
      finish(x);
      check(x, data, fmt::format("transfers a={:#x} b={:#x}", a, b));
      if (HasFatalFailure()) return;
      // emms after MMX use: tags empty, TOP stays 0.
      X87Asm y = start(true);
      y.raw({0x0f, 0x77});
      y.raw({0xd9, 0xe8});  // fld1 after emms
      y.dump(kDump);
      check(y, data, "emms");
      if (HasFatalFailure()) return;
    }
  }
  std::printf("mmx shifts/transfers: %d cases\n", cases);
}

TEST_F(TcgMmx, ConversionsWithXmmEveryRoundingMode) {
  ASSERT_TRUE(d.ok());
  const float fl[] = {0.0f,
                      -0.5f,
                      1.5f,
                      2.5f,
                      -2.5f,
                      3e9f,
                      -3e9f,
                      1e-40f,
                      __builtin_inff(),
                      __builtin_nanf(""),
                      2147483520.0f,
                      -2147483648.0f};
  const double db[] = {0.0,
                       -0.5,
                       1.5,
                       2.5,
                       -2.5,
                       3e9,
                       -2147483648.4,
                       2147483647.4,
                       __builtin_inf(),
                       __builtin_nan(""),
                       1e-310,
                       123456.75};
  for (uint32_t rc = 0; rc < 4; ++rc) {
    for (size_t i = 0; i < std::size(fl); ++i) {
      for (size_t j = 0; j < std::size(db); ++j) {
        std::vector<uint8_t> data;
        uint32_t mx = 0x1f80 | rc << 13;
        float f2[2] = {fl[i], fl[(i + 5) % std::size(fl)]};
        double d2[2] = {db[j], db[(j + 3) % std::size(db)]};
        data.resize(0x100);
        std::memcpy(data.data() + kA, f2, 8);
        std::memcpy(data.data() + kB, d2, 16);
        std::memcpy(data.data() + 0x30, &mx, 4);
        uint64_t ints = (uint64_t{static_cast<uint32_t>(-7 * static_cast<int>(j + 1))} << 32) |
                        static_cast<uint32_t>(0x7fffffff - static_cast<int>(i));
        std::memcpy(data.data() + 0x38, &ints, 8);
        X87Asm x;
        x.reset();
        x.mem({0x0f, 0xae}, 2, 0x30);      // ldmxcsr
        x.mem({0x0f, 0x10}, 1, kA);        // movups xmm1, [A]
        x.mem({0x66, 0x0f, 0x10}, 2, kB);  // movupd xmm2, [B]
        x.mem({0x0f, 0x6f}, 5, 0x38);      // movq mm5, [ints]
        // xmm3's upper half survives cvtpi2ps: give it a known value (the native side's xmm
        // registers otherwise hold whatever the test process left there).
        x.mem({0x66, 0x0f, 0x10}, 3, kB);           // movupd xmm3, [B]
        x.mem({0x66, 0x0f, 0x10}, 4, kB);           // movupd xmm4, [B]
        x.raw({0x0f, 0x2d, 0xc1});                  // cvtps2pi mm0, xmm1
        x.raw({0x0f, 0x2c, 0xc9});                  // cvttps2pi mm1, xmm1
        x.raw({0x66, 0x0f, 0x2d, 0xd2});            // cvtpd2pi mm2, xmm2
        x.raw({0x66, 0x0f, 0x2c, 0xda});            // cvttpd2pi mm3, xmm2
        x.raw({0x0f, 0x2a, 0xdd});                  // cvtpi2ps xmm3, mm5
        x.raw({0x66, 0x0f, 0x2a, 0xe5});            // cvtpi2pd xmm4, mm5
        x.mem({0x0f, 0x2d}, 6, kA);                 // cvtps2pi mm6, [A]
        x.mem({0x66, 0x0f, 0x2c}, 7, kB);           // cvttpd2pi mm7, [B]
        x.mem({0xf3, 0x0f, 0x7f}, 3, kOut + 0x40);  // movdqu [out+0x40], xmm3
        x.mem({0xf3, 0x0f, 0x7f}, 4, kOut + 0x50);
        x.mem({0x0f, 0xae}, 3, kOut + 0x60);  // stmxcsr
        finish(x);
        check(x, data, fmt::format("cvt rc={} f={} d={}", rc, fl[i], db[j]));
        if (HasFatalFailure()) return;
      }
    }
  }
  std::printf("mmx conversions: %d cases\n", cases);
}

}  // namespace
}  // namespace corvid::tcg::testing
