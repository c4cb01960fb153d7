#include "tcg/atomic.h"

#include "tcg/flags.h"
#include "tcg/interp.h"
#include "tcg/softmmu_inline.h"

namespace corvid::tcg {
namespace {

template <unsigned N>
struct Uint;
template <>
struct Uint<1> {
  using T = uint8_t;
};
template <>
struct Uint<2> {
  using T = uint16_t;
};
template <>
struct Uint<4> {
  using T = uint32_t;
};
template <>
struct Uint<8> {
  using T = uint64_t;
};

inline uint64_t& R(Cpu& cpu, uint32_t off) {
  return *reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(&cpu.s_) + off);
}

template <unsigned N>
const Op* h_load_locked(Cpu& cpu, const Op* op) {
  using T = typename Uint<N>::T;
  CpuState& s = cpu.s_;
  cpu.ll_flags_ = {s.cc_op, s.cc_dst, s.cc_src, s.cc_src2, s.rflags};
  uint64_t va = R(cpu, op->a);
  // A locked access is a write: it faults as one before anything happens.
  uint8_t* h = cpu.host_for_write(va, N, op);
  uint64_t v = h ? __atomic_load_n(reinterpret_cast<T*>(h), __ATOMIC_SEQ_CST) : cpu.load<N>(va, op);
  cpu.ll_value_ = v;
  R(cpu, op->d) = v;
  return op + 1;
}

template <unsigned N>
const Op* h_store_locked(Cpu& cpu, const Op* op) {
  using T = typename Uint<N>::T;
  uint64_t va = R(cpu, op->a);
  uint64_t v = R(cpu, op->b);
  uint8_t* h = cpu.host_for_write(va, N, op);
  if (!h) {
    cpu.store<N>(va, v, op);
    if (__builtin_expect(cpu.smc_hit_, 0)) return smc_redirect(cpu, op);
    return op + 1;
  }
  T expected = static_cast<T>(cpu.ll_value_);
  if (__atomic_compare_exchange_n(reinterpret_cast<T*>(h), &expected, static_cast<T>(v), false,
                                  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    return op + 1;
  }
  // Another vCPU changed the operand since the load: undo the flags and run the instruction again.
  CpuState& s = cpu.s_;
  s.cc_op = static_cast<uint32_t>(cpu.ll_flags_[0]);
  s.cc_dst = cpu.ll_flags_[1];
  s.cc_src = cpu.ll_flags_[2];
  s.cc_src2 = cpu.ll_flags_[3];
  s.rflags = cpu.ll_flags_[4];
  s.rip = cpu.rip_of(op);
  return nullptr;
}

template <typename T>
uint64_t cas(uint8_t* h, uint64_t expected, uint64_t desired) {
  T e = static_cast<T>(expected);
  __atomic_compare_exchange_n(reinterpret_cast<T*>(h), &e, static_cast<T>(desired), false,
                              __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return e;
}

template <typename T>
uint64_t fetch_bit_op(uint8_t* h, unsigned which, uint64_t mask) {
  T* p = reinterpret_cast<T*>(h);
  T m = static_cast<T>(mask);
  if (which == 1) return __atomic_fetch_or(p, m, __ATOMIC_SEQ_CST);
  if (which == 2) return __atomic_fetch_and(p, static_cast<T>(~m), __ATOMIC_SEQ_CST);
  return __atomic_fetch_xor(p, m, __ATOMIC_SEQ_CST);
}

}  // namespace

Handler locked_load_handler(unsigned size) {
  switch (size) {
    case 1:
      return h_load_locked<1>;
    case 2:
      return h_load_locked<2>;
    case 4:
      return h_load_locked<4>;
    default:
      return h_load_locked<8>;
  }
}

Handler locked_store_handler(unsigned size) {
  switch (size) {
    case 1:
      return h_store_locked<1>;
    case 2:
      return h_store_locked<2>;
    case 4:
      return h_store_locked<4>;
    default:
      return h_store_locked<8>;
  }
}

uint64_t atomic_cmpxchg(Cpu& cpu, uint64_t va, unsigned size, uint64_t expected, uint64_t desired,
                        const Op* op) {
  uint64_t m = size_mask(size);
  expected &= m;
  desired &= m;
  if (uint8_t* h = cpu.host_for_write(va, size, op)) {
    switch (size) {
      case 1:
        return cas<uint8_t>(h, expected, desired);
      case 2:
        return cas<uint16_t>(h, expected, desired);
      case 4:
        return cas<uint32_t>(h, expected, desired);
      default:
        return cas<uint64_t>(h, expected, desired);
    }
  }
  // The processor always writes (the old value when the comparison fails): SDM "CMPXCHG".
  uint64_t old = load_sized(cpu, va, size, op);
  store_sized(cpu, va, size, old == expected ? desired : old, op);
  return old;
}

bool atomic_cmpxchg_double(Cpu& cpu, uint64_t va, unsigned half, uint64_t* lo, uint64_t* hi,
                           uint64_t new_lo, uint64_t new_hi, const Op* op) {
  if (uint8_t* h = cpu.host_for_write(va, half * 2, op)) {
    if (half == 4) {
      uint64_t expected = (*lo & 0xffffffffull) | (*hi << 32);
      uint64_t old = cas<uint64_t>(h, expected, (new_lo & 0xffffffffull) | (new_hi << 32));
      *lo = old & 0xffffffffull;
      *hi = old >> 32;
      return old == expected;
    }
    // 16-byte aligned (the caller raised #GP otherwise), so the host address is too.
    bool ok;
    __asm__ volatile("lock cmpxchg16b %1"
                     : "=@ccz"(ok), "+m"(*reinterpret_cast<unsigned __int128*>(h)), "+a"(*lo),
                       "+d"(*hi)
                     : "b"(new_lo), "c"(new_hi)
                     : "memory");
    return ok;
  }
  uint64_t m = size_mask(half);
  uint64_t old_lo = load_sized(cpu, va, half, op), old_hi = load_sized(cpu, va + half, half, op);
  bool equal = old_lo == (*lo & m) && old_hi == (*hi & m);
  // Store the high half first so a fault leaves memory untouched (the low half was probed).
  cpu.translate(va, Cpu::Access::kWrite, false, op);
  store_sized(cpu, va + half, half, equal ? new_hi : old_hi, op);
  store_sized(cpu, va, half, equal ? new_lo : old_lo, op);
  *lo = old_lo;
  *hi = old_hi;
  return equal;
}

uint64_t atomic_bit_op(Cpu& cpu, uint64_t va, unsigned size, unsigned which, uint64_t mask,
                       const Op* op) {
  if (uint8_t* h = cpu.host_for_write(va, size, op)) {
    switch (size) {
      case 1:
        return fetch_bit_op<uint8_t>(h, which, mask);
      case 2:
        return fetch_bit_op<uint16_t>(h, which, mask);
      case 4:
        return fetch_bit_op<uint32_t>(h, which, mask);
      default:
        return fetch_bit_op<uint64_t>(h, which, mask);
    }
  }
  uint64_t old = load_sized(cpu, va, size, op);
  uint64_t nv = which == 1 ? old | mask : which == 2 ? old & ~mask : old ^ mask;
  store_sized(cpu, va, size, nv, op);
  return old;
}

}  // namespace corvid::tcg
