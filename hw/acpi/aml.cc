#include "hw/acpi/aml.h"

#include <string>

namespace corvid::hw::acpi::aml {
namespace {

// Opcodes (ACPI 6.5, 20.3 "AML Byte Stream Byte Values").
constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kOnesOp = 0xff;
constexpr uint8_t kBytePrefix = 0x0a, kWordPrefix = 0x0b, kDWordPrefix = 0x0c, kQWordPrefix = 0x0e;
constexpr uint8_t kStringPrefix = 0x0d;
constexpr uint8_t kNameOp = 0x08, kScopeOp = 0x10, kBufferOp = 0x11, kPackageOp = 0x12;
constexpr uint8_t kVarPackageOp = 0x13, kMethodOp = 0x14;
constexpr uint8_t kExtOpPrefix = 0x5b, kOpRegionOp = 0x80, kFieldOp = 0x81, kDeviceOp = 0x82;
constexpr uint8_t kLocal0Op = 0x60, kArg0Op = 0x68, kStoreOp = 0x70, kAndOp = 0x7b;
constexpr uint8_t kNotifyOp = 0x86, kLEqualOp = 0x93, kIfOp = 0xa0, kReturnOp = 0xa4;
constexpr uint8_t kRootChar = 0x5c, kParentPrefix = 0x5e;
constexpr uint8_t kDualNamePrefix = 0x2e, kMultiNamePrefix = 0x2f;

void append(Bytes& out, const Bytes& b) {
  out.insert(out.end(), b.begin(), b.end());
}
void le(Bytes& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// The PkgLength encoding (20.2.4) of `value` as is: one byte below 64, else 2-4 bytes with the
// low nibble in the lead byte.
void encode_length_value(Bytes& out, size_t value) {
  if (value < 0x40) {
    out.push_back(static_cast<uint8_t>(value));
    return;
  }
  int extra = value < (1u << 12) ? 1 : value < (1u << 20) ? 2 : 3;
  out.push_back(static_cast<uint8_t>((extra << 6) | (value & 0xf)));
  for (int i = 0; i < extra; ++i) out.push_back(static_cast<uint8_t>(value >> (4 + 8 * i)));
}

// A PkgLength that counts itself and the `body` that follows it.
void encode_pkg_length(Bytes& out, size_t body) {
  if (body + 1 < 0x40) return encode_length_value(out, body + 1);
  for (size_t n = 2; n <= 4; ++n) {
    if (body + n < (size_t{1} << (4 + 8 * (n - 1)))) return encode_length_value(out, body + n);
  }
  encode_length_value(out, body + 4);  // beyond 256 MiB: never produced by corvid
}

// Op [ExtOp] PkgLength contents.
Bytes with_pkg(std::initializer_list<uint8_t> op, const Bytes& contents) {
  Bytes out(op);
  encode_pkg_length(out, contents.size());
  append(out, contents);
  return out;
}

void name_seg(Bytes& out, std::string_view seg) {
  for (size_t i = 0; i < 4; ++i) {
    char c = i < seg.size() ? seg[i] : '_';
    bool ok = (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    out.push_back(static_cast<uint8_t>(ok ? c : '_'));
  }
}

}  // namespace

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) append(out, p);
  return out;
}

Bytes integer(uint64_t v) {
  if (v == 0) return {kZeroOp};
  if (v == 1) return {kOneOp};
  if (v == ~uint64_t{0}) return {kOnesOp};
  Bytes out;
  if (v <= 0xff) {
    out.push_back(kBytePrefix), le(out, v, 1);
  } else if (v <= 0xffff) {
    out.push_back(kWordPrefix), le(out, v, 2);
  } else if (v <= 0xffffffff) {
    out.push_back(kDWordPrefix), le(out, v, 4);
  } else {
    out.push_back(kQWordPrefix), le(out, v, 8);
  }
  return out;
}

Bytes dword(uint32_t v) {
  Bytes out{kDWordPrefix};
  le(out, v, 4);
  return out;
}

Bytes string(std::string_view s) {
  Bytes out{kStringPrefix};
  for (char c : s) out.push_back(static_cast<uint8_t>(c >= 0x01 ? c : '?'));  // ASCII only
  out.push_back(0);
  return out;
}

Bytes eisa_id(std::string_view id) {
  auto letter = [&](size_t i) -> uint32_t { return i < id.size() ? (id[i] - 0x40) & 0x1f : 0; };
  auto hex = [&](size_t i) -> uint32_t {
    char c = i < id.size() ? id[i] : '0';
    if (c >= '0' && c <= '9') return static_cast<uint32_t>(c - '0');
    if (c >= 'A' && c <= 'F') return static_cast<uint32_t>(c - 'A' + 10);
    return 0;
  };
  uint32_t v = letter(0) << 26 | letter(1) << 21 | letter(2) << 16 | hex(3) << 12 | hex(4) << 8 |
               hex(5) << 4 | hex(6);
  // Stored most significant byte first (6.1.5: "compressed EISA type ID").
  return dword(__builtin_bswap32(v));
}

Bytes package(const std::vector<Bytes>& elements) {
  Bytes contents;
  if (elements.size() <= 0xff) {
    contents.push_back(static_cast<uint8_t>(elements.size()));
    for (const auto& e : elements) append(contents, e);
    return with_pkg({kPackageOp}, contents);
  }
  append(contents, integer(elements.size()));
  for (const auto& e : elements) append(contents, e);
  return with_pkg({kVarPackageOp}, contents);
}

Bytes buffer(const Bytes& data) {
  Bytes contents = integer(data.size());
  append(contents, data);
  return with_pkg({kBufferOp}, contents);
}

Bytes name_string(std::string_view path) {
  Bytes out;
  size_t i = 0;
  if (i < path.size() && path[i] == '\\') {
    out.push_back(kRootChar);
    ++i;
  }
  while (i < path.size() && path[i] == '^') {
    out.push_back(kParentPrefix);
    ++i;
  }
  std::vector<std::string_view> segs;
  std::string_view rest = path.substr(i);
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    segs.push_back(rest.substr(0, dot));
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  }
  if (segs.empty()) {
    out.push_back(0);  // NullName
  } else if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (auto s : segs) name_seg(out, s);
  return out;
}

Bytes name(std::string_view n, const Bytes& value) {
  Bytes out{kNameOp};
  append(out, name_string(n));
  append(out, value);
  return out;
}

Bytes scope(std::string_view path, const Bytes& body) {
  return with_pkg({kScopeOp}, concat({name_string(path), body}));
}

Bytes device(std::string_view n, const Bytes& body) {
  return with_pkg({kExtOpPrefix, kDeviceOp}, concat({name_string(n), body}));
}

Bytes method(std::string_view n, unsigned args, bool serialized, const Bytes& body) {
  uint8_t flags = static_cast<uint8_t>((args & 7) | (serialized ? 0x08 : 0));
  return with_pkg({kMethodOp}, concat({name_string(n), Bytes{flags}, body}));
}

Bytes operation_region(std::string_view n, RegionSpace space, uint64_t offset, uint64_t length) {
  Bytes out{kExtOpPrefix, kOpRegionOp};
  append(out, name_string(n));
  out.push_back(static_cast<uint8_t>(space));
  append(out, integer(offset));
  append(out, integer(length));
  return out;
}

Bytes field_dword(std::string_view region, const std::vector<FieldUnit>& units) {
  // FieldFlags (20.2.5.2): AccessType DWordAcc = 3, LockRule NoLock = 0, UpdateRule
  // WriteAsZeros = 2 (bits 6:5).
  Bytes contents = name_string(region);
  contents.push_back(0x03 | (2 << 5));
  for (const auto& u : units) {
    if (u.name.empty()) {
      contents.push_back(0x00);  // ReservedField
    } else {
      name_seg(contents, u.name);
    }
    encode_length_value(contents, u.bits);
  }
  return with_pkg({kExtOpPrefix, kFieldOp}, contents);
}

Bytes local(unsigned n) {
  return {static_cast<uint8_t>(kLocal0Op + (n & 7))};
}
Bytes arg(unsigned n) {
  return {static_cast<uint8_t>(kArg0Op + (n < 7 ? n : 6))};
}

Bytes store(const Bytes& source, const Bytes& target) {
  return concat({Bytes{kStoreOp}, source, target});
}
Bytes and_(const Bytes& a, const Bytes& b) {
  return concat({Bytes{kAndOp}, a, b, Bytes{0x00}});
}
Bytes lequal(const Bytes& a, const Bytes& b) {
  return concat({Bytes{kLEqualOp}, a, b});
}
Bytes if_(const Bytes& predicate, const Bytes& body) {
  return with_pkg({kIfOp}, concat({predicate, body}));
}
Bytes notify(std::string_view object, const Bytes& value) {
  return concat({Bytes{kNotifyOp}, name_string(object), value});
}
Bytes return_(const Bytes& value) {
  return concat({Bytes{kReturnOp}, value});
}

// Resource descriptors (6.4.2 small, 6.4.3 large).
ResourceTemplate& ResourceTemplate::io(uint16_t base, uint8_t length) {
  bytes_.push_back(0x47);  // I/O port descriptor, 7 bytes
  bytes_.push_back(0x01);  // 16-bit decode
  le(bytes_, base, 2), le(bytes_, base, 2);
  bytes_.push_back(0x01);  // alignment
  bytes_.push_back(length);
  return *this;
}

ResourceTemplate& ResourceTemplate::irq_no_flags(uint8_t irq) {
  bytes_.push_back(0x22);  // IRQ descriptor, 2 bytes: edge, active high
  le(bytes_, irq < 16 ? 1u << irq : 0, 2);
  return *this;
}

ResourceTemplate& ResourceTemplate::memory32_fixed(uint32_t base, uint32_t length) {
  bytes_.push_back(0x86), le(bytes_, 9, 2);
  bytes_.push_back(0x01);  // read/write
  le(bytes_, base, 4), le(bytes_, length, 4);
  return *this;
}

ResourceTemplate& ResourceTemplate::interrupt(uint32_t gsi, bool level, bool active_low,
                                              bool shared) {
  bytes_.push_back(0x89), le(bytes_, 6, 2);
  // Flags: consumer (bit 0), edge (bit 1), active low (bit 2), shared (bit 3).
  bytes_.push_back(static_cast<uint8_t>(0x01 | (level ? 0 : 0x02) | (active_low ? 0x04 : 0) |
                                        (shared ? 0x08 : 0)));
  bytes_.push_back(1);
  le(bytes_, gsi, 4);
  return *this;
}

namespace {
// General flags of the address space descriptors a bridge produces: producer (bit 0 clear),
// positive decode, minimum and maximum fixed (bits 2, 3).
constexpr uint8_t kWindowFlags = 0x0c;
}  // namespace

ResourceTemplate& ResourceTemplate::bus_numbers(uint16_t first, uint16_t last) {
  bytes_.push_back(0x88), le(bytes_, 13, 2);
  bytes_.push_back(2), bytes_.push_back(kWindowFlags), bytes_.push_back(0);
  le(bytes_, 0, 2), le(bytes_, first, 2), le(bytes_, last, 2), le(bytes_, 0, 2);
  le(bytes_, static_cast<uint16_t>(last - first + 1), 2);
  return *this;
}

ResourceTemplate& ResourceTemplate::io_window(uint16_t first, uint16_t last) {
  bytes_.push_back(0x88), le(bytes_, 13, 2);
  bytes_.push_back(1), bytes_.push_back(kWindowFlags), bytes_.push_back(0x03);  // entire range
  le(bytes_, 0, 2), le(bytes_, first, 2), le(bytes_, last, 2), le(bytes_, 0, 2);
  le(bytes_, static_cast<uint16_t>(last - first + 1), 2);
  return *this;
}

ResourceTemplate& ResourceTemplate::memory32_window(uint32_t first, uint32_t last) {
  bytes_.push_back(0x87), le(bytes_, 23, 2);
  bytes_.push_back(0), bytes_.push_back(kWindowFlags), bytes_.push_back(0x01);  // RW, uncached
  le(bytes_, 0, 4), le(bytes_, first, 4), le(bytes_, last, 4), le(bytes_, 0, 4);
  le(bytes_, last - first + 1, 4);
  return *this;
}

ResourceTemplate& ResourceTemplate::memory64_window(uint64_t first, uint64_t last) {
  bytes_.push_back(0x8a), le(bytes_, 43, 2);
  bytes_.push_back(0), bytes_.push_back(kWindowFlags), bytes_.push_back(0x01);
  le(bytes_, 0, 8), le(bytes_, first, 8), le(bytes_, last, 8), le(bytes_, 0, 8);
  le(bytes_, last - first + 1, 8);
  return *this;
}

Bytes ResourceTemplate::build() const {
  Bytes data = bytes_;
  data.push_back(0x79);  // End Tag; a zero checksum means "valid" (6.4.2.9)
  data.push_back(0x00);
  return buffer(data);
}

}  // namespace corvid::hw::acpi::aml
