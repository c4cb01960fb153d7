// SSE3/SSSE3 differential tests: each xmm instruction runs natively and in the translator, in
// register and memory form, over edge and random values and (floating point) every MXCSR rounding
// mode with and without DAZ/FTZ; the result and MXCSR are stored into the compared data window.
#include <gtest/gtest.h>

#include <cfloat>
#include <random>
#include <string>

#include <fmt/format.h>

#include "tcg/cpu_state.h"
#include "tests/unit/tcg/differential.h"
#include "tests/unit/tcg/x87_asm.h"

namespace corvid::tcg::testing {
namespace {

constexpr uint32_t kA = 0x00, kB = 0x10, kMx = 0x30, kOut = 0x40;

struct XOp {
  const char* name;
  std::vector<uint8_t> opcode;
  bool fp;
  int imm = -1;
};

const std::vector<XOp> ops = {
    {"addsubps", {0xf2, 0x0f, 0xd0}, true},      {"addsubpd", {0x66, 0x0f, 0xd0}, true},
    {"haddps", {0xf2, 0x0f, 0x7c}, true},        {"haddpd", {0x66, 0x0f, 0x7c}, true},
    {"hsubps", {0xf2, 0x0f, 0x7d}, true},        {"hsubpd", {0x66, 0x0f, 0x7d}, true},
    {"movddup", {0xf2, 0x0f, 0x12}, false},      {"movshdup", {0xf3, 0x0f, 0x16}, false},
    {"movsldup", {0xf3, 0x0f, 0x12}, false},     {"lddqu", {0xf2, 0x0f, 0xf0}, false},
    {"pshufb", {0x66, 0x0f, 0x38, 0x00}, false}, {"phaddw", {0x66, 0x0f, 0x38, 0x01}, false},
    {"phaddd", {0x66, 0x0f, 0x38, 0x02}, false}, {"phaddsw", {0x66, 0x0f, 0x38, 0x03}, false},
    {"pmaddubsw", {0x66, 0x0f, 0x38, 0x04}, false}, {"phsubw", {0x66, 0x0f, 0x38, 0x05}, false},
    {"phsubd", {0x66, 0x0f, 0x38, 0x06}, false}, {"phsubsw", {0x66, 0x0f, 0x38, 0x07}, false},
    {"psignb", {0x66, 0x0f, 0x38, 0x08}, false}, {"psignw", {0x66, 0x0f, 0x38, 0x09}, false},
    {"psignd", {0x66, 0x0f, 0x38, 0x0a}, false}, {"pmulhrsw", {0x66, 0x0f, 0x38, 0x0b}, false},
    {"pabsb", {0x66, 0x0f, 0x38, 0x1c}, false},  {"pabsw", {0x66, 0x0f, 0x38, 0x1d}, false},
    {"pabsd", {0x66, 0x0f, 0x38, 0x1e}, false},  {"palignr 0", {0x66, 0x0f, 0x3a, 0x0f}, false, 0},
    {"palignr 5", {0x66, 0x0f, 0x3a, 0x0f}, false, 5}, {"palignr 17", {0x66, 0x0f, 0x3a, 0x0f}, false, 17},
    {"palignr 40", {0x66, 0x0f, 0x3a, 0x0f}, false, 40},
};

std::vector<std::array<uint8_t, 16>> vectors(bool fp) {
  std::vector<std::array<uint8_t, 16>> out;
  auto add = [&](const void* p) {
    std::array<uint8_t, 16> v;
    std::memcpy(v.data(), p, 16);
    out.push_back(v);
  };
  const float f[][4] = {{1.0f, -2.0f, 0.1f, 3e38f},
                        {3e38f, 1e-40f, -0.0f, __builtin_inff()},
                        {__builtin_nanf(""), -__builtin_inff(), FLT_MIN, 1.0f / 3},
                        {16777216.0f, 1.0f, -1e-45f, 7.5f}};
  const double d[][2] = {{1.0, -2.0}, {DBL_MAX, 1e-310}, {__builtin_inf(), __builtin_nan("")},
                         {0.1, 1.0 / 3}};
  if (fp) {
    for (const auto& x : f) add(x);
    for (const auto& x : d) add(x);
  }
  std::mt19937_64 rng(33);
  const uint64_t pats[][2] = {{0, 0},
                              {~0ull, ~0ull},
                              {0x8000800080008000ull, 0x7fff7fff7fff7fffull},
                              {0x8080808080808080ull, 0x0f0e0d0c0b0a0908ull},
                              {0x80000000ffffffffull, 0x000000017fffffffull}};
  for (const auto& p : pats) add(p);
  for (int i = 0; i < 6; ++i) {
    uint64_t r[2] = {rng(), rng()};
    add(r);
  }
  return out;
}

TEST(TcgSse3, EveryInstructionRegisterAndMemoryForms) {
  Differential d;
  ASSERT_TRUE(d.ok());
  int cases = 0;
  for (const XOp& op : ops) {
    auto vals = vectors(op.fp);
    std::vector<uint32_t> mxcsrs = {0x1f80};
    if (op.fp) mxcsrs = {0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0};
    for (uint32_t mx : mxcsrs) {
      for (const auto& a : vals) {
        for (const auto& b : vals) {
          for (int form = 0; form < 2; ++form) {
            // lddqu has only a memory form.
            if (form == 0 && std::string(op.name) == "lddqu") continue;
            std::vector<uint8_t> data(0x100);
            std::memcpy(data.data() + kA, a.data(), 16);
            std::memcpy(data.data() + kB, b.data(), 16);
            std::memcpy(data.data() + kMx, &mx, 4);
            X87Asm x;
            x.mem({0x0f, 0xae}, 2, kMx);           // ldmxcsr
            x.mem({0xf3, 0x0f, 0x6f}, 0, kA);      // movdqu xmm0, [A]
            x.mem({0xf3, 0x0f, 0x6f}, 1, kB);      // movdqu xmm1, [B]
            if (form == 0) {
              x.raw({});
              x.code.insert(x.code.end(), op.opcode.begin(), op.opcode.end());
              x.code.push_back(0xc1);
            } else {
              x.code.insert(x.code.end(), op.opcode.begin(), op.opcode.end());
              x.code.push_back(0x83);
              for (int i = 0; i < 4; ++i) x.code.push_back(static_cast<uint8_t>(kB >> (8 * i)));
            }
            if (op.imm >= 0) x.code.push_back(static_cast<uint8_t>(op.imm));
            x.mem({0xf3, 0x0f, 0x7f}, 0, kOut);    // movdqu [out], xmm0
            x.mem({0x0f, 0xae}, 3, kOut + 16);     // stmxcsr [out+16]
            uint32_t dflt = 0x1f80;
            std::memcpy(data.data() + kMx + 4, &dflt, 4);
            x.mem({0x0f, 0xae}, 2, kMx + 4);       // back to the default MXCSR
            x.raw({0x66, 0x0f, 0xef, 0xc0, 0x66, 0x0f, 0xef, 0xc9});  // pxor xmm0/xmm1
            MachineState st;
            st.gpr[3] = kDataAddr;
            ++cases;
            std::string diff = d.compare(x.code, st, kArithFlags, data);
            ASSERT_EQ(diff, "") << op.name << " form " << form << " mxcsr " << std::hex << mx
                                << " out native/translator "
                                << fmt::format("{:02x}", fmt::join(d.native_data() + kOut,
                                                                   d.native_data() + kOut + 20, ""))
                                << " / "
                                << fmt::format("{:02x}", fmt::join(d.guest_data() + kOut,
                                                                   d.guest_data() + kOut + 20, ""));
          }
        }
      }
    }
  }
  std::printf("sse3/ssse3: %d cases\n", cases);
}

}  // namespace
}  // namespace corvid::tcg::testing
