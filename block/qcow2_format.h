// The qcow2 on-disk format (docs/interop/qcow2.txt in QEMU): header fields, feature bits,
// header extensions, table entry masks, and the header's parse/serialize functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace corvid::block::qcow2 {

constexpr uint32_t kMagic = 0x514649fb;
constexpr uint32_t kMinClusterBits = 9, kMaxClusterBits = 21;
constexpr uint32_t kV2HeaderLength = 72, kV3HeaderLength = 104, kV3WrittenHeaderLength = 112;
constexpr uint64_t kMaxL1Bytes = 32ull << 20;       // QCOW_MAX_L1_SIZE
constexpr uint64_t kMaxReftableBytes = 8ull << 20;  // QCOW_MAX_REFTABLE_SIZE
constexpr uint32_t kMaxSnapshots = 65536;
constexpr uint32_t kMaxBackingNameLength = 1023;

// incompatible_features (spec "Header", bytes 72-79)
constexpr uint64_t kIncompatDirty = 1ull << 0;
constexpr uint64_t kIncompatCorrupt = 1ull << 1;
constexpr uint64_t kIncompatDataFile = 1ull << 2;
constexpr uint64_t kIncompatCompression = 1ull << 3;
constexpr uint64_t kIncompatExtendedL2 = 1ull << 4;
constexpr uint64_t kIncompatKnown = 0x1f;
constexpr uint64_t kCompatLazyRefcounts = 1ull << 0;
constexpr uint64_t kAutoclearBitmaps = 1ull << 0;
constexpr uint64_t kAutoclearDataFileRaw = 1ull << 1;

// Header extension magics (spec "Header extensions").
constexpr uint32_t kExtEnd = 0;
constexpr uint32_t kExtBackingFormat = 0xe2792aca;
constexpr uint32_t kExtFeatureTable = 0x6803f857;
constexpr uint32_t kExtBitmaps = 0x23852875;
constexpr uint32_t kExtCrypto = 0x0537be77;
constexpr uint32_t kExtDataFile = 0x44415441;

// Table entries (spec "Cluster mapping", "Refcount table").
constexpr uint64_t kOflagCopied = 1ull << 63;
constexpr uint64_t kOflagCompressed = 1ull << 62;
constexpr uint64_t kOflagZero = 1ull << 0;
constexpr uint64_t kL1eOffsetMask = 0x00fffffffffffe00ull;
constexpr uint64_t kL1eReservedMask = 0x7f000000000001ffull;
constexpr uint64_t kL2eOffsetMask = 0x00fffffffffffe00ull;
constexpr uint64_t kL2eStdReservedMask = 0x3f000000000001feull;
constexpr uint64_t kReftOffsetMask = 0xfffffffffffffe00ull;
constexpr uint64_t kReftReservedMask = 0x1ffull;

// Field offsets used for partial header updates, as QEMU does them.
constexpr uint64_t kOffsetSize = 24;
constexpr uint64_t kOffsetL1Size = 36;
constexpr uint64_t kOffsetRefcountTable = 48;
constexpr uint64_t kOffsetNbSnapshots = 60;
constexpr uint64_t kOffsetIncompatible = 72;

struct HeaderExtension {
  uint32_t magic = 0;
  std::vector<uint8_t> data;
};

struct Header {
  uint32_t version = 3;
  uint64_t backing_file_offset = 0;
  uint32_t backing_file_size = 0;
  uint32_t cluster_bits = 16;
  uint64_t size = 0;
  uint32_t crypt_method = 0;
  uint32_t l1_size = 0;
  uint64_t l1_table_offset = 0;
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint32_t nb_snapshots = 0;
  uint64_t snapshots_offset = 0;
  uint64_t incompatible_features = 0;
  uint64_t compatible_features = 0;
  uint64_t autoclear_features = 0;
  uint32_t refcount_order = 4;
  uint32_t header_length = kV3WrittenHeaderLength;
  uint8_t compression_type = 0;                // 0 zlib, 1 zstd
  std::vector<uint8_t> unknown_header_fields;  // bytes 112..header_length, kept verbatim

  std::string backing_file;
  std::string backing_format;
  bool has_feature_table = false;
  std::optional<HeaderExtension> bitmaps, crypto, data_file;
  std::vector<HeaderExtension> unknown_extensions;  // in file order

  uint64_t cluster_size() const { return 1ull << cluster_bits; }
};

// Parses cluster 0 (`buf` holds at least min(cluster size, file size) bytes, zero padded) with
// QEMU's validation and messages. `need` is set to the cluster size when buf is too short to
// hold the whole header cluster; the caller then reads more and calls again.
Result<Header> parse_header(const uint8_t* buf, size_t len, size_t* need);

// The whole first cluster as QEMU's qcow2_update_header writes it: header, unknown header
// fields, extensions in QEMU's order, end marker, backing file name.
Result<std::vector<uint8_t>> serialize_header(const Header& h);

// C's "%#" PRIx64: QEMU's messages print zero as "0", anything else as "0x...".
inline std::string hexc(uint64_t v) {
  return v ? fmt::format("{:#x}", v) : std::string("0");
}

// "dirty bit, lazy refcounts" etc. names for the feature table, as QEMU writes it.
std::vector<uint8_t> feature_table_extension();

}  // namespace corvid::block::qcow2
