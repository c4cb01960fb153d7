#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "base/endian.h"
#include "block/qcow2_format.h"

namespace corvid::block::qcow2 {
namespace {

std::vector<uint8_t> valid_cluster(uint32_t version = 3) {
  Header h;
  h.version = version;
  h.cluster_bits = 16;
  h.size = 1 << 20;
  h.l1_size = 1;
  h.l1_table_offset = 0x30000;
  h.refcount_table_offset = 0x10000;
  h.refcount_table_clusters = 1;
  return *serialize_header(h);
}

Result<Header> parse(const std::vector<uint8_t>& b) {
  size_t need = 0;
  return parse_header(b.data(), b.size(), &need);
}

std::string parse_error(const std::vector<uint8_t>& b) {
  auto h = parse(b);
  EXPECT_FALSE(h);
  return h ? std::string() : h.error().message;
}

TEST(Qcow2Header, RoundTripsQemuLayout) {
  auto b = valid_cluster();
  ASSERT_EQ(b.size(), 65536u);
  EXPECT_EQ(load_be32(&b[100]), 112u);              // header_length as QEMU writes it
  EXPECT_EQ(load_be32(&b[112]), kExtFeatureTable);  // feature table right after the header
  EXPECT_EQ(load_be32(&b[116]), 384u);
  auto h = parse(b);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_TRUE(h->has_feature_table);
  EXPECT_EQ(h->size, 1u << 20);
  EXPECT_EQ(h->refcount_order, 4u);
}

TEST(Qcow2Header, V2HasSeventyTwoBytesAndNoExtensions) {
  auto b = valid_cluster(2);
  EXPECT_EQ(load_be32(&b[72]), 0u);  // end marker right after the 72-byte header
  auto h = parse(b);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->header_length, 72u);
  EXPECT_EQ(h->refcount_order, 4u);
}

TEST(Qcow2Header, RejectsWithQemuMessages) {
  auto b = valid_cluster();
  b[0] = 0;
  EXPECT_EQ(parse_error(b), "Image is not in qcow2 format");
  b = valid_cluster();
  store_be32(&b[4], 4);
  EXPECT_EQ(parse_error(b), "Unsupported qcow2 version 4");
  b = valid_cluster();
  store_be32(&b[20], 8);
  EXPECT_EQ(parse_error(b), "Unsupported cluster size: 2^8");
  store_be32(&b[20], 22);
  EXPECT_EQ(parse_error(b), "Unsupported cluster size: 2^22");
  b = valid_cluster();
  store_be32(&b[100], 100);
  EXPECT_EQ(parse_error(b), "qcow2 header too short");
  b = valid_cluster();
  store_be64(&b[72], 1ull << 63);
  EXPECT_EQ(parse_error(b),
            "Unsupported qcow2 feature(s): Unknown incompatible feature: 8000000000000000");
  b = valid_cluster();
  b[104] = 1;
  EXPECT_EQ(parse_error(b), "qcow2: Compression type incompatible feature bit must be set");
  b = valid_cluster();
  store_be64(&b[72], kIncompatCompression);
  EXPECT_EQ(parse_error(b), "qcow2: Compression type incompatible feature bit must not be set");
  b = valid_cluster();
  store_be32(&b[96], 7);
  EXPECT_EQ(parse_error(b), "Reference count entry width too large; may not exceed 64 bits");
  b = valid_cluster();
  store_be64(&b[8], 0x20000);
  EXPECT_EQ(parse_error(b), "Invalid backing file offset");
  b = valid_cluster();
  store_be64(&b[8], 0x1000);
  store_be32(&b[16], 2000);
  EXPECT_EQ(parse_error(b), "Backing file name too long");
}

TEST(Qcow2Header, NamesUnknownFeaturesFromTheImagesTable) {
  auto b = valid_cluster();
  // Rename entry 4 (extended L2, bit 4) to bit 9 with a custom name.
  uint8_t* entry = &b[120 + 4 * 48];
  entry[1] = 9;
  std::memset(entry + 2, 0, 46);
  std::memcpy(entry + 2, "future feature", 14);
  store_be64(&b[72], (1ull << 9) | (1ull << 40));
  EXPECT_EQ(
      parse_error(b),
      "Unsupported qcow2 feature(s): future feature, Unknown incompatible feature: 10000000000");
}

TEST(Qcow2Header, KeepsUnknownExtensionsAndTrailingFields) {
  Header h;
  h.cluster_bits = 16;
  h.unknown_header_fields = {1, 2, 3, 4, 5, 6, 7, 8};
  h.unknown_extensions.push_back({0x12345678, {9, 9, 9}});
  h.backing_file = "base.qcow2";
  h.backing_format = "qcow2";
  auto b = serialize_header(h);
  ASSERT_TRUE(b);
  auto back = parse(*b);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->header_length, 120u);
  EXPECT_EQ(back->unknown_header_fields, h.unknown_header_fields);
  ASSERT_EQ(back->unknown_extensions.size(), 1u);
  EXPECT_EQ(back->unknown_extensions[0].magic, 0x12345678u);
  EXPECT_EQ(back->unknown_extensions[0].data, (std::vector<uint8_t>{9, 9, 9}));
  EXPECT_EQ(back->backing_file, "base.qcow2");
  EXPECT_EQ(back->backing_format, "qcow2");
}

TEST(Qcow2Header, ExtensionOverrunIsAnError) {
  auto b = valid_cluster();
  store_be32(&b[116], 0x7fffffff);
  EXPECT_EQ(parse_error(b), "Header extension too large");
}

TEST(Qcow2Header, ShortBufferAsksForTheWholeCluster) {
  auto b = valid_cluster();
  size_t need = 0;
  auto h = parse_header(b.data(), 4096, &need);
  EXPECT_FALSE(h);
  EXPECT_EQ(need, 65536u);
}

}  // namespace
}  // namespace corvid::block::qcow2
