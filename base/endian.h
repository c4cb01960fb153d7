// The one set of byte-order helpers: big-endian for on-disk formats (qcow2), little-endian for
// guest-visible structures. All take unaligned pointers.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace corvid {

template <typename T>
inline T load_raw(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
inline void store_raw(void* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

static_assert(std::endian::native == std::endian::little, "corvid runs on little-endian hosts");

inline uint16_t load_le16(const void* p) { return load_raw<uint16_t>(p); }
inline uint32_t load_le32(const void* p) { return load_raw<uint32_t>(p); }
inline uint64_t load_le64(const void* p) { return load_raw<uint64_t>(p); }
inline void store_le16(void* p, uint16_t v) { store_raw(p, v); }
inline void store_le32(void* p, uint32_t v) { store_raw(p, v); }
inline void store_le64(void* p, uint64_t v) { store_raw(p, v); }

inline uint16_t load_be16(const void* p) { return __builtin_bswap16(load_raw<uint16_t>(p)); }
inline uint32_t load_be32(const void* p) { return __builtin_bswap32(load_raw<uint32_t>(p)); }
inline uint64_t load_be64(const void* p) { return __builtin_bswap64(load_raw<uint64_t>(p)); }
inline void store_be16(void* p, uint16_t v) { store_raw(p, __builtin_bswap16(v)); }
inline void store_be32(void* p, uint32_t v) { store_raw(p, __builtin_bswap32(v)); }
inline void store_be64(void* p, uint64_t v) { store_raw(p, __builtin_bswap64(v)); }

}  // namespace corvid
