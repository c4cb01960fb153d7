// qcow2 header parsing and serialization (spec "Header", "Header extensions"; QEMU 7.2's
// qcow2_do_open checks and qcow2_update_header layout, see docs/block.md).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "block/qcow2_format.h"

namespace corvid::block::qcow2 {
namespace {

struct FeatureName {
  uint8_t type, bit;
  const char* name;
};
constexpr FeatureName kFeatureNames[] = {
    {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},          {2, 1, "raw external data"},
};

void put_extension(std::vector<uint8_t>& out, uint32_t magic, const uint8_t* data, size_t len) {
  size_t at = out.size();
  out.resize(at + 8 + ((len + 7) & ~size_t{7}), 0);
  store_be32(&out[at], magic);
  store_be32(&out[at + 4], static_cast<uint32_t>(len));
  if (len) std::memcpy(&out[at + 8], data, len);
}

std::string unsupported_features(uint64_t mask, const uint8_t* table, size_t table_len) {
  std::string text;
  // Entries are 48 bytes (type, bit, 46-byte name); like QEMU, a short last entry is padded
  // with zeros and the walk stops at the first entry with an empty name.
  for (size_t i = 0; table && i + 2 < table_len; i += 48) {
    uint8_t entry[48] = {};
    std::memcpy(entry, table + i, std::min<size_t>(48, table_len - i));
    if (entry[2] == 0) break;
    if (entry[0] != 0 || entry[1] >= 64) continue;
    uint64_t bit = 1ull << entry[1];
    if (!(mask & bit)) continue;
    mask &= ~bit;
    if (!text.empty()) text += ", ";
    text.append(reinterpret_cast<const char*>(&entry[2]),
                strnlen(reinterpret_cast<const char*>(&entry[2]), 46));
  }
  if (mask) {
    if (!text.empty()) text += ", ";
    text += fmt::format("Unknown incompatible feature: {:x}", mask);
  }
  return text;
}

}  // namespace

std::vector<uint8_t> feature_table_extension() {
  std::vector<uint8_t> t(48 * std::size(kFeatureNames), 0);
  for (size_t i = 0; i < std::size(kFeatureNames); ++i) {
    t[i * 48] = kFeatureNames[i].type;
    t[i * 48 + 1] = kFeatureNames[i].bit;
    std::memcpy(&t[i * 48 + 2], kFeatureNames[i].name, std::strlen(kFeatureNames[i].name));
  }
  return t;
}

Result<Header> parse_header(const uint8_t* buf, size_t len, size_t* need) {
  *need = 0;
  if (len < kV2HeaderLength)
    return make_error(EINVAL, "Could not read qcow2 header: Invalid argument");
  Header h;
  if (load_be32(buf) != kMagic) return make_error(EINVAL, "Image is not in qcow2 format");
  h.version = load_be32(buf + 4);
  if (h.version < 2 || h.version > 3)
    return errorf(ENOTSUP, "Unsupported qcow2 version {}", h.version);
  h.backing_file_offset = load_be64(buf + 8);
  h.backing_file_size = load_be32(buf + 16);
  h.cluster_bits = load_be32(buf + 20);
  if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits)
    return errorf(EINVAL, "Unsupported cluster size: 2^{}", h.cluster_bits);
  h.size = load_be64(buf + 24);
  h.crypt_method = load_be32(buf + 32);
  h.l1_size = load_be32(buf + 36);
  h.l1_table_offset = load_be64(buf + 40);
  h.refcount_table_offset = load_be64(buf + 48);
  h.refcount_table_clusters = load_be32(buf + 56);
  h.nb_snapshots = load_be32(buf + 60);
  h.snapshots_offset = load_be64(buf + 64);
  const uint64_t cs = h.cluster_size();
  if (h.version == 2) {
    h.header_length = kV2HeaderLength;
    h.refcount_order = 4;
  } else {
    if (len < kV3HeaderLength) return make_error(EINVAL, "qcow2 header too short");
    h.incompatible_features = load_be64(buf + 72);
    h.compatible_features = load_be64(buf + 80);
    h.autoclear_features = load_be64(buf + 88);
    h.refcount_order = load_be32(buf + 96);
    h.header_length = load_be32(buf + 100);
    if (h.header_length < kV3HeaderLength) return make_error(EINVAL, "qcow2 header too short");
    if (h.header_length > cs) return make_error(EINVAL, "qcow2 header exceeds cluster size");
  }
  if (len < cs) {
    *need = cs;
    return make_error(EAGAIN, "header cluster not fully read");
  }
  if (h.header_length > kV3HeaderLength) h.compression_type = buf[104];
  if (h.header_length > kV3WrittenHeaderLength)
    h.unknown_header_fields.assign(buf + kV3WrittenHeaderLength, buf + h.header_length);
  if (h.backing_file_offset > cs) return make_error(EINVAL, "Invalid backing file offset");

  // Header extensions: from the end of the header to the backing file name (or cluster end).
  uint64_t ext_end = h.backing_file_offset ? h.backing_file_offset : cs;
  const uint8_t* feature_table = nullptr;
  size_t feature_table_len = 0;
  for (uint64_t off = h.header_length; off < ext_end;) {
    // An extension header that does not fit before the end is an error, as in QEMU.
    if (ext_end - off < 8) return make_error(EINVAL, "Header extension too large");
    uint32_t magic = load_be32(buf + off);
    uint32_t elen = load_be32(buf + off + 4);
    off += 8;
    if (magic == kExtEnd) break;
    if (elen > ext_end - off) return make_error(EINVAL, "Header extension too large");
    const uint8_t* data = buf + off;
    switch (magic) {
      case kExtBackingFormat:
        if (elen >= 16)
          return errorf(EINVAL, "ERROR: ext_backing_format: len={} too large (>=16)", elen);
        h.backing_format.assign(reinterpret_cast<const char*>(data), elen);
        break;
      case kExtFeatureTable:
        h.has_feature_table = true;
        feature_table = data;
        feature_table_len = elen;
        break;
      case kExtBitmaps:
        h.bitmaps = HeaderExtension{magic, {data, data + elen}};
        break;
      case kExtCrypto:
        h.crypto = HeaderExtension{magic, {data, data + elen}};
        break;
      case kExtDataFile:
        h.data_file = HeaderExtension{magic, {data, data + elen}};
        break;
      default:
        h.unknown_extensions.push_back({magic, {data, data + elen}});
        break;
    }
    off += (uint64_t{elen} + 7) & ~uint64_t{7};
  }

  if (h.incompatible_features & ~kIncompatKnown) {
    return errorf(ENOTSUP, "Unsupported qcow2 feature(s): {}",
                  unsupported_features(h.incompatible_features & ~kIncompatKnown, feature_table,
                                       feature_table_len));
  }
  // Compression type and its incompatible bit must agree (QEMU validate_compression_type).
  if (h.compression_type > 1)
    return errorf(ENOTSUP, "Unknown compression type '{}'", h.compression_type);
  bool bit = h.incompatible_features & kIncompatCompression;
  if (h.compression_type != 0 && !bit)
    return make_error(EINVAL, "qcow2: Compression type incompatible feature bit must be set");
  if (h.compression_type == 0 && bit)
    return make_error(EINVAL, "qcow2: Compression type incompatible feature bit must not be set");
  if (h.refcount_order > 6)
    return make_error(EINVAL, "Reference count entry width too large; may not exceed 64 bits");

  if (h.backing_file_offset) {
    if (h.backing_file_size > kMaxBackingNameLength ||
        h.backing_file_size > cs - h.backing_file_offset)
      return make_error(EINVAL, "Backing file name too long");
    h.backing_file.assign(reinterpret_cast<const char*>(buf + h.backing_file_offset),
                          h.backing_file_size);
  }
  return h;
}

Result<std::vector<uint8_t>> serialize_header(const Header& h) {
  const uint64_t cs = h.cluster_size();
  std::vector<uint8_t> out(h.version == 2 ? kV2HeaderLength : kV3WrittenHeaderLength, 0);
  uint8_t* b = out.data();
  store_be32(b, kMagic);
  store_be32(b + 4, h.version);
  store_be32(b + 16, static_cast<uint32_t>(h.backing_file.size()));
  store_be32(b + 20, h.cluster_bits);
  store_be64(b + 24, h.size);
  store_be32(b + 32, h.crypt_method);
  store_be32(b + 36, h.l1_size);
  store_be64(b + 40, h.l1_table_offset);
  store_be64(b + 48, h.refcount_table_offset);
  store_be32(b + 56, h.refcount_table_clusters);
  store_be32(b + 60, h.nb_snapshots);
  store_be64(b + 64, h.snapshots_offset);
  if (h.version >= 3) {
    store_be64(b + 72, h.incompatible_features);
    store_be64(b + 80, h.compatible_features);
    store_be64(b + 88, h.autoclear_features);
    store_be32(b + 96, h.refcount_order);
    store_be32(b + 100,
               static_cast<uint32_t>(kV3WrittenHeaderLength + h.unknown_header_fields.size()));
    b[104] = h.compression_type;
    out.insert(out.end(), h.unknown_header_fields.begin(), h.unknown_header_fields.end());
  }
  if (!h.backing_format.empty()) {
    put_extension(out, kExtBackingFormat, reinterpret_cast<const uint8_t*>(h.backing_format.data()),
                  h.backing_format.size());
  }
  if (h.data_file)
    put_extension(out, kExtDataFile, h.data_file->data.data(), h.data_file->data.size());
  if (h.crypto) put_extension(out, kExtCrypto, h.crypto->data.data(), h.crypto->data.size());
  // QEMU adds the feature table to v3 images only when it fits comfortably (clusters > 4 KiB).
  if (h.version >= 3 && cs > 4096) {
    auto t = feature_table_extension();
    put_extension(out, kExtFeatureTable, t.data(), t.size());
  }
  if (h.bitmaps) put_extension(out, kExtBitmaps, h.bitmaps->data.data(), h.bitmaps->data.size());
  for (const auto& e : h.unknown_extensions)
    put_extension(out, e.magic, e.data.data(), e.data.size());
  put_extension(out, kExtEnd, nullptr, 0);
  if (!h.backing_file.empty()) {
    if (h.backing_file.size() > kMaxBackingNameLength)
      return make_error(EINVAL, "Backing file name too long");
    store_be64(out.data() + 8, out.size());
    out.insert(out.end(), h.backing_file.begin(), h.backing_file.end());
  }
  if (out.size() > cs)
    return make_error(ENOSPC, "Header extensions do not fit into the first cluster");
  out.resize(cs, 0);
  return out;
}

}  // namespace corvid::block::qcow2
