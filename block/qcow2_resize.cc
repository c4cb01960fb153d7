// qcow2 growth, shrinking and preallocation (QEMU 7.2 qcow2_co_truncate, preallocate_co).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {

Result<> Device::finish_create(uint64_t size, const std::string& prealloc,
                               const std::string& backing_file, const std::string& backing_fmt) {
  CORVID_TRY(alloc_clusters(3 * cluster_size_));  // header, refcount table, refcount block
  CORVID_TRY_VOID(rewrite_header());
  CORVID_TRY_VOID(grow(size, prealloc));
  if (!backing_file.empty()) {
    header_.backing_file = backing_file;
    header_.backing_format = backing_fmt;
    CORVID_TRY_VOID(rewrite_header());
  }
  return {};
}

Result<int64_t> Device::last_used_cluster() {
  uint64_t fsize = CORVID_TRY(file_.size());
  for (int64_t i = static_cast<int64_t>((fsize + cluster_size_ - 1) >> header_.cluster_bits) - 1;
       i >= 0; --i) {
    if (CORVID_TRY(get_refcount(static_cast<uint64_t>(i))) > 0) return i;
  }
  return -1;
}

Result<> Device::grow(uint64_t new_size, const std::string& prealloc) {
  const uint64_t old_size = header_.size;
  const uint64_t l1_cover = cluster_size_ * l2_entries_;
  CORVID_TRY_VOID(grow_l1(new_size / l1_cover + (new_size % l1_cover != 0), true));
  // Preallocation starts at the first whole new cluster: the old last cluster may hold data,
  // here or in the backing file, that a fresh cluster would hide; its new tail is zeroed below.
  const uint64_t old_end_cluster = (old_size + cluster_size_ - 1) & ~(cluster_size_ - 1);
  const uint64_t partial_end = std::min(new_size, old_end_cluster);
  if (old_end_cluster < new_size) {
    if (prealloc == "metadata") {
      CORVID_TRY_VOID(preallocate_metadata(old_end_cluster, new_size));
    } else if (prealloc == "falloc" || prealloc == "full") {
      CORVID_TRY_VOID(preallocate_data(old_end_cluster, new_size, prealloc == "full"));
    }
  }
  uint8_t be[8];
  store_be64(be, new_size);
  CORVID_TRY_VOID(file_.pwrite(be, 8, kOffsetSize));
  CORVID_TRY_VOID(file_.sync());
  header_.size = new_size;
  // The grown area must read as zeroes. Where a backing file is long enough to show through,
  // it is zeroed explicitly (QEMU's bdrv_co_truncate does the same); without one only the tail
  // of the old last cluster needs it, which may still hold data from before a shrink.
  uint64_t zero_end = partial_end;
  if (prealloc == "off" && backing_ && backing_->size() > old_size) zero_end = new_size;
  if (zero_end > old_size) CORVID_TRY_VOID(write_zeroes_sync(old_size, zero_end - old_size, false));
  return {};
}

Result<> Device::preallocate_metadata(uint64_t from, uint64_t to) {
  uint64_t host_end = 0;
  for (uint64_t off = from; off < to;) {
    const uint64_t in_cluster = off & (cluster_size_ - 1);
    const uint64_t l1_index = off >> (header_.cluster_bits + l2_bits_);
    const uint64_t l2_index = (off >> header_.cluster_bits) & (l2_entries_ - 1);
    uint64_t want = std::min((to - off + in_cluster + cluster_size_ - 1) >> header_.cluster_bits,
                             l2_entries_ - l2_index);
    CachedTable* t = CORVID_TRY(l2_table_for_write(l1_index));
    // Clusters already allocated keep their place; a run of unallocated ones gets one range.
    uint64_t e = load_be64(t->data.data() + l2_index * 8);
    ClusterType type = entry_type(e);
    uint64_t n = 1;
    if (type == ClusterType::kUnallocated || type == ClusterType::kZeroPlain) {
      while (n < want) {
        ClusterType tn = entry_type(load_be64(t->data.data() + (l2_index + n) * 8));
        if (tn != ClusterType::kUnallocated && tn != ClusterType::kZeroPlain) break;
        ++n;
      }
      uint64_t host = CORVID_TRY(alloc_clusters(n << header_.cluster_bits));
      t = CORVID_TRY(l2_table_for_write(l1_index));
      for (uint64_t i = 0; i < n; ++i)
        store_be64(t->data.data() + (l2_index + i) * 8,
                   (host + (i << header_.cluster_bits)) | kOflagCopied);
      CORVID_TRY_VOID(write_l2_entries(t, l2_index, n));
      uint64_t bytes = std::min(to - off, (n << header_.cluster_bits) - in_cluster);
      host_end = host + in_cluster + bytes;
      off += bytes;
    } else {
      off += std::min(to - off, cluster_size_ - in_cluster);
    }
  }
  // The file must contain every allocated cluster (reads past EOF would fail in QEMU).
  if (host_end > CORVID_TRY(file_.size())) CORVID_TRY_VOID(file_.truncate(host_end));
  return {};
}

Result<> Device::preallocate_data(uint64_t from, uint64_t to, bool full) {
  int64_t last = CORVID_TRY(last_used_cluster());
  uint64_t old_file_size =
      last >= 0 ? static_cast<uint64_t>(last + 1) * cluster_size_
                : (CORVID_TRY(file_.size()) + cluster_size_ - 1) & ~(cluster_size_ - 1);
  const uint64_t first = from & ~(cluster_size_ - 1);
  const uint64_t n_data =
      (((to + cluster_size_ - 1) & ~(cluster_size_ - 1)) - first) >> header_.cluster_bits;
  if (n_data == 0) return {};
  const uint64_t n_l2 = (n_data + l2_entries_ - 1) / l2_entries_ + 1;
  // Refcount structures able to cover the data and its L2 tables, placed after the image.
  uint64_t start = CORVID_TRY(refcount_area(old_file_size, n_data + n_l2, true, 0, 0));
  CORVID_TRY_VOID(update_refcount(start, n_data << header_.cluster_bits, 1));
  const uint64_t new_file_size = start + (n_data << header_.cluster_bits);
  if (full) {
    std::vector<uint8_t> zeros(std::min<uint64_t>(new_file_size - start, 4u << 20), 0);
    for (uint64_t o = start; o < new_file_size; o += zeros.size())
      CORVID_TRY_VOID(
          file_.pwrite(zeros.data(), std::min<uint64_t>(zeros.size(), new_file_size - o), o));
  } else {
    CORVID_TRY_VOID(file_.truncate(new_file_size));
    int r = ::posix_fallocate(file_.meta_fd(), static_cast<off_t>(start),
                              static_cast<off_t>(new_file_size - start));
    if (r != 0 && r != EOPNOTSUPP)
      return errorf(r, "Could not preallocate data: {}", std::strerror(r));
  }
  uint64_t host = start, guest = first, left = n_data;
  while (left) {
    const uint64_t l1_index = guest >> (header_.cluster_bits + l2_bits_);
    const uint64_t l2_index = (guest >> header_.cluster_bits) & (l2_entries_ - 1);
    uint64_t k = std::min(left, l2_entries_ - l2_index);
    CachedTable* t = CORVID_TRY(l2_table_for_write(l1_index));
    std::vector<uint64_t> old(k);
    for (uint64_t i = 0; i < k; ++i) {
      old[i] = load_be64(t->data.data() + (l2_index + i) * 8);
      store_be64(t->data.data() + (l2_index + i) * 8,
                 (host + (i << header_.cluster_bits)) | kOflagCopied);
    }
    CORVID_TRY_VOID(write_l2_entries(t, l2_index, k));
    for (uint64_t e : old) CORVID_TRY_VOID(free_any_cluster(e));
    guest += k << header_.cluster_bits;
    host += k << header_.cluster_bits;
    left -= k;
  }
  return {};
}

Result<> Device::resize(uint64_t new_size, bool shrink_ok) {
  if (read_only()) return make_error(EACCES, "Image is read-only");
  // Snapshots keep their own size (QEMU 7.2 resizes images that have snapshots).
  if (new_size & 511) return make_error(EINVAL, "The new size must be a multiple of 512");
  if (new_size == header_.size) return {};
  CORVID_TRY_VOID(flush_metadata());
  if (new_size > header_.size) return grow(new_size, "off");
  if (!shrink_ok)
    return make_error(EINVAL, "Use the --shrink option to perform a shrink operation.");
  return shrink(new_size);
}

Result<> Device::shrink(uint64_t new_size) {
  if (header_.version < 3) return make_error(ENOTSUP, "Cannot shrink images with compat=0.10");
  // Free every cluster past the new end, then the L2 tables no longer needed.
  uint64_t from = (new_size + cluster_size_ - 1) & ~(cluster_size_ - 1);
  if (from < header_.size) {
    for (uint64_t off = from; off < header_.size;) {
      const uint64_t l1_index = off >> (header_.cluster_bits + l2_bits_);
      const uint64_t l2_index = (off >> header_.cluster_bits) & (l2_entries_ - 1);
      uint64_t n = std::min((header_.size - off + cluster_size_ - 1) >> header_.cluster_bits,
                            l2_entries_ - l2_index);
      if (l1_index < l1_.size() && (l1_[l1_index] & kL1eOffsetMask)) {
        CachedTable* t = CORVID_TRY(l2_table_for_write(l1_index));
        std::vector<uint64_t> old(n);
        for (uint64_t i = 0; i < n; ++i) {
          old[i] = load_be64(t->data.data() + (l2_index + i) * 8);
          store_be64(t->data.data() + (l2_index + i) * 8, 0);
        }
        CORVID_TRY_VOID(write_l2_entries(t, l2_index, n));
        for (uint64_t e : old) CORVID_TRY_VOID(free_any_cluster(e));
      }
      off += n << header_.cluster_bits;
    }
  }
  const uint64_t l1_cover = cluster_size_ * l2_entries_;
  uint64_t keep = new_size / l1_cover + (new_size % l1_cover != 0);
  for (uint64_t i = keep; i < l1_.size(); ++i) {
    uint64_t l2 = l1_[i] & kL1eOffsetMask;
    if (!l2) continue;
    l1_[i] = 0;
    CORVID_TRY_VOID(write_l1_entry(i));
    CORVID_TRY_VOID(free_clusters(l2, cluster_size_));
  }
  uint8_t be[8];
  store_be64(be, new_size);
  CORVID_TRY_VOID(file_.pwrite(be, 8, kOffsetSize));
  CORVID_TRY_VOID(file_.sync());
  header_.size = new_size;
  CORVID_TRY_VOID(flush_refblocks());
  int64_t last = CORVID_TRY(last_used_cluster());
  if (last >= 0) CORVID_TRY_VOID(file_.truncate(static_cast<uint64_t>(last + 1) * cluster_size_));
  return {};
}

}  // namespace corvid::block::qcow2
