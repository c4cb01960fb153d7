// SSE2 integer, shuffle and GPR/RFLAGS-crossing differential tests: every instruction of
// tcg/emit_sse2_int.cc and tcg/emit_sse_float_gpr.cc (and the SSE2 integer ones of
// tcg/emit_sse.cc) runs natively and in the translator in register and memory form over edge
// values, immediates and MXCSR values; xmm0, MXCSR, GPRs, flags and the data window must agree.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/tcg/sse2_cases.h"

namespace corvid::tcg::testing {
namespace {

MachineState base_state() {
  MachineState st;
  st.gpr[0] = 0xdeadbeefcafebabeull;  // 32-bit results must zero-extend over this
  st.gpr[3] = kDataAddr;
  st.gpr[7] = kDataAddr + 0x200;  // maskmovdqu destination
  st.rflags = 0x8d7;              // (u)comis* must clear OF SF AF
  return st;
}

struct IntOp {
  const char* name;
  std::vector<uint8_t> opcode;
  std::vector<int> imms = {-1};
};

const std::vector<IntOp> kIntOps = {
    {"psraw", {0x66, 0x0f, 0xe1}},      {"psrad", {0x66, 0x0f, 0xe2}},
    {"psllw", {0x66, 0x0f, 0xf1}},      {"pslld", {0x66, 0x0f, 0xf2}},
    {"psllq", {0x66, 0x0f, 0xf3}},      {"psrlw", {0x66, 0x0f, 0xd1}},
    {"psrld", {0x66, 0x0f, 0xd2}},      {"psrlq", {0x66, 0x0f, 0xd3}},
    {"pmullw", {0x66, 0x0f, 0xd5}},     {"pmulhw", {0x66, 0x0f, 0xe5}},
    {"pmulhuw", {0x66, 0x0f, 0xe4}},    {"pmuludq", {0x66, 0x0f, 0xf4}},
    {"pmaddwd", {0x66, 0x0f, 0xf5}},    {"paddsb", {0x66, 0x0f, 0xec}},
    {"paddsw", {0x66, 0x0f, 0xed}},     {"psubsb", {0x66, 0x0f, 0xe8}},
    {"psubsw", {0x66, 0x0f, 0xe9}},     {"paddusb", {0x66, 0x0f, 0xdc}},
    {"paddusw", {0x66, 0x0f, 0xdd}},    {"psubusb", {0x66, 0x0f, 0xd8}},
    {"psubusw", {0x66, 0x0f, 0xd9}},    {"packsswb", {0x66, 0x0f, 0x63}},
    {"packssdw", {0x66, 0x0f, 0x6b}},   {"packuswb", {0x66, 0x0f, 0x67}},
    {"pavgb", {0x66, 0x0f, 0xe0}},      {"pavgw", {0x66, 0x0f, 0xe3}},
    {"psadbw", {0x66, 0x0f, 0xf6}},     {"pminsw", {0x66, 0x0f, 0xea}},
    {"pmaxsw", {0x66, 0x0f, 0xee}},     {"pminub", {0x66, 0x0f, 0xda}},
    {"pmaxub", {0x66, 0x0f, 0xde}},     {"pcmpeqb", {0x66, 0x0f, 0x74}},
    {"pcmpeqw", {0x66, 0x0f, 0x75}},    {"pcmpeqd", {0x66, 0x0f, 0x76}},
    {"pcmpgtb", {0x66, 0x0f, 0x64}},    {"pcmpgtw", {0x66, 0x0f, 0x65}},
    {"pcmpgtd", {0x66, 0x0f, 0x66}},    {"paddq", {0x66, 0x0f, 0xd4}},
    {"psubq", {0x66, 0x0f, 0xfb}},      {"unpcklps", {0x0f, 0x14}},
    {"unpckhps", {0x0f, 0x15}},         {"unpcklpd", {0x66, 0x0f, 0x14}},
    {"unpckhpd", {0x66, 0x0f, 0x15}},   {"pshufd", {0x66, 0x0f, 0x70}, {0x1b, 0xe4, 0x4e, 0x93}},
    {"pshufhw", {0xf3, 0x0f, 0x70}, {0x00, 0x1b, 0xe4, 0x4e, 0x93, 0xff}},
    {"pshuflw", {0xf2, 0x0f, 0x70}, {0x00, 0x1b, 0xe4, 0x4e, 0x93, 0xff}},
    {"shufps", {0x0f, 0xc6}, {0x00, 0x1b, 0xe4, 0x4e, 0x93, 0xff, 0x72}},
    {"shufpd", {0x66, 0x0f, 0xc6}, {0, 1, 2, 3, 0xfc}},
    {"pinsrw", {0x66, 0x0f, 0xc4}, {0, 3, 7, 0x0d}},
};

TEST(TcgSse2, IntegerAndShuffleOps) {
  Differential d;
  ASSERT_TRUE(d.ok());
  int cases = 0;
  auto vals = int_vectors();
  for (const Vec& v : f32_vectors()) vals.push_back(v);
  // Shift counts in the low quadword: in range, at and past the lane widths, beyond 32 bits.
  for (uint64_t c : {0ull, 1ull, 7ull, 15ull, 16ull, 31ull, 32ull, 63ull, 64ull, 0x100000001ull}) {
    Vec v{};
    std::memcpy(v.data(), &c, 8);
    vals.push_back(v);
  }
  MachineState st = base_state();
  for (const IntOp& op : kIntOps) {
    for (int imm : op.imms) {
      for (size_t i = 0; i < vals.size(); ++i) {
        for (size_t j = 0; j < vals.size(); ++j) {
          bool mem = (i + j) & 1;
          st.gpr[1] = 0x1234567800000000ull | (i * 0x1111 + j);  // pinsrw's register source
          ++cases;
          std::string diff = run_case(d, op.opcode, imm, vals[i], vals[j], 0x1f80, mem, st);
          ASSERT_EQ(diff, "") << op.name << " imm " << imm << (mem ? " mem" : " reg") << " a "
                              << hex(vals[i]) << " b " << hex(vals[j]);
        }
      }
    }
  }
  std::printf("sse2 integer/shuffle: %d cases\n", cases);
}

TEST(TcgSse2, ShiftByImmediateAndRegisterOnlyForms) {
  Differential d;
  ASSERT_TRUE(d.ok());
  int cases = 0;
  auto vals = int_vectors();
  MachineState st = base_state();
  // 66 0F 71/72/73 /n ib on xmm0.
  const struct {
    const char* name;
    uint8_t opc, sub;
  } shifts[] = {{"psrlw", 0x71, 2}, {"psraw", 0x71, 4}, {"psllw", 0x71, 6}, {"psrld", 0x72, 2},
                {"psrad", 0x72, 4}, {"pslld", 0x72, 6}, {"psrlq", 0x73, 2}, {"psrldq", 0x73, 3},
                {"psllq", 0x73, 6}, {"pslldq", 0x73, 7}};
  for (const auto& s : shifts) {
    for (int imm : {0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 200, 255}) {
      for (const Vec& a : vals) {
        ++cases;
        std::string diff = run_case(d, {0x66, 0x0f, s.opc}, imm, a, a, 0x1f80, false, st, s.sub, 0);
        ASSERT_EQ(diff, "") << s.name << " imm " << imm << " a " << hex(a);
      }
    }
  }
  // Register-only forms: movhlps, movlhps, movmskps/pd eax, pextrw eax, maskmovdqu.
  const struct {
    const char* name;
    std::vector<uint8_t> opcode;
    std::vector<int> imms;
  } ops[] = {{"movhlps", {0x0f, 0x12}, {-1}},
             {"movlhps", {0x0f, 0x16}, {-1}},
             {"movmskps", {0x0f, 0x50}, {-1}},
             {"movmskpd", {0x66, 0x0f, 0x50}, {-1}},
             {"movmskps rax", {0x48, 0x0f, 0x50}, {-1}},
             {"pextrw", {0x66, 0x0f, 0xc5}, {0, 1, 5, 7, 0x0a}},
             {"pextrw rax", {0x66, 0x48, 0x0f, 0xc5}, {2, 6}},
             {"maskmovdqu", {0x66, 0x0f, 0xf7}, {-1}}};
  auto fvals = f32_vectors();
  for (const Vec& v : vals) fvals.push_back(v);
  for (const auto& op : ops) {
    for (int imm : op.imms) {
      for (const Vec& a : fvals) {
        for (const Vec& b : vals) {
          ++cases;
          std::string diff = run_case(d, op.opcode, imm, a, b, 0x1f80, false, st);
          ASSERT_EQ(diff, "") << op.name << " imm " << imm << " a " << hex(a) << " b " << hex(b);
        }
      }
    }
  }
  // Stores: movntpd [B], xmm0; movnti [B], eax / rax.
  for (const Vec& a : vals) {
    for (const auto& opcode : std::vector<std::vector<uint8_t>>{
             {0x66, 0x0f, 0x2b}, {0x0f, 0xc3}, {0x48, 0x0f, 0xc3}}) {
      ++cases;
      std::string diff = run_case(d, opcode, -1, a, a, 0x1f80, true, st);
      ASSERT_EQ(diff, "") << "store " << std::hex << int(opcode.back()) << " a " << hex(a);
    }
  }
  std::printf("sse2 immediate shifts/register-only/stores: %d cases\n", cases);
}

TEST(TcgSse2, ConversionsToAndFromGprsAndCompares) {
  Differential d;
  ASSERT_TRUE(d.ok());
  int cases = 0;
  MachineState st = base_state();
  // Integer sources at the conversion limits (cvtsi2ss/sd, 32- and 64-bit).
  const int64_t ints[] = {0,
                          1,
                          -1,
                          3,
                          16777217,
                          -16777217,
                          (1ll << 53) + 1,
                          2147483647,
                          -2147483647 - 1,
                          0x7fffffffffffffffll,
                          -0x7fffffffffffffffll - 1,
                          0x7fffffc0ll,
                          0x123456789abcdefll,
                          -0x3456789abcdef01ll};
  const struct {
    const char* name;
    std::vector<uint8_t> opcode;
  } from_int[] = {{"cvtsi2ss", {0xf3, 0x0f, 0x2a}},
                  {"cvtsi2ss q", {0xf3, 0x48, 0x0f, 0x2a}},
                  {"cvtsi2sd", {0xf2, 0x0f, 0x2a}},
                  {"cvtsi2sd q", {0xf2, 0x48, 0x0f, 0x2a}}};
  Vec a = f32_vectors()[3];
  for (const auto& op : from_int) {
    for (uint32_t mx : mxcsr_values()) {
      for (int64_t v : ints) {
        for (bool mem : {false, true}) {
          Vec b{};
          std::memcpy(b.data(), &v, 8);
          st.gpr[1] = static_cast<uint64_t>(v);
          ++cases;
          std::string diff = run_case(d, op.opcode, -1, a, b, mx, mem, st);
          ASSERT_EQ(diff, "") << op.name << (mem ? " mem" : " reg") << " mxcsr " << std::hex
                              << mx << " v " << v;
        }
      }
    }
  }
  st.gpr[1] = 0;
  // To integers and compares: every edge value as the source (and every pair for compares).
  const struct {
    const char* name;
    std::vector<uint8_t> opcode;
    bool dbl, pairs;
  } ops[] = {{"cvtss2si", {0xf3, 0x0f, 0x2d}, false, false},
             {"cvtss2si q", {0xf3, 0x48, 0x0f, 0x2d}, false, false},
             {"cvttss2si", {0xf3, 0x0f, 0x2c}, false, false},
             {"cvttss2si q", {0xf3, 0x48, 0x0f, 0x2c}, false, false},
             {"cvtsd2si", {0xf2, 0x0f, 0x2d}, true, false},
             {"cvtsd2si q", {0xf2, 0x48, 0x0f, 0x2d}, true, false},
             {"cvttsd2si", {0xf2, 0x0f, 0x2c}, true, false},
             {"cvttsd2si q", {0xf2, 0x48, 0x0f, 0x2c}, true, false},
             {"ucomiss", {0x0f, 0x2e}, false, true},
             {"comiss", {0x0f, 0x2f}, false, true},
             {"ucomisd", {0x66, 0x0f, 0x2e}, true, true},
             {"comisd", {0x66, 0x0f, 0x2f}, true, true}};
  for (const auto& op : ops) {
    auto vals = op.dbl ? f64_vectors() : f32_vectors();
    std::vector<uint32_t> mxs = op.pairs ? std::vector<uint32_t>{0x1f80, 0x1fc0, 0x1fa1}
                                         : mxcsr_values();
    for (uint32_t mx : mxs) {
      for (size_t i = 0; i < (op.pairs ? vals.size() : 1); ++i) {
        for (size_t j = 0; j < vals.size(); ++j) {
          for (bool mem : {false, true}) {
            ++cases;
            std::string diff = run_case(d, op.opcode, -1, vals[i], vals[j], mx, mem, st);
            ASSERT_EQ(diff, "") << op.name << (mem ? " mem" : " reg") << " mxcsr " << std::hex
                                << mx << " a " << hex(vals[i]) << " b " << hex(vals[j]);
          }
        }
      }
    }
  }
  std::printf("sse/sse2 gpr conversions and compares: %d cases\n", cases);
}

}  // namespace
}  // namespace corvid::tcg::testing
