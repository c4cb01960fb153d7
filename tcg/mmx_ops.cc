// The MMX integer operations as pure functions of 64-bit values (SDM Vol. 2 instruction pages;
// the SSSE3 ones for their 64-bit forms).
#include <cstring>
#include <type_traits>

#include "tcg/mmx.h"

namespace corvid::tcg {
namespace {

template <typename T>
T lane(uint64_t v, unsigned i) {
  T x;
  std::memcpy(&x, reinterpret_cast<const uint8_t*>(&v) + i * sizeof(T), sizeof(T));
  return x;
}
template <typename T>
void set_lane(uint64_t& v, unsigned i, T x) {
  std::memcpy(reinterpret_cast<uint8_t*>(&v) + i * sizeof(T), &x, sizeof(T));
}

template <typename T, typename F>
uint64_t each(uint64_t a, uint64_t b, F f) {
  uint64_t r = 0;
  for (unsigned i = 0; i < 8 / sizeof(T); ++i) set_lane<T>(r, i, f(lane<T>(a, i), lane<T>(b, i)));
  return r;
}

template <typename T>
T sat(int64_t v) {
  constexpr int64_t lo = static_cast<T>(T(0) - 1) < 0 ? -(int64_t{1} << (8 * sizeof(T) - 1)) : 0;
  constexpr int64_t hi = static_cast<T>(T(0) - 1) < 0 ? (int64_t{1} << (8 * sizeof(T) - 1)) - 1
                                                      : (int64_t{1} << (8 * sizeof(T))) - 1;
  return static_cast<T>(v < lo ? lo : v > hi ? hi : v);
}

template <typename T>
uint64_t cmp_eq(uint64_t a, uint64_t b) {
  return each<T>(a, b, [](T x, T y) { return static_cast<T>(x == y ? ~T(0) : 0); });
}
template <typename S>
uint64_t cmp_gt(uint64_t a, uint64_t b) {
  return each<S>(a, b, [](S x, S y) { return static_cast<S>(x > y ? -1 : 0); });
}

// Shift counts come from the whole 64-bit source; counts past the lane width clear the lane
// (arithmetic: fill with the sign).
template <typename T>
uint64_t shift(uint64_t a, uint64_t count, int kind) {
  constexpr unsigned bits = 8 * sizeof(T);
  uint64_t r = 0;
  for (unsigned i = 0; i < 8 / sizeof(T); ++i) {
    T x = lane<T>(a, i), y;
    if (kind == 0)
      y = count >= bits ? 0 : static_cast<T>(x << count);
    else if (kind == 1)
      y = count >= bits ? 0 : static_cast<T>(x >> count);
    else
      y = static_cast<T>(static_cast<std::make_signed_t<T>>(x) >>
                         (count >= bits ? bits - 1 : count));
    set_lane<T>(r, i, y);
  }
  return r;
}

template <typename T>
uint64_t horizontal(uint64_t a, uint64_t b, int kind) {
  // (a0 op a1, a2 op a3, ..., b0 op b1, ...): kind 0 add, 1 subtract, 2 add saturating, 3 sub sat.
  constexpr unsigned n = 8 / sizeof(T);
  uint64_t r = 0;
  for (unsigned i = 0; i < n; ++i) {
    uint64_t src = i < n / 2 ? a : b;
    unsigned j = (i % (n / 2)) * 2;
    int64_t x = lane<T>(src, j), y = lane<T>(src, j + 1);
    int64_t v = (kind & 1) ? x - y : x + y;
    set_lane<T>(r, i, (kind & 2) ? sat<T>(v) : static_cast<T>(v));
  }
  return r;
}

// Two's-complement negation that wraps (psign/pabs of the most negative lane give it back), done
// in the unsigned type: negating INT_MIN in int is undefined behaviour.
template <typename S>
S wrap_negate(S x) {
  using U = std::make_unsigned_t<S>;
  return static_cast<S>(static_cast<U>(U{0} - static_cast<U>(x)));
}
template <typename S>
uint64_t sign(uint64_t a, uint64_t b) {
  return each<S>(a, b, [](S x, S y) {
    return static_cast<S>(y < 0 ? wrap_negate(x) : y == 0 ? 0 : x);
  });
}
template <typename S>
uint64_t absolute(uint64_t b) {
  return each<S>(b, b, [](S x, S) { return static_cast<S>(x < 0 ? wrap_negate(x) : x); });
}

}  // namespace

uint64_t mmx_compute(MmxOp op, uint64_t a, uint64_t b, uint8_t imm) {
  using u8 = uint8_t;
  using s8 = int8_t;
  using u16 = uint16_t;
  using s16 = int16_t;
  using u32 = uint32_t;
  using s32 = int32_t;
  switch (op) {
    case kMmMov:
      return b;
    case kMmPaddb:
      return each<u8>(a, b, [](u8 x, u8 y) { return static_cast<u8>(x + y); });
    case kMmPaddw:
      return each<u16>(a, b, [](u16 x, u16 y) { return static_cast<u16>(x + y); });
    case kMmPaddd:
      return each<u32>(a, b, [](u32 x, u32 y) { return x + y; });
    case kMmPaddq:
      return a + b;
    case kMmPaddsb:
      return each<s8>(a, b, [](s8 x, s8 y) { return sat<s8>(x + y); });
    case kMmPaddsw:
      return each<s16>(a, b, [](s16 x, s16 y) { return sat<s16>(x + y); });
    case kMmPaddusb:
      return each<u8>(a, b, [](u8 x, u8 y) { return sat<u8>(x + y); });
    case kMmPaddusw:
      return each<u16>(a, b, [](u16 x, u16 y) { return sat<u16>(x + y); });
    case kMmPsubb:
      return each<u8>(a, b, [](u8 x, u8 y) { return static_cast<u8>(x - y); });
    case kMmPsubw:
      return each<u16>(a, b, [](u16 x, u16 y) { return static_cast<u16>(x - y); });
    case kMmPsubd:
      return each<u32>(a, b, [](u32 x, u32 y) { return x - y; });
    case kMmPsubq:
      return a - b;
    case kMmPsubsb:
      return each<s8>(a, b, [](s8 x, s8 y) { return sat<s8>(x - y); });
    case kMmPsubsw:
      return each<s16>(a, b, [](s16 x, s16 y) { return sat<s16>(x - y); });
    case kMmPsubusb:
      return each<u8>(a, b, [](u8 x, u8 y) { return sat<u8>(int64_t{x} - y); });
    case kMmPsubusw:
      return each<u16>(a, b, [](u16 x, u16 y) { return sat<u16>(int64_t{x} - y); });
    case kMmPmullw:
      return each<s16>(a, b, [](s16 x, s16 y) { return static_cast<s16>(int32_t{x} * y); });
    case kMmPmulhw:
      return each<s16>(a, b, [](s16 x, s16 y) { return static_cast<s16>((int32_t{x} * y) >> 16); });
    case kMmPmulhuw:
      return each<u16>(a, b,
                       [](u16 x, u16 y) { return static_cast<u16>((uint32_t{x} * y) >> 16); });
    case kMmPmulhrsw:
      return each<s16>(
          a, b, [](s16 x, s16 y) { return static_cast<s16>((((int32_t{x} * y) >> 14) + 1) >> 1); });
    case kMmPmuludq:
      return uint64_t{static_cast<u32>(a)} * static_cast<u32>(b);
    case kMmPmaddwd: {
      uint64_t r = 0;
      for (unsigned i = 0; i < 2; ++i) {
        int64_t v = int64_t{lane<s16>(a, 2 * i)} * lane<s16>(b, 2 * i) +
                    int64_t{lane<s16>(a, 2 * i + 1)} * lane<s16>(b, 2 * i + 1);
        set_lane<u32>(r, i, static_cast<u32>(v));
      }
      return r;
    }
    case kMmPmaddubsw: {
      uint64_t r = 0;
      for (unsigned i = 0; i < 4; ++i) {
        int64_t v = int64_t{lane<u8>(a, 2 * i)} * lane<s8>(b, 2 * i) +
                    int64_t{lane<u8>(a, 2 * i + 1)} * lane<s8>(b, 2 * i + 1);
        set_lane<s16>(r, i, sat<s16>(v));
      }
      return r;
    }
    case kMmPcmpeqb:
      return cmp_eq<u8>(a, b);
    case kMmPcmpeqw:
      return cmp_eq<u16>(a, b);
    case kMmPcmpeqd:
      return cmp_eq<u32>(a, b);
    case kMmPcmpgtb:
      return cmp_gt<s8>(a, b);
    case kMmPcmpgtw:
      return cmp_gt<s16>(a, b);
    case kMmPcmpgtd:
      return cmp_gt<s32>(a, b);
    case kMmPacksswb:
    case kMmPackuswb: {
      uint64_t r = 0;
      for (unsigned i = 0; i < 8; ++i) {
        s16 v = lane<s16>(i < 4 ? a : b, i % 4);
        set_lane<u8>(r, i, op == kMmPacksswb ? static_cast<u8>(sat<s8>(v)) : sat<u8>(v));
      }
      return r;
    }
    case kMmPackssdw: {
      uint64_t r = 0;
      for (unsigned i = 0; i < 4; ++i)
        set_lane<s16>(r, i, sat<s16>(lane<s32>(i < 2 ? a : b, i % 2)));
      return r;
    }
    case kMmPunpcklbw:
    case kMmPunpckhbw: {
      unsigned base = op == kMmPunpckhbw ? 4 : 0;
      uint64_t r = 0;
      for (unsigned i = 0; i < 4; ++i) {
        set_lane<u8>(r, 2 * i, lane<u8>(a, base + i));
        set_lane<u8>(r, 2 * i + 1, lane<u8>(b, base + i));
      }
      return r;
    }
    case kMmPunpcklwd:
    case kMmPunpckhwd: {
      unsigned base = op == kMmPunpckhwd ? 2 : 0;
      uint64_t r = 0;
      for (unsigned i = 0; i < 2; ++i) {
        set_lane<u16>(r, 2 * i, lane<u16>(a, base + i));
        set_lane<u16>(r, 2 * i + 1, lane<u16>(b, base + i));
      }
      return r;
    }
    case kMmPunpckldq:
      return (a & 0xffffffffull) | (b << 32);
    case kMmPunpckhdq:
      return (a >> 32) | (b & 0xffffffff00000000ull);
    case kMmPand:
      return a & b;
    case kMmPandn:
      return ~a & b;
    case kMmPor:
      return a | b;
    case kMmPxor:
      return a ^ b;
    case kMmPsllw:
      return shift<u16>(a, b, 0);
    case kMmPslld:
      return shift<u32>(a, b, 0);
    case kMmPsllq:
      return b >= 64 ? 0 : a << b;
    case kMmPsrlw:
      return shift<u16>(a, b, 1);
    case kMmPsrld:
      return shift<u32>(a, b, 1);
    case kMmPsrlq:
      return b >= 64 ? 0 : a >> b;
    case kMmPsraw:
      return shift<u16>(a, b, 2);
    case kMmPsrad:
      return shift<u32>(a, b, 2);
    case kMmPshufw: {
      uint64_t r = 0;
      for (unsigned i = 0; i < 4; ++i) set_lane<u16>(r, i, lane<u16>(b, (imm >> (2 * i)) & 3));
      return r;
    }
    case kMmPminub:
      return each<u8>(a, b, [](u8 x, u8 y) { return x < y ? x : y; });
    case kMmPmaxub:
      return each<u8>(a, b, [](u8 x, u8 y) { return x > y ? x : y; });
    case kMmPminsw:
      return each<s16>(a, b, [](s16 x, s16 y) { return x < y ? x : y; });
    case kMmPmaxsw:
      return each<s16>(a, b, [](s16 x, s16 y) { return x > y ? x : y; });
    case kMmPavgb:
      return each<u8>(a, b, [](u8 x, u8 y) { return static_cast<u8>((unsigned{x} + y + 1) >> 1); });
    case kMmPavgw:
      return each<u16>(a, b,
                       [](u16 x, u16 y) { return static_cast<u16>((unsigned{x} + y + 1) >> 1); });
    case kMmPsadbw: {
      uint64_t sum = 0;
      for (unsigned i = 0; i < 8; ++i) {
        int d = int{lane<u8>(a, i)} - int{lane<u8>(b, i)};
        sum += static_cast<uint64_t>(d < 0 ? -d : d);
      }
      return sum;
    }
    case kMmPshufb: {
      uint64_t r = 0;
      for (unsigned i = 0; i < 8; ++i) {
        u8 c = lane<u8>(b, i);
        set_lane<u8>(r, i, (c & 0x80) ? 0 : lane<u8>(a, c & 7));
      }
      return r;
    }
    case kMmPhaddw:
      return horizontal<u16>(a, b, 0);
    case kMmPhaddd:
      return horizontal<u32>(a, b, 0);
    case kMmPhaddsw:
      return horizontal<s16>(a, b, 2);
    case kMmPhsubw:
      return horizontal<u16>(a, b, 1);
    case kMmPhsubd:
      return horizontal<u32>(a, b, 1);
    case kMmPhsubsw:
      return horizontal<s16>(a, b, 3);
    case kMmPsignb:
      return sign<s8>(a, b);
    case kMmPsignw:
      return sign<s16>(a, b);
    case kMmPsignd:
      return sign<s32>(a, b);
    case kMmPabsb:
      return absolute<s8>(b);
    case kMmPabsw:
      return absolute<s16>(b);
    case kMmPabsd:
      return absolute<s32>(b);
    case kMmPalignr: {
      // (a:b) >> (imm * 8), 128-bit concatenation with a high.
      unsigned __int128 v = (static_cast<unsigned __int128>(a) << 64) | b;
      return imm >= 16 ? 0 : static_cast<uint64_t>(v >> (imm * 8));
    }
  }
  return 0;
}

}  // namespace corvid::tcg
