// x87 differential tests: each case runs natively and in the translator from the same x87 inputs
// and compares registers, flags and the data window, which holds the whole x87 state (FXSAVE,
// with FIP cleared since the code addresses differ) and any stored results.
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

// Data window layout.
constexpr uint32_t kA = 0x00, kB = 0x10, kMem = 0x20, kCw = 0x100, kDump = 0x200, kOut = 0x400,
                   kEnv = 0x500;

F80 raw80(uint64_t mant, uint16_t se) {
  return F80{mant, se};
}

std::vector<F80> edge_values() {
  std::vector<F80> v = {
      f80(0.0L),
      f80(-0.0L),
      f80(1.0L),
      f80(-1.0L),
      f80(1.5L),
      f80(-2.75L),
      f80(3.0L),
      f80(1.0L / 3.0L),
      f80(-0.1L),
      f80(3.14159265358979323846264338327950288L),
      f80(9223372036854775808.0L),
      f80(-32768.5L),
      f80(2147483647.5L),
      f80(1e300L),
      f80(-1e-300L),
      f80(1e4000L),
      f80(3e38L),
      f80(1e-40L),
      f80(LDBL_MAX),
      f80(LDBL_MIN),
      f80(LDBL_TRUE_MIN),
      f80(DBL_MAX),
      f80(-DBL_MIN / 4),
      raw80(0x7fffffffffffffffull, 0x0000),  // largest denormal
      raw80(0x8000000000000000ull, 0x0000),  // pseudo-denormal
      raw80(0x4000000000000000ull, 0x3fff),  // unnormal
      f80(__builtin_infl()),
      f80(-__builtin_infl()),
      raw80(0xc000000000000000ull, 0x7fff),  // QNaN
      raw80(0xc000000000001234ull, 0xffff),  // -QNaN with payload
      raw80(0xa000000000000000ull, 0x7fff),  // SNaN
      raw80(0x4000000000000000ull, 0x7fff),  // pseudo-NaN
  };
  return v;
}

// Control words: exceptions all masked or all unmasked, every precision and rounding control.
std::vector<uint16_t> control_words(bool all) {
  std::vector<uint16_t> cw;
  for (uint16_t mask : {0x3f, 0x00}) {
    for (uint16_t pc : {3, 2, 0}) {
      for (uint16_t rc = 0; rc < 4; ++rc) {
        if (!all && pc != 3 && rc != 0) continue;
        cw.push_back(static_cast<uint16_t>(0x40 | mask | pc << 8 | rc << 10));
      }
    }
  }
  return cw;
}

void put(std::vector<uint8_t>& data, uint32_t off, const void* p, size_t n) {
  if (data.size() < off + n) data.resize(off + n);
  std::memcpy(data.data() + off, p, n);
}
void put80(std::vector<uint8_t>& data, uint32_t off, F80 v) {
  put(data, off, &v.mant, 8);
  put(data, off + 8, &v.se, 2);
}

class TcgX87 : public ::testing::Test {
 protected:
  Differential d;
  int cases = 0;

  // Runs `code` (rbx = data window) with flags `rflags` and compares everything.
  void check(const X87Asm& a, std::vector<uint8_t> data, const std::string& what,
             uint64_t rflags = 0, uint64_t flag_mask = kArithFlags) {
    uint32_t mxcsr = 0x1f80;
    put(data, kDump + 0x1f0, &mxcsr, 4);
    MachineState st;
    st.gpr[3] = kDataAddr;
    st.rflags = 2 | rflags;
    ++cases;
    std::string diff = d.compare(a.code, st, flag_mask, data);
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

  // fninit; fldcw cw; fld B; fld A (A = ST0, B = ST1); body; fnstsw [out+12]; dump.
  template <typename Body>
  void two(uint16_t cw, F80 a, F80 b, Body body, const std::string& what, uint64_t rflags = 0) {
    std::vector<uint8_t> data;
    put80(data, kA, a);
    put80(data, kB, b);
    put(data, kCw, &cw, 2);
    X87Asm x;
    x.reset();
    x.fldcw(kCw);
    x.fld80(kB);
    x.fld80(kA);
    body(x);
    x.mem({0xdd}, 7, kOut + 12);  // fnstsw
    x.dump(kDump);
    check(x, data,
          fmt::format("{} cw={:#x} a={:#x}:{:#x} b={:#x}:{:#x}", what, cw, a.se, a.mant, b.se,
                      b.mant),
          rflags);
  }
};

struct Named {
  const char* name;
  std::vector<uint8_t> bytes;
};

TEST_F(TcgX87, ArithmeticRegisterFormsOverEdgeValues) {
  ASSERT_TRUE(d.ok());
  const std::vector<Named> ops = {
      {"fadd st0,st1", {0xd8, 0xc1}},   {"fmul st0,st1", {0xd8, 0xc9}},
      {"fcom st1", {0xd8, 0xd1}},       {"fcomp st1", {0xd8, 0xd9}},
      {"fsub st0,st1", {0xd8, 0xe1}},   {"fsubr st0,st1", {0xd8, 0xe9}},
      {"fdiv st0,st1", {0xd8, 0xf1}},   {"fdivr st0,st1", {0xd8, 0xf9}},
      {"fadd st1,st0", {0xdc, 0xc1}},   {"fsub st1,st0", {0xdc, 0xe9}},
      {"fdivr st1,st0", {0xdc, 0xf1}},  {"faddp", {0xde, 0xc1}},
      {"fmulp", {0xde, 0xc9}},          {"fsubrp", {0xde, 0xe1}},
      {"fsubp", {0xde, 0xe9}},          {"fdivrp", {0xde, 0xf1}},
      {"fdivp", {0xde, 0xf9}},          {"fcompp", {0xde, 0xd9}},
      {"fucom st1", {0xdd, 0xe1}},      {"fucomp st1", {0xdd, 0xe9}},
      {"fucompp", {0xda, 0xe9}},        {"fcomi st1", {0xdb, 0xf1}},
      {"fucomi st1", {0xdb, 0xe9}},     {"fcomip st1", {0xdf, 0xf1}},
      {"fucomip st1", {0xdf, 0xe9}},    {"fprem", {0xd9, 0xf8}},
      {"fprem1", {0xd9, 0xf5}},         {"fscale", {0xd9, 0xfd}},
      {"fpatan", {0xd9, 0xf3}},         {"fyl2x", {0xd9, 0xf1}},
      {"fyl2xp1", {0xd9, 0xf9}},        {"fxch st1", {0xd9, 0xc9}},
  };
  std::vector<F80> vals = edge_values();
  const std::vector<uint16_t> cws = {0x37f, 0x340};
  for (const Named& op : ops) {
    for (uint16_t cw : cws) {
      for (F80 a : vals) {
        for (F80 b : vals) {
          two(
              cw, a, b, [&](X87Asm& x) { x.code.insert(x.code.end(), op.bytes.begin(), op.bytes.end()); },
              op.name);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
  RecordProperty("cases", cases);
  std::printf("x87 arithmetic register forms: %d cases\n", cases);
}

// Random operands in every precision and rounding control, masked and unmasked.
TEST_F(TcgX87, ArithmeticRandomOperandsEveryControlWord) {
  ASSERT_TRUE(d.ok());
  const std::vector<Named> ops = {
      {"fadd", {0xd8, 0xc1}},  {"fmul", {0xd8, 0xc9}},   {"fsub", {0xd8, 0xe1}},
      {"fdiv", {0xd8, 0xf1}},  {"fdivr", {0xd8, 0xf9}},  {"fsqrt", {0xd9, 0xfa}},
      {"fprem", {0xd9, 0xf8}}, {"fprem1", {0xd9, 0xf5}}, {"frndint", {0xd9, 0xfc}},
      {"fsin", {0xd9, 0xfe}},  {"fcos", {0xd9, 0xff}},   {"fsincos", {0xd9, 0xfb}},
      {"fptan", {0xd9, 0xf2}}, {"fpatan", {0xd9, 0xf3}}, {"f2xm1", {0xd9, 0xf0}},
      {"fyl2x", {0xd9, 0xf1}}, {"fscale", {0xd9, 0xfd}}, {"fxtract", {0xd9, 0xf4}},
  };
  std::mt19937_64 rng(87);
  std::uniform_real_distribution<double> mant(-2.0, 2.0);
  std::uniform_int_distribution<int> ex(-70, 70);
  auto random = [&] { return f80(std::ldexp(static_cast<long double>(mant(rng)), ex(rng))); };
  for (const Named& op : ops) {
    for (uint16_t cw : control_words(true)) {
      for (int i = 0; i < 40; ++i) {
        two(
            cw, random(), random(),
            [&](X87Asm& x) { x.code.insert(x.code.end(), op.bytes.begin(), op.bytes.end()); },
            op.name);
        if (HasFatalFailure()) return;
      }
    }
  }
  std::printf("x87 random arithmetic: %d cases\n", cases);
}

// One-operand instructions, constants and fxam over the edge values in every control word.
TEST_F(TcgX87, UnaryAndConstantsOverEdgeValues) {
  ASSERT_TRUE(d.ok());
  const std::vector<Named> ops = {
      {"fchs", {0xd9, 0xe0}},    {"fabs", {0xd9, 0xe1}},    {"ftst", {0xd9, 0xe4}},
      {"fxam", {0xd9, 0xe5}},    {"fsqrt", {0xd9, 0xfa}},   {"frndint", {0xd9, 0xfc}},
      {"fxtract", {0xd9, 0xf4}}, {"f2xm1", {0xd9, 0xf0}},   {"fptan", {0xd9, 0xf2}},
      {"fsin", {0xd9, 0xfe}},    {"fcos", {0xd9, 0xff}},    {"fsincos", {0xd9, 0xfb}},
      {"fld1", {0xd9, 0xe8}},    {"fldl2t", {0xd9, 0xe9}},  {"fldl2e", {0xd9, 0xea}},
      {"fldpi", {0xd9, 0xeb}},   {"fldlg2", {0xd9, 0xec}},  {"fldln2", {0xd9, 0xed}},
      {"fldz", {0xd9, 0xee}},    {"fld st1", {0xd9, 0xc1}}, {"fst st2", {0xdd, 0xd2}},
      {"fstp st1", {0xdd, 0xd9}}, {"ffree st0", {0xdd, 0xc0}}, {"fincstp", {0xd9, 0xf7}},
      {"fdecstp", {0xd9, 0xf6}}, {"fnop", {0xd9, 0xd0}},    {"ffreep", {0xdf, 0xc0}},
  };
  std::vector<F80> vals = edge_values();
  for (const Named& op : ops) {
    for (uint16_t cw : control_words(true)) {
      for (F80 a : vals) {
        two(
            cw, a, f80(2.5L),
            [&](X87Asm& x) { x.code.insert(x.code.end(), op.bytes.begin(), op.bytes.end()); },
            op.name);
        if (HasFatalFailure()) return;
      }
    }
  }
  std::printf("x87 unary/constants: %d cases\n", cases);
}

}  // namespace
}  // namespace corvid::tcg::testing

namespace corvid::tcg::testing {
namespace {

// Memory operands of every width: the arithmetic forms and the loads.
TEST_F(TcgX87, MemoryOperandArithmeticAndLoads) {
  ASSERT_TRUE(d.ok());
  const float f32s[] = {0.0f, -0.0f, 1.0f, -3.5f, 1e-40f, FLT_MIN, FLT_MAX, 0.1f,
                        __builtin_inff(), -__builtin_inff(), __builtin_nanf(""), 16777217.0f};
  const double f64s[] = {0.0, -0.0, 1.0, -3.5, 1e-310, DBL_MIN, DBL_MAX, 0.1, 1e300,
                         __builtin_inf(), __builtin_nan(""), 9007199254740993.0};
  uint32_t snan32 = 0x7fa00000;
  uint64_t snan64 = 0x7ff4000000000000ull;
  const uint64_t ints[] = {0, 1, 0xffffffffffffffffull, 0x7fff, 0x8000, 0x7fffffff, 0x80000000,
                           0x7fffffffffffffffull, 0x8000000000000000ull, 12345678901234ull};
  // (opcode, size kind): 0 = m32fp, 1 = m64fp, 2 = m16int, 3 = m32int, 4 = m64int/m80.
  struct Form {
    uint8_t opcode;
    int kind;
  };
  const Form forms[] = {{0xd8, 0}, {0xdc, 1}, {0xde, 2}, {0xda, 3}};
  std::vector<std::vector<uint8_t>> mems[5];
  for (float f : f32s) mems[0].push_back(std::vector<uint8_t>(reinterpret_cast<uint8_t*>(&f),
                                                              reinterpret_cast<uint8_t*>(&f) + 4));
  mems[0].push_back({0, 0, 0xa0, 0x7f});
  (void)snan32;
  for (double f : f64s) mems[1].push_back(std::vector<uint8_t>(reinterpret_cast<uint8_t*>(&f),
                                                               reinterpret_cast<uint8_t*>(&f) + 8));
  mems[1].push_back(std::vector<uint8_t>(reinterpret_cast<uint8_t*>(&snan64),
                                         reinterpret_cast<uint8_t*>(&snan64) + 8));
  for (uint64_t v : ints) {
    auto* p = reinterpret_cast<const uint8_t*>(&v);
    mems[2].push_back(std::vector<uint8_t>(p, p + 2));
    mems[3].push_back(std::vector<uint8_t>(p, p + 4));
    mems[4].push_back(std::vector<uint8_t>(p, p + 8));
  }
  const F80 st0s[] = {f80(0.0L), f80(1.0L), f80(-7.25L), f80(1e4000L), f80(LDBL_TRUE_MIN),
                      f80(__builtin_infl()), raw80(0xc000000000000000ull, 0x7fff)};
  for (uint16_t cw : control_words(false)) {
    for (F80 a : st0s) {
      for (const Form& f : forms) {
        for (const auto& m : mems[f.kind]) {
          for (unsigned reg = 0; reg < 8; ++reg) {
            std::vector<uint8_t> data;
            put80(data, kA, a);
            put(data, kMem, m.data(), m.size());
            put(data, kCw, &cw, 2);
            X87Asm x;
            x.reset();
            x.fldcw(kCw);
            x.fld80(kA);
            x.mem({f.opcode}, reg, kMem);
            x.mem({0xdd}, 7, kOut + 12);
            x.dump(kDump);
            check(x, data, fmt::format("op {:#x}/{} cw={:#x}", f.opcode, reg, cw));
            if (HasFatalFailure()) return;
          }
        }
      }
      // Loads: fld m32/m64, fild m16/m32/m64, fbld (packed BCD from the integer bytes).
      const std::pair<Named, int> loads[] = {{{"fld m32", {0xd9, 0}}, 0}, {{"fld m64", {0xdd, 0}}, 1},
                                             {{"fild m16", {0xdf, 0}}, 2}, {{"fild m32", {0xdb, 0}}, 3},
                                             {{"fild m64", {0xdf, 5}}, 4}, {{"fbld", {0xdf, 4}}, 4}};
      for (const auto& [l, kind] : loads) {
        for (const auto& m : mems[kind]) {
          std::vector<uint8_t> data;
          put80(data, kA, a);
          put(data, kMem, m.data(), m.size());
          uint16_t sign = 0x8000;
          put(data, kMem + 8, &sign, 2);  // fbld reads 10 bytes: negative sign byte
          put(data, kCw, &cw, 2);
          X87Asm x;
          x.reset();
          x.fldcw(kCw);
          x.fld80(kA);
          x.mem({l.bytes[0]}, l.bytes[1], kMem);
          x.mem({0xdd}, 7, kOut + 12);
          x.dump(kDump);
          check(x, data, fmt::format("{} cw={:#x}", l.name, cw));
          if (HasFatalFailure()) return;
        }
      }
    }
  }
  std::printf("x87 memory arithmetic/loads: %d cases\n", cases);
}

// Stores of every width and rounding: fst/fstp m32/m64/m80, fist/fistp m16/m32/m64, fisttp,
// fbstp, including the suppressed store of an unmasked invalid or overflow.
TEST_F(TcgX87, StoresEveryWidthAndRounding) {
  ASSERT_TRUE(d.ok());
  const Named stores[] = {
      {"fst m32", {0xd9, 2}},    {"fstp m32", {0xd9, 3}},   {"fst m64", {0xdd, 2}},
      {"fstp m64", {0xdd, 3}},   {"fstp m80", {0xdb, 7}},   {"fist m16", {0xdf, 2}},
      {"fistp m16", {0xdf, 3}},  {"fist m32", {0xdb, 2}},   {"fistp m32", {0xdb, 3}},
      {"fistp m64", {0xdf, 7}},  {"fisttp m16", {0xdf, 1}}, {"fisttp m32", {0xdb, 1}},
      {"fisttp m64", {0xdd, 1}}, {"fbstp", {0xdf, 6}},
  };
  std::vector<F80> vals = edge_values();
  for (long double v : {2.5L, -2.5L, 3.5L, -0.5L, 32767.5L, -32768.4L, 2147483648.0L, 1e18L,
                        -9.3e18L, 123456789012345678.9L, 1e19L, 0.49999999L}) {
    vals.push_back(f80(v));
  }
  for (const Named& st : stores) {
    for (uint16_t cw : control_words(true)) {
      for (F80 a : vals) {
        std::vector<uint8_t> data;
        put80(data, kA, a);
        put(data, kCw, &cw, 2);
        const uint8_t fill[10] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};
        put(data, kOut, fill, 10);
        X87Asm x;
        x.reset();
        x.fldcw(kCw);
        x.fld80(kA);
        x.mem({st.bytes[0]}, st.bytes[1], kOut);
        x.mem({0xdd}, 7, kOut + 12);
        x.dump(kDump);
        check(x, data, fmt::format("{} cw={:#x} a={:#x}:{:#x}", st.name, cw, a.se, a.mant));
        if (HasFatalFailure()) return;
      }
    }
  }
  std::printf("x87 stores: %d cases\n", cases);
}

// Stack faults, tags and TOP: overflow, underflow, fxch/fcmov with empty registers, ffree.
TEST_F(TcgX87, StackOverflowUnderflowAndTags) {
  ASSERT_TRUE(d.ok());
  const std::vector<Named> bodies = {
      {"9 pushes", {0xd9, 0xe8, 0xd9, 0xe8, 0xd9, 0xe8, 0xd9, 0xe8, 0xd9, 0xe8, 0xd9, 0xe8, 0xd9,
                    0xe8, 0xd9, 0xe8, 0xd9, 0xee}},
      {"fadd st0,st3 (empty)", {0xd8, 0xc3}},
      {"fxch st4 (empty)", {0xd9, 0xcc}},
      {"fld st5 (empty)", {0xd9, 0xc5}},
      {"fstp st3", {0xdd, 0xdb}},
      {"ffree st1; fadd", {0xdd, 0xc1, 0xd8, 0xc1}},
      {"fincstp x3", {0xd9, 0xf7, 0xd9, 0xf7, 0xd9, 0xf7}},
      {"fdecstp; fdecstp", {0xd9, 0xf6, 0xd9, 0xf6}},
      {"fcompp; fcompp", {0xde, 0xd9, 0xde, 0xd9}},
      {"fxch; fsubp", {0xd9, 0xc9, 0xde, 0xe9}},
      {"fsincos x7", {0xd9, 0xfb, 0xd9, 0xfb, 0xd9, 0xfb, 0xd9, 0xfb, 0xd9, 0xfb, 0xd9, 0xfb, 0xd9,
                      0xfb}},
      {"fptan; fptan", {0xd9, 0xf2, 0xd9, 0xf2}},
      {"fxtract x3", {0xd9, 0xf4, 0xd9, 0xf4, 0xd9, 0xf4}},
      {"fld1; fld1; fld1; fld1; fld1; fld1; fptan", {0xd9, 0xe8, 0xd9, 0xe8, 0xd9, 0xe8, 0xd9, 0xe8,
                                                     0xd9, 0xe8, 0xd9, 0xe8, 0xd9, 0xf2}},
  };
  for (const Named& b : bodies) {
    // Masked only: an unmasked stack fault would be pending at the next instruction.
    for (uint16_t cw : {0x37f, 0x27f, 0xf7f, 0x77f}) {
      for (F80 a : {f80(1.0L), f80(-0.0L), f80(0.75L)}) {
        two(
            cw, a, f80(2.0L),
            [&](X87Asm& x) { x.code.insert(x.code.end(), b.bytes.begin(), b.bytes.end()); },
            b.name);
        if (HasFatalFailure()) return;
      }
    }
  }
  // fcmovcc: every condition under every CF/PF/ZF combination, also from an empty register.
  for (uint8_t base : {0xda, 0xdb}) {
    for (uint8_t cc = 0; cc < 4; ++cc) {
      for (uint8_t src : {1, 5}) {
        for (uint64_t flags = 0; flags < 8; ++flags) {
          uint64_t rf = ((flags & 1) ? kFlagCf : 0) | ((flags & 2) ? kFlagPf : 0) |
                        ((flags & 4) ? kFlagZf : 0);
          std::vector<uint8_t> op = {base, static_cast<uint8_t>(0xc0 | cc << 3 | src)};
          two(
              0x37f, f80(1.0L), f80(-5.0L),
              [&](X87Asm& x) { x.code.insert(x.code.end(), op.begin(), op.end()); }, "fcmov",
              rf);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
  std::printf("x87 stack: %d cases\n", cases);
}

// fnstsw ax / fnstcw, fldcw unmasking a flagged exception, fnclex, and the environment images:
// fnstenv/fldenv and fnsave/frstor in the 32-bit and (0x66) 16-bit layouts.
TEST_F(TcgX87, ControlStatusAndEnvironment) {
  ASSERT_TRUE(d.ok());
  for (F80 a : edge_values()) {
    for (F80 b : {f80(0.0L), f80(3.0L), raw80(0xa000000000000000ull, 0x7fff)}) {
      two(
          0x37f, a, b,
          [&](X87Asm& x) {
            x.raw({0xd8, 0xf1});  // fdiv st0, st1 (flags)
            x.fnstsw_ax();
            x.mem({0xd9}, 7, kOut + 2);  // fnstcw
            x.mem({0xd9}, 6, kEnv);      // fnstenv: masks everything
            x.mem({0xc7}, 0, kEnv + 12);  // the FIP dword: a host address natively
            for (int i = 0; i < 4; ++i) x.code.push_back(0);
            x.mem({0xd9}, 4, kEnv);  // fldenv
            x.mem({0x66, 0xd9}, 6, kEnv + 0x40);
            x.mem({0x66, 0xc7}, 0, kEnv + 0x46);
            x.code.push_back(0);
            x.code.push_back(0);
            x.mem({0xdd}, 6, kEnv + 0x80);  // fnsave (then reinitialised)
            x.mem({0xc7}, 0, kEnv + 0x80 + 12);
            for (int i = 0; i < 4; ++i) x.code.push_back(0);
            x.mem({0xdd}, 4, kEnv + 0x80);  // frstor
            x.mem({0x66, 0xdd}, 6, kEnv + 0x100);
            x.mem({0x66, 0xc7}, 0, kEnv + 0x106);
            x.code.push_back(0);
            x.code.push_back(0);
            x.mem({0x66, 0xdd}, 4, kEnv + 0x100);
            x.raw({0xdb, 0xe2});  // fnclex
          },
          "env");
      if (HasFatalFailure()) return;
      // fldcw unmasking an exception that is flagged: ES and B at once.
      uint16_t unmasked = 0x360;
      two(
          0x37f, a, b,
          [&](X87Asm& x) {
            x.raw({0xd8, 0xf1});
            std::vector<uint8_t> cw(reinterpret_cast<uint8_t*>(&unmasked),
                                    reinterpret_cast<uint8_t*>(&unmasked) + 2);
            x.mem({0xd9}, 5, kCw + 2);
            x.fnstsw_ax();
          },
          "fldcw unmask");
      if (HasFatalFailure()) return;
    }
  }
  std::printf("x87 control/env: %d cases\n", cases);
}

}  // namespace
}  // namespace corvid::tcg::testing
