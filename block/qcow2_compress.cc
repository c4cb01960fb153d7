// Compressed clusters (spec "Compressed Clusters Descriptor"): raw deflate with a 4 KiB
// window (zlib, compression_type 0) or zstd frames (type 1), and the compressed-write path
// used by `convert -c` (qcow2_co_pwritev_compressed semantics).
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {

Result<size_t> compress_cluster(uint8_t type, const uint8_t* in, size_t len, uint8_t* out,
                                size_t cap) {
  if (type == 1) {
    size_t n = ZSTD_compress(out, cap, in, len, ZSTD_CLEVEL_DEFAULT);
    if (ZSTD_isError(n)) return make_error(ENOSPC, "cluster does not compress");
    return n;
  }
  z_stream s{};
  if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return make_error(ENOMEM, "deflateInit2 failed");
  s.next_in = const_cast<uint8_t*>(in);
  s.avail_in = static_cast<uInt>(len);
  s.next_out = out;
  s.avail_out = static_cast<uInt>(cap);
  int r = deflate(&s, Z_FINISH);
  size_t produced = cap - s.avail_out;
  deflateEnd(&s);
  if (r != Z_STREAM_END) return make_error(ENOSPC, "cluster does not compress");
  return produced;
}

Result<> decompress_cluster(uint8_t type, const uint8_t* in, size_t in_len, uint8_t* out,
                            size_t out_len) {
  if (type == 1) {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    if (!d) return make_error(ENOMEM, "ZSTD_createDCtx failed");
    ZSTD_inBuffer ib{in, in_len, 0};
    ZSTD_outBuffer ob{out, out_len, 0};
    // The stored size is rounded up to sectors: stop once the cluster is complete.
    while (ob.pos < ob.size) {
      size_t before_in = ib.pos, before_out = ob.pos;
      size_t r = ZSTD_decompressStream(d, &ob, &ib);
      if (ZSTD_isError(r)) break;
      if (ib.pos == before_in && ob.pos == before_out) break;
    }
    bool ok = ob.pos == ob.size;
    ZSTD_freeDCtx(d);
    if (!ok) return make_error(EIO, "zstd decompression failed");
    return {};
  }
  z_stream s{};
  if (inflateInit2(&s, -12) != Z_OK) return make_error(ENOMEM, "inflateInit2 failed");
  s.next_in = const_cast<uint8_t*>(in);
  s.avail_in = static_cast<uInt>(in_len);
  s.next_out = out;
  s.avail_out = static_cast<uInt>(out_len);
  int r = inflate(&s, Z_FINISH);
  bool ok = (r == Z_STREAM_END || r == Z_BUF_ERROR) && s.avail_out == 0;
  inflateEnd(&s);
  if (!ok) return make_error(EIO, "zlib decompression failed");
  return {};
}

Result<> Device::write_compressed(uint64_t offset, const void* buf, size_t len) {
  if (read_only()) return make_error(EACCES, "Image is read-only");
  if (broken_ || closed_) return make_error(ENOMEDIUM, "No medium found");
  if (offset & (cluster_size_ - 1))
    return make_error(EINVAL, "Compressed writes must be cluster aligned");
  // The image's last cluster may be partial; anything else must be a whole cluster.
  if (len != cluster_size_ && offset + len != header_.size)
    return make_error(EINVAL, "Compressed writes must cover a whole cluster");
  if (len == 0) return {};
  std::vector<uint8_t> in(cluster_size_, 0);
  std::memcpy(in.data(), buf, len);
  std::vector<uint8_t> out(cluster_size_);
  auto n = compress_cluster(header_.compression_type, in.data(), cluster_size_, out.data(),
                            cluster_size_ - 1);
  if (!n) {
    // Incompressible: an ordinary cluster (QEMU does the same).
    iovec v{const_cast<void*>(buf), len};
    return write_allocating(offset, &v, 1, len);
  }
  const uint64_t l1_index = offset >> (header_.cluster_bits + l2_bits_);
  const uint64_t l2_index = (offset >> header_.cluster_bits) & (l2_entries_ - 1);
  CachedTable* t = CORVID_TRY(l2_table_for_write(l1_index));
  uint64_t old = load_be64(t->data.data() + l2_index * 8);
  if (lazy_refcounts_) CORVID_TRY_VOID(mark_dirty());
  uint64_t host = CORVID_TRY(alloc_bytes(*n));
  CORVID_TRY_VOID(check_overlap(host, *n));
  CORVID_TRY_VOID(file_.pwrite(out.data(), *n, host));
  uint64_t sectors = ((host + *n - 1) >> 9) - (host >> 9);
  uint64_t entry = kOflagCompressed | host | (sectors << csize_shift_);
  t = CORVID_TRY(l2_table_for_write(l1_index));
  store_be64(t->data.data() + l2_index * 8, entry);
  CORVID_TRY_VOID(write_l2_entries(t, l2_index, 1));
  return free_any_cluster(old);
}

}  // namespace corvid::block::qcow2
