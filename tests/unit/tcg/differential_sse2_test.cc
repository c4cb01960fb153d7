// SSE/SSE2 floating-point differential tests: every arithmetic, compare and conversion
// instruction runs natively and in the translator, register and memory form, over all pairs of
// edge values (tests/unit/tcg/sse2_cases.h) and several MXCSR values (each rounding mode, DAZ,
// FTZ, sticky flags; exceptions masked). The result register, MXCSR, GPRs and flags must agree
// bit for bit.
#include <gtest/gtest.h>

#include <string>

#include <fmt/format.h>

#include "tcg/cpu_state.h"
#include "tests/unit/tcg/differential.h"
#include "tests/unit/tcg/sse2_cases.h"

namespace corvid::tcg::testing {
namespace {

struct FpOp {
  const char* name;
  std::vector<uint8_t> opcode;
  bool dbl;             // edge values of double precision (else single)
  bool rounds = true;   // false: the result does not depend on the rounding mode
  bool aligned = true;  // memory form needs 16-byte alignment (kB is aligned)
};

const std::vector<FpOp> kFpOps = {
    {"addps", {0x0f, 0x58}, false},          {"addpd", {0x66, 0x0f, 0x58}, true},
    {"addss", {0xf3, 0x0f, 0x58}, false},    {"addsd", {0xf2, 0x0f, 0x58}, true},
    {"subps", {0x0f, 0x5c}, false},          {"subpd", {0x66, 0x0f, 0x5c}, true},
    {"subss", {0xf3, 0x0f, 0x5c}, false},    {"subsd", {0xf2, 0x0f, 0x5c}, true},
    {"mulps", {0x0f, 0x59}, false},          {"mulpd", {0x66, 0x0f, 0x59}, true},
    {"mulss", {0xf3, 0x0f, 0x59}, false},    {"mulsd", {0xf2, 0x0f, 0x59}, true},
    {"divps", {0x0f, 0x5e}, false},          {"divpd", {0x66, 0x0f, 0x5e}, true},
    {"divss", {0xf3, 0x0f, 0x5e}, false},    {"divsd", {0xf2, 0x0f, 0x5e}, true},
    {"minps", {0x0f, 0x5d}, false, false},   {"minpd", {0x66, 0x0f, 0x5d}, true, false},
    {"minss", {0xf3, 0x0f, 0x5d}, false, false}, {"minsd", {0xf2, 0x0f, 0x5d}, true, false},
    {"maxps", {0x0f, 0x5f}, false, false},   {"maxpd", {0x66, 0x0f, 0x5f}, true, false},
    {"maxss", {0xf3, 0x0f, 0x5f}, false, false}, {"maxsd", {0xf2, 0x0f, 0x5f}, true, false},
    {"sqrtps", {0x0f, 0x51}, false},         {"sqrtpd", {0x66, 0x0f, 0x51}, true},
    {"sqrtss", {0xf3, 0x0f, 0x51}, false},   {"sqrtsd", {0xf2, 0x0f, 0x51}, true},
    {"rcpps", {0x0f, 0x53}, false, false},   {"rcpss", {0xf3, 0x0f, 0x53}, false, false},
    {"rsqrtps", {0x0f, 0x52}, false, false}, {"rsqrtss", {0xf3, 0x0f, 0x52}, false, false},
    {"cvtss2sd", {0xf3, 0x0f, 0x5a}, false}, {"cvtsd2ss", {0xf2, 0x0f, 0x5a}, true},
    {"cvtps2pd", {0x0f, 0x5a}, false},       {"cvtpd2ps", {0x66, 0x0f, 0x5a}, true},
    {"cvtdq2ps", {0x0f, 0x5b}, false},       {"cvtps2dq", {0x66, 0x0f, 0x5b}, false},
    {"cvttps2dq", {0xf3, 0x0f, 0x5b}, false}, {"cvtdq2pd", {0xf3, 0x0f, 0xe6}, false},
    {"cvtpd2dq", {0xf2, 0x0f, 0xe6}, true},  {"cvttpd2dq", {0x66, 0x0f, 0xe6}, true},
};

// The edge vectors plus integer patterns: all of them for the int-to-float conversions, the
// pseudo-random ones (NaN payloads, odd exponents) otherwise.
std::vector<Vec> fp_vectors(bool dbl, bool from_int) {
  std::vector<Vec> v = dbl ? f64_vectors() : f32_vectors();
  std::vector<Vec> ints = int_vectors();
  for (size_t i = from_int ? 0 : ints.size() - 4; i < ints.size(); ++i) v.push_back(ints[i]);
  return v;
}

std::vector<uint32_t> mxcsrs(bool rounds) {
  if (rounds) return mxcsr_values();
  return {0x1f80, 0x1fc0, 0xdfc0, 0x1fa1};
}

TEST(TcgSse2, FloatArithmeticAndConversions) {
  Differential d;
  ASSERT_TRUE(d.ok());
  int cases = 0;
  MachineState st;
  st.gpr[3] = kDataAddr;
  st.rflags = 0x8d7;
  for (const FpOp& op : kFpOps) {
    auto vals = fp_vectors(op.dbl, std::string(op.name).starts_with("cvtdq2"));
    for (uint32_t mx : mxcsrs(op.rounds)) {
      for (size_t i = 0; i < vals.size(); ++i) {
        for (size_t j = 0; j < vals.size(); ++j) {
          bool mem = (i + j + mx) & 1;  // alternate forms; both meet every value pair
          ++cases;
          std::string diff = run_case(d, op.opcode, -1, vals[i], vals[j], mx, mem, st);
          ASSERT_EQ(diff, "") << op.name << (mem ? " mem" : " reg") << " mxcsr " << std::hex
                              << mx << " a " << hex(vals[i]) << " b " << hex(vals[j]);
        }
      }
    }
  }
  std::printf("sse/sse2 float arithmetic and conversions: %d cases\n", cases);
}

TEST(TcgSse2, CompareEveryPredicate) {
  Differential d;
  ASSERT_TRUE(d.ok());
  int cases = 0;
  MachineState st;
  st.gpr[3] = kDataAddr;
  const struct {
    const char* name;
    std::vector<uint8_t> opcode;
    bool dbl;
  } ops[] = {{"cmpps", {0x0f, 0xc2}, false},
             {"cmppd", {0x66, 0x0f, 0xc2}, true},
             {"cmpss", {0xf3, 0x0f, 0xc2}, false},
             {"cmpsd", {0xf2, 0x0f, 0xc2}, true}};
  for (const auto& op : ops) {
    auto vals = op.dbl ? f64_vectors() : f32_vectors();
    // The 8 predicates, and two immediates with reserved bits 3-7 set (the legacy encodings
    // use bits 0-2 only).
    for (int pred : {0, 1, 2, 3, 4, 5, 6, 7, 0x0d, 0xfa}) {
      for (uint32_t mx : {0x1f80u, 0x1fc0u}) {
        for (size_t i = 0; i < vals.size(); ++i) {
          for (size_t j = 0; j < vals.size(); ++j) {
            bool mem = (i + j + pred) & 1;
            ++cases;
            std::string diff = run_case(d, op.opcode, pred, vals[i], vals[j], mx, mem, st);
            ASSERT_EQ(diff, "") << op.name << " pred " << pred << (mem ? " mem" : " reg")
                                << " mxcsr " << std::hex << mx << " a " << hex(vals[i]) << " b "
                                << hex(vals[j]);
          }
        }
      }
    }
  }
  std::printf("cmpps/pd/ss/sd: %d cases\n", cases);
}

}  // namespace
}  // namespace corvid::tcg::testing
