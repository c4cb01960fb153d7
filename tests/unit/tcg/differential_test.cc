// Instruction-level differential tests: each case runs natively and in the translator.
#include <gtest/gtest.h>

#include <random>

#include "tcg/cpu_state.h"
#include "tests/unit/tcg/differential.h"

namespace corvid::tcg::testing {
namespace {

constexpr uint64_t kAll = kArithFlags;
const uint64_t kEdges[] = {0,
                           1,
                           2,
                           0x7f,
                           0x80,
                           0xff,
                           0x7fff,
                           0x8000,
                           0xffff,
                           0x7fffffff,
                           0x80000000,
                           0xffffffff,
                           0x7fffffffffffffff,
                           0x8000000000000000,
                           ~0ull,
                           0x123456789abcdef0};

// Prefixes and opcode for an operation of `size` bytes whose 8-bit form is `op8`.
std::vector<uint8_t> sized(unsigned size, std::vector<uint8_t> op8_then_rest,
                           bool plus_one = true) {
  std::vector<uint8_t> out;
  if (size == 2) out.push_back(0x66);
  if (size == 8) out.push_back(0x48);
  if (size != 1 && plus_one) op8_then_rest[0] += 1;
  out.insert(out.end(), op8_then_rest.begin(), op8_then_rest.end());
  return out;
}

class TcgDifferential : public ::testing::Test {
 protected:
  Differential d;
  int cases = 0;
  void check(const std::vector<uint8_t>& code, const MachineState& st, uint64_t mask,
             const char* what) {
    ++cases;
    std::string diff = d.compare(code, st, mask);
    ASSERT_EQ(diff, "") << what << " rax=" << std::hex << st.gpr[0] << " rbx=" << st.gpr[3]
                        << " rcx=" << st.gpr[1] << " rdx=" << st.gpr[2] << " flags=" << st.rflags;
  }
};

TEST_F(TcgDifferential, AluOpsOverEdgeValuesAllSizes) {
  ASSERT_TRUE(d.ok());
  const uint8_t ops[] = {0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38};
  for (uint8_t op : ops) {
    for (unsigned size : {1u, 2u, 4u, 8u}) {
      for (uint64_t a : kEdges) {
        for (uint64_t b : kEdges) {
          for (uint64_t cf : {0ull, 1ull}) {
            MachineState st;
            st.gpr[0] = a;
            st.gpr[3] = b;
            st.gpr[5] = b ^ 0x5555;  // ch for the high-byte form
            st.rflags = 2 | cf;
            // op rax/al, rbx/bl; and (8-bit) op ch, dl style high-byte form.
            check(sized(size, {op, static_cast<uint8_t>(0xc0 | (3 << 3) | 0)}), st, kAll, "alu");
            if (size == 1)
              check({op, static_cast<uint8_t>(0xc0 | (2 << 3) | 5)}, st, kAll, "alu8hi");
          }
        }
      }
    }
  }
  RecordProperty("cases", cases);
}

TEST_F(TcgDifferential, IncDecNegNotPreserveAndSetFlags) {
  ASSERT_TRUE(d.ok());
  // FE/FF /0 inc, /1 dec; F6/F7 /2 not, /3 neg on rbx.
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    for (uint64_t a : kEdges) {
      for (uint64_t cf : {0ull, 1ull}) {
        MachineState st;
        st.gpr[3] = a;
        st.rflags = 2 | cf;
        check(sized(size, {0xfe, 0xc3}), st, kAll, "inc");
        check(sized(size, {0xfe, 0xcb}), st, kAll, "dec");
        check(sized(size, {0xf6, 0xd3}), st, kAll, "not");
        check(sized(size, {0xf6, 0xdb}), st, kAll, "neg");
      }
    }
  }
}

TEST_F(TcgDifferential, ShiftsAndRotatesEveryCount) {
  ASSERT_TRUE(d.ok());
  const uint64_t values[] = {
      0, 1, 0x80, 0x8001, 0x80000001, 0x8000000000000001, 0x123456789abcdef0, ~0ull};
  for (unsigned sub : {0u, 1u, 2u, 3u, 4u, 5u, 7u}) {
    for (unsigned size : {1u, 2u, 4u, 8u}) {
      unsigned bits = size * 8;
      for (unsigned count = 0; count < 66; ++count) {
        unsigned masked = count & (size == 8 ? 63 : 31);
        uint64_t mask;
        bool rotate = sub < 4;
        if (masked == 0) {
          mask = kAll;
        } else if (rotate) {
          mask = kFlagCf | (masked == 1 ? kFlagOf : 0);
        } else {
          mask = kFlagCf | kFlagSf | kFlagZf | kFlagPf | (masked == 1 ? kFlagOf : 0);
          if (masked >= bits) mask &= ~kFlagCf;  // CF undefined once the count reaches the width
        }
        for (uint64_t v : values) {
          for (uint64_t cf : {0ull, 1ull}) {
            MachineState st;
            st.gpr[3] = v;
            st.gpr[1] = count;
            st.rflags = 2 | cf | kFlagZf;
            check(sized(size, {0xd2, static_cast<uint8_t>(0xc0 | (sub << 3) | 3)}), st, mask,
                  "shift");
          }
        }
      }
    }
  }
}

TEST_F(TcgDifferential, MulImulDivIdiv) {
  ASSERT_TRUE(d.ok());
  for (unsigned sub : {4u, 5u, 6u, 7u}) {
    for (unsigned size : {1u, 2u, 4u, 8u}) {
      uint64_t m = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
      for (uint64_t a : kEdges) {
        for (uint64_t b : kEdges) {
          for (uint64_t hi : {0ull, 1ull, ~0ull}) {
            MachineState st;
            st.gpr[0] = a;
            st.gpr[2] = hi;
            st.gpr[3] = b;
            if (sub >= 6) {
              // Skip what would raise #DE natively (the translator's #DE has its own test).
              uint64_t dv = b & m;
              if (dv == 0) continue;
              unsigned __int128 dividend =
                  size == 1 ? (a & 0xffff)
                            : ((static_cast<unsigned __int128>(hi & m) << (size * 8)) | (a & m));
              if (sub == 6 && dividend / dv > m) continue;
              if (sub == 7) {
                unsigned bits = size * 8;
                __int128 sd =
                    size == 8
                        ? static_cast<__int128>(dividend)
                        : static_cast<__int128>(static_cast<int64_t>(static_cast<uint64_t>(dividend)
                                                                     << (64 - 2 * bits)) >>
                                                (64 - 2 * bits));
                __int128 sv = static_cast<int64_t>(dv << (64 - bits)) >> (64 - bits);
                if (size == 8 && static_cast<unsigned __int128>(sd) ==
                                     (static_cast<unsigned __int128>(1) << 127))
                  continue;
                __int128 q = sd / sv;
                __int128 lim = static_cast<__int128>(1) << (bits - 1);
                if (q >= lim || q < -lim) continue;
              }
            }
            uint64_t mask = sub < 6 ? (kFlagCf | kFlagOf) : 0;
            check(sized(size, {0xf6, static_cast<uint8_t>(0xc0 | (sub << 3) | 3)}), st, mask,
                  "muldiv");
          }
        }
      }
    }
  }
  // Two- and three-operand imul.
  for (unsigned size : {2u, 4u, 8u}) {
    for (uint64_t a : kEdges) {
      for (uint64_t b : kEdges) {
        MachineState st;
        st.gpr[0] = a;
        st.gpr[3] = b;
        check(sized(size, {0x0f, 0xaf, 0xc3}, false), st, kFlagCf | kFlagOf, "imul2");
        check(sized(size, {0x6b, 0xc3, 0x85}, false), st, kFlagCf | kFlagOf, "imul3");
      }
    }
  }
}

TEST_F(TcgDifferential, BsfBsrBtAndCondCodes) {
  ASSERT_TRUE(d.ok());
  for (unsigned size : {2u, 4u, 8u}) {
    for (uint64_t v : kEdges) {
      MachineState st;
      st.gpr[0] = 0x1111;
      st.gpr[3] = v;
      st.gpr[1] = v * 7 + 3;
      check(sized(size, {0x0f, 0xbc, 0xc3}, false), st, kFlagZf, "bsf");
      check(sized(size, {0x0f, 0xbd, 0xc3}, false), st, kFlagZf, "bsr");
      for (uint8_t sub : {0xa3, 0xab, 0xb3, 0xbb}) {  // bt/bts/btr/btc rbx, rcx
        check(sized(size, {0x0f, sub, 0xcb}, false), st, kFlagCf, "bt");
      }
    }
  }
  // cmp rax, rbx; setcc cl; cmovcc rdx, rsi for all sixteen conditions.
  for (unsigned cc = 0; cc < 16; ++cc) {
    for (uint64_t a : kEdges) {
      for (uint64_t b : kEdges) {
        MachineState st;
        st.gpr[0] = a;
        st.gpr[3] = b;
        st.gpr[2] = 0xdddd;
        st.gpr[6] = 0x5151;
        std::vector<uint8_t> code = {0x48,
                                     0x39,
                                     0xd8,
                                     0x0f,
                                     static_cast<uint8_t>(0x90 + cc),
                                     0xc1,
                                     0x48,
                                     0x0f,
                                     static_cast<uint8_t>(0x40 + cc),
                                     0xd6,
                                     0x0f,
                                     static_cast<uint8_t>(0x40 + cc),
                                     0xfe};  // cmovcc edi, esi
        check(code, st, kAll, "setcc/cmovcc");
      }
    }
  }
}

TEST_F(TcgDifferential, XaddCmpxchgBswapShld) {
  ASSERT_TRUE(d.ok());
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    for (uint64_t a : kEdges) {
      for (uint64_t b : {0ull, 0x80ull, ~0ull, 0x123456789abcdef0ull}) {
        MachineState st;
        st.gpr[0] = a;
        st.gpr[3] = b;
        st.gpr[1] = a;
        check(sized(size, {0x0f, 0xc0, 0xcb}, false), st, kAll, "xadd");  // xadd bl/rbx, cl/rcx
        if (size == 1) continue;
        check(sized(size, {0x0f, 0xb1, 0xcb}, false), st, kAll, "cmpxchg");
        st.gpr[0] = b;  // equal case
        check(sized(size, {0x0f, 0xb1, 0xcb}, false), st, kAll, "cmpxchg-eq");
      }
    }
  }
  for (uint64_t v : kEdges) {
    MachineState st;
    st.gpr[3] = v;
    check({0x48, 0x0f, 0xcb}, st, kAll, "bswap64");
    check({0x0f, 0xcb}, st, kAll, "bswap32");
    for (unsigned count = 1; count < 32; ++count) {
      st.gpr[1] = count;
      st.gpr[0] = ~v;
      uint64_t mask = kFlagCf | kFlagSf | kFlagZf | kFlagPf | (count == 1 ? kFlagOf : 0);
      check({0x0f, 0xa5, 0xc3}, st, mask, "shld32");  // shld ebx, eax, cl
      check({0x48, 0x0f, 0xad, 0xc3}, st, mask, "shrd64");
    }
  }
}

TEST_F(TcgDifferential, StringOpsWithRep) {
  ASSERT_TRUE(d.ok());
  std::vector<uint8_t> data(512);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13);
  for (uint64_t count : {0ull, 1ull, 7ull, 100ull, 255ull}) {
    for (uint64_t df : {uint64_t{0}, kFlagDf}) {
      MachineState st;
      st.gpr[1] = count;
      st.gpr[0] = 0xab;
      st.rflags = 2 | df;
      st.gpr[6] = kDataAddr + (df ? 255 : 0);
      st.gpr[7] = kDataAddr + 0x1000 + (df ? 255 : 0);
      ++cases;
      EXPECT_EQ(d.compare({0xf3, 0xa4}, st, kAll, data), "") << "rep movsb " << count;
      EXPECT_EQ(d.compare({0xf3, 0xaa}, st, kAll, data), "") << "rep stosb " << count;
      EXPECT_EQ(d.compare({0xf3, 0x48, 0xab}, st, kAll, data), "") << "rep stosq " << count;
      st.gpr[7] = kDataAddr + (df ? 255 : 0) + 0x100;
      EXPECT_EQ(d.compare({0xf3, 0xa6}, st, kAll, data), "") << "repe cmpsb " << count;
      EXPECT_EQ(d.compare({0xf2, 0xae}, st, kAll, data), "") << "repne scasb " << count;
      EXPECT_EQ(d.compare({0xac}, st, kAll, data), "") << "lodsb";
    }
  }
}

// The bulk paths of rep stos/movs (a fill of equal bytes is one memset, other values a store loop
// per width; whole page chunks at a time) against the element loop of the host: every width,
// fills across a page boundary, both directions, and movs whose destination overlaps its source
// by less than one element (which a byte-wise bulk copy gets wrong).
TEST_F(TcgDifferential, RepStosAndMovsBulkPaths) {
  ASSERT_TRUE(d.ok());
  std::vector<uint8_t> data(0x5000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  const std::vector<std::vector<uint8_t>> stos = {
      {0xf3, 0xaa}, {0xf3, 0x66, 0xab}, {0xf3, 0xab}, {0xf3, 0x48, 0xab}};
  const std::vector<std::vector<uint8_t>> movs = {
      {0xf3, 0xa4}, {0xf3, 0x66, 0xa5}, {0xf3, 0xa5}, {0xf3, 0x48, 0xa5}};
  for (uint64_t value : {0ull, 0x4141414141414141ull, 0x0102030405060708ull, ~0ull}) {
    for (uint64_t count : {1ull, 3ull, 64ull, 600ull, 1100ull}) {
      for (uint64_t df : {uint64_t{0}, kFlagDf}) {
        for (size_t w = 0; w < stos.size(); ++w) {
          MachineState st;
          st.gpr[0] = value;
          st.gpr[1] = count;
          st.rflags = 2 | df;
          // Starts 24 bytes before a page boundary going up (or after it going down).
          st.gpr[7] = df ? kDataAddr + 0x4018 : kDataAddr + 0x1000 - 24;
          ++cases;
          EXPECT_EQ(d.compare(stos[w], st, kAll, data), "")
              << "rep stos width " << (1 << w) << " count " << count << " value " << value;
        }
      }
    }
  }
  for (uint64_t count : {5ull, 300ull, 1000ull}) {
    for (uint64_t gap : {1ull, 2ull, 3ull, 5ull, 8ull, 4096ull}) {
      for (uint64_t df : {uint64_t{0}, kFlagDf}) {
        for (size_t w = 0; w < movs.size(); ++w) {
          MachineState st;
          st.gpr[1] = count;
          st.rflags = 2 | df;
          st.gpr[6] = kDataAddr + (df ? 0x2800 : 0x800);
          st.gpr[7] = st.gpr[6] + gap;
          ++cases;
          EXPECT_EQ(d.compare(movs[w], st, kAll, data), "")
              << "rep movs width " << (1 << w) << " count " << count << " gap " << gap;
        }
      }
    }
  }
}

}  // namespace
}  // namespace corvid::tcg::testing

namespace corvid::tcg::testing {
namespace {

// SSE2 through general registers: movq xmm0, rax; movq xmm1, rbx; punpcklqdq xmm0, xmm1 builds a
// 128-bit value from two GPRs; the op under test runs; the result comes back with pmovmskb and
// movq (and pshufd to reach the high half).
std::vector<uint8_t> sse_case(std::vector<uint8_t> op) {
  std::vector<uint8_t> code = {0x66, 0x48, 0x0f, 0x6e, 0xc0,  // movq xmm0, rax
                               0x66, 0x48, 0x0f, 0x6e, 0xcb,  // movq xmm1, rbx
                               0x66, 0x48, 0x0f, 0x6e, 0xd1,  // movq xmm2, rcx
                               0x66, 0x0f, 0x6c, 0xc1,        // punpcklqdq xmm0, xmm1
                               0x66, 0x0f, 0x6c, 0xca};       // punpcklqdq xmm1, xmm2
  for (uint8_t b : op) code.push_back(b);
  std::vector<uint8_t> tail = {0x66, 0x0f, 0xd7, 0xf0,         // pmovmskb esi, xmm0
                               0x66, 0x48, 0x0f, 0x7e, 0xc0,   // movq rax, xmm0
                               0x66, 0x0f, 0x70, 0xc0, 0x4e,   // pshufd xmm0, xmm0, 0x4e
                               0x66, 0x48, 0x0f, 0x7e, 0xc2};  // movq rdx, xmm0
  for (uint8_t b : tail) code.push_back(b);
  return code;
}

TEST(TcgDifferentialSse, IntegerOpsMatchHost) {
  Differential d;
  ASSERT_TRUE(d.ok());
  // 66 0F xx /r with xmm0, xmm1 (modrm C1), and the shift-by-immediate forms.
  const std::vector<std::vector<uint8_t>> ops = {
      {0x66, 0x0f, 0xef, 0xc1},
      {0x66, 0x0f, 0xdb, 0xc1},
      {0x66, 0x0f, 0xdf, 0xc1},
      {0x66, 0x0f, 0xeb, 0xc1},
      {0x66, 0x0f, 0x74, 0xc1},
      {0x66, 0x0f, 0x75, 0xc1},
      {0x66, 0x0f, 0x76, 0xc1},
      {0x66, 0x0f, 0x64, 0xc1},
      {0x66, 0x0f, 0x65, 0xc1},
      {0x66, 0x0f, 0x66, 0xc1},
      {0x66, 0x0f, 0xda, 0xc1},
      {0x66, 0x0f, 0xde, 0xc1},
      {0x66, 0x0f, 0xfc, 0xc1},
      {0x66, 0x0f, 0xfd, 0xc1},
      {0x66, 0x0f, 0xfe, 0xc1},
      {0x66, 0x0f, 0xd4, 0xc1},
      {0x66, 0x0f, 0xf8, 0xc1},
      {0x66, 0x0f, 0xf9, 0xc1},
      {0x66, 0x0f, 0xfa, 0xc1},
      {0x66, 0x0f, 0xfb, 0xc1},
      {0x66, 0x0f, 0x60, 0xc1},
      {0x66, 0x0f, 0x61, 0xc1},
      {0x66, 0x0f, 0x62, 0xc1},
      {0x66, 0x0f, 0x6d, 0xc1},
      {0x66, 0x0f, 0x68, 0xc1},
      {0x66, 0x0f, 0x69, 0xc1},
      {0x66, 0x0f, 0x6a, 0xc1},
      {0x66, 0x0f, 0x70, 0xc1, 0x1b},
      {0x66, 0x0f, 0x73, 0xf8, 0x03},
      {0x66, 0x0f, 0x73, 0xd8, 0x05},
      {0x66, 0x0f, 0x73, 0xf0, 0x07},
      {0x66, 0x0f, 0x73, 0xd0, 0x09},
      {0x66, 0x0f, 0x72, 0xf0, 0x03},
      {0x66, 0x0f, 0x71, 0xd0, 0x02},
      {0x0f, 0x57, 0xc1},
      {0x0f, 0x28, 0xc1},
      {0xf3, 0x0f, 0x6f, 0xc1},
  };
  std::mt19937_64 rng(7);
  int cases = 0;
  for (const auto& op : ops) {
    for (int i = 0; i < 40; ++i) {
      MachineState st;
      st.gpr[0] = rng();
      st.gpr[3] = i % 3 == 0 ? st.gpr[0] : rng();
      st.gpr[1] = i % 5 == 0 ? 0 : rng() & 0x8080808080808080ull;
      ++cases;
      ASSERT_EQ(d.compare(sse_case(op), st, 0), "") << "opcode byte " << std::hex << int(op[2]);
    }
  }
  RecordProperty("cases", cases);
}

TEST(TcgDifferentialSse, ScalarDoubleArithmeticAndConversions) {
  Differential d;
  ASSERT_TRUE(d.ok());
  const double values[] = {0.0, 1.0, -2.5, 3.75e10, -1e-300, 1e300, 0.1};
  // cvtsi2sd xmm0, rax; cvtsi2sd xmm1, rbx; <op> xmm0, xmm1; cvttsd2si rcx, xmm0; ucomisd; movq
  // rax, xmm0.
  const std::vector<std::vector<uint8_t>> ops = {{0xf2, 0x0f, 0x58, 0xc1},
                                                 {0xf2, 0x0f, 0x5c, 0xc1},
                                                 {0xf2, 0x0f, 0x59, 0xc1},
                                                 {0xf2, 0x0f, 0x5e, 0xc1}};
  for (const auto& op : ops) {
    for (double a : values) {
      for (double b : values) {
        MachineState st;
        std::memcpy(&st.gpr[0], &a, 8);
        std::memcpy(&st.gpr[3], &b, 8);
        std::vector<uint8_t> code = {0x66, 0x48, 0x0f, 0x6e, 0xc0, 0x66, 0x48, 0x0f, 0x6e, 0xcb};
        for (uint8_t x : op) code.push_back(x);
        std::vector<uint8_t> tail = {0xf2, 0x48, 0x0f, 0x2c, 0xc8,   // cvttsd2si rcx, xmm0
                                     0x66, 0x0f, 0x2e, 0xc1,         // ucomisd xmm0, xmm1
                                     0x66, 0x48, 0x0f, 0x7e, 0xc0,   // movq rax, xmm0
                                     0xf2, 0x48, 0x0f, 0x2a, 0xd3};  // cvtsi2sd xmm2, rbx
        for (uint8_t x : tail) code.push_back(x);
        ASSERT_EQ(d.compare(code, st, kFlagZf | kFlagPf | kFlagCf), "") << a << " op " << b;
      }
    }
  }
}

}  // namespace
}  // namespace corvid::tcg::testing
