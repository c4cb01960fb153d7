// qcow2 refcounts and cluster allocation (spec "Host cluster management"). Allocation follows
// QEMU 7.2 so images get the same layout: first fit from a moving scan position; a missing
// refcount block is placed at the first free cluster and describes itself when it can; a
// full refcount table is replaced by a larger one placed, with its own refcount blocks,
// after the area the existing blocks cover.
#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {
namespace {

constexpr int kRetry = EAGAIN;

// Refcount blocks and reftable clusters needed to cover `clusters` clusters including
// themselves (a fixed point, as qcow2_refcount_metadata_size computes it).
uint64_t refcount_metadata_blocks(uint64_t clusters, uint64_t cluster_size, uint32_t refcount_order,
                                  bool generous) {
  const uint64_t per_table_cluster = cluster_size / 8;
  const uint64_t per_block = cluster_size * 8 / (1u << refcount_order);
  uint64_t table = 0, blocks = 0, n = 0, last;
  do {
    last = n;
    blocks = (clusters + table + blocks + per_block - 1) / per_block;
    table = (blocks + per_table_cluster - 1) / per_table_cluster;
    n = clusters + blocks + table;
    if (n == last && generous) {
      clusters += (table + 1) / 2;
      n = 0;
      generous = false;
    }
  } while (n != last);
  return blocks;
}

}  // namespace

uint64_t Device::refcount_get(const uint8_t* b, uint64_t i) const {
  switch (header_.refcount_order) {
    case 0:
      return (b[i / 8] >> (i % 8)) & 1;
    case 1:
      return (b[i / 4] >> (2 * (i % 4))) & 3;
    case 2:
      return (b[i / 2] >> (4 * (i % 2))) & 0xf;
    case 3:
      return b[i];
    case 4:
      return load_be16(b + 2 * i);
    case 5:
      return load_be32(b + 4 * i);
    default:
      return load_be64(b + 8 * i);
  }
}

void Device::refcount_set(uint8_t* b, uint64_t i, uint64_t v) const {
  switch (header_.refcount_order) {
    case 0:
      b[i / 8] = static_cast<uint8_t>((b[i / 8] & ~(1u << (i % 8))) | (v << (i % 8)));
      break;
    case 1: {
      unsigned sh = 2 * (i % 4);
      b[i / 4] = static_cast<uint8_t>((b[i / 4] & ~(3u << sh)) | (v << sh));
      break;
    }
    case 2: {
      unsigned sh = 4 * (i % 2);
      b[i / 2] = static_cast<uint8_t>((b[i / 2] & ~(0xfu << sh)) | (v << sh));
      break;
    }
    case 3:
      b[i] = static_cast<uint8_t>(v);
      break;
    case 4:
      store_be16(b + 2 * i, static_cast<uint16_t>(v));
      break;
    case 5:
      store_be32(b + 4 * i, static_cast<uint32_t>(v));
      break;
    default:
      store_be64(b + 8 * i, v);
      break;
  }
}

uint64_t Device::clusters_of(uint64_t offset, uint64_t length) const {
  if (length == 0) return 0;
  uint64_t first = offset >> header_.cluster_bits;
  uint64_t last = (offset + length - 1) >> header_.cluster_bits;
  return last - first + 1;
}

Result<uint64_t> Device::get_refcount(uint64_t cluster_index) {
  uint64_t rt_index = cluster_index >> refblock_bits_;
  if (rt_index >= reftable_.size()) return 0;
  uint64_t block = reftable_[rt_index] & kReftOffsetMask;
  if (block == 0) return 0;
  if (block & (cluster_size_ - 1)) {
    return tl::unexpected(corruption(fmt::format(
        "Refblock offset {} unaligned (reftable index: {})", hexc(block), hexc(rt_index))));
  }
  CachedTable* t = CORVID_TRY(rb_cache_->get(file_, block));
  return refcount_get(t->data.data(), cluster_index & (refblock_entries_ - 1));
}

Result<> Device::write_refblock_range(CachedTable* t, uint64_t first, uint64_t last) {
  if (refcounts_deferred() || meta_write_back_) {
    t->dirty = true;
    return {};
  }
  uint32_t bits = 1u << header_.refcount_order;
  uint64_t from = first * bits / 8, to = ((last + 1) * bits + 7) / 8;
  return file_.pwrite(t->data.data() + from, to - from, t->offset + from);
}

Result<> Device::flush_refblocks() {
  return rb_cache_->flush(file_);
}

Result<CachedTable*> Device::refblock_for(uint64_t cluster_index, bool* retry) {
  *retry = false;
  uint64_t rt_index = cluster_index >> refblock_bits_;
  if (rt_index < reftable_.size()) {
    uint64_t block = reftable_[rt_index] & kReftOffsetMask;
    if (block) {
      if (block & (cluster_size_ - 1)) {
        return tl::unexpected(corruption(fmt::format(
            "Refblock offset {} unaligned (reftable index: {})", hexc(block), hexc(rt_index))));
      }
      return rb_cache_->get(file_, block);
    }
  }
  // A new refcount block at the first free cluster.
  uint64_t new_block = CORVID_TRY(alloc_clusters_noref(cluster_size_));
  if (new_block == 0)
    return tl::unexpected(
        corruption("Preventing invalid allocation of refcount block at offset 0"));
  uint64_t new_index = new_block >> header_.cluster_bits;
  CachedTable* t;
  if ((new_index >> refblock_bits_) == rt_index) {
    t = CORVID_TRY(rb_cache_->get_empty(file_, new_block));
    refcount_set(t->data.data(), new_index & (refblock_entries_ - 1), 1);
  } else {
    // Described by another block: this recursion ends at a block that describes itself.
    CORVID_TRY_VOID(update_refcount(new_block, cluster_size_, 1));
    t = CORVID_TRY(rb_cache_->get_empty(file_, new_block));
  }
  CORVID_TRY_VOID(file_.pwrite(t->data.data(), cluster_size_, new_block));
  metadata_changed();
  if (rt_index < reftable_.size()) {
    // The block is durable before the reftable entry that points to it.
    CORVID_TRY_VOID(file_.sync());
    uint8_t be[8];
    store_be64(be, new_block);
    CORVID_TRY_VOID(file_.pwrite(be, 8, header_.refcount_table_offset + rt_index * 8));
    CORVID_TRY_VOID(file_.sync());
    reftable_[rt_index] = new_block;
    *retry = true;  // the new block may sit where the caller meant to put its data
    return nullptr;
  }
  uint64_t blocks_used =
      (std::max(cluster_index + 1, new_index + 1) + refblock_entries_ - 1) / refblock_entries_;
  uint64_t meta_offset = blocks_used * refblock_entries_ * cluster_size_;
  CORVID_TRY_VOID(refcount_area(meta_offset, 0, false, rt_index, new_block));
  *retry = true;
  return nullptr;
}

Result<uint64_t> Device::refcount_area(uint64_t start_offset, uint64_t additional_clusters,
                                       bool exact, uint64_t new_refblock_index,
                                       uint64_t new_refblock_offset) {
  uint64_t total_blocks =
      refcount_metadata_blocks(start_offset / cluster_size_ + additional_clusters, cluster_size_,
                               header_.refcount_order, !exact);
  if (total_blocks > kMaxReftableBytes)
    return make_error(EFBIG, "Refcount table would be too large");
  uint64_t area_index = (start_offset / cluster_size_) / refblock_entries_;
  uint64_t table_size = exact ? total_blocks : total_blocks + (total_blocks + 1) / 2;
  uint64_t per_cluster = cluster_size_ / 8;
  table_size = (table_size + per_cluster - 1) / per_cluster * per_cluster;
  uint64_t table_clusters = table_size * 8 / cluster_size_;
  if (table_size > kMaxReftableBytes) return make_error(EFBIG, "Refcount table would be too large");

  std::vector<uint64_t> table(table_size, 0);
  for (uint64_t i = 0; i < std::min<uint64_t>(table_size, reftable_.size()); ++i)
    table[i] = reftable_[i];
  if (new_refblock_offset) table[new_refblock_index] = new_refblock_offset;
  uint64_t additional_blocks = 0;
  for (uint64_t i = area_index; i < total_blocks; ++i) {
    if (!table[i]) ++additional_blocks;
  }
  uint64_t table_offset = start_offset + additional_blocks * cluster_size_;
  uint64_t end_offset = table_offset + table_clusters * cluster_size_;

  // Refcount blocks for the area; every new structure gets refcount 1.
  uint64_t block_offset = start_offset;
  for (uint64_t i = area_index; i < total_blocks; ++i) {
    CachedTable* t;
    if (table[i]) {
      t = CORVID_TRY(rb_cache_->get(file_, table[i] & kReftOffsetMask));
    } else {
      t = CORVID_TRY(rb_cache_->get_empty(file_, block_offset));
      t->dirty = true;
      table[i] = block_offset;
      block_offset += cluster_size_;
    }
    uint64_t first_covered = i * refblock_entries_ * cluster_size_;
    if (first_covered < end_offset) {
      uint64_t j =
          first_covered < start_offset ? (start_offset - first_covered) / cluster_size_ : 0;
      uint64_t end = std::min((end_offset - first_covered) / cluster_size_, refblock_entries_);
      for (; j < end; ++j) refcount_set(t->data.data(), j, 1);
    }
    // Written at once: this structure must be complete before the header points to it.
    CORVID_TRY_VOID(file_.pwrite(t->data.data(), cluster_size_, t->offset));
    t->dirty = false;
  }

  std::vector<uint8_t> raw(table_size * 8, 0);
  for (uint64_t i = 0; i < table_size; ++i) store_be64(&raw[i * 8], table[i]);
  CORVID_TRY_VOID(file_.pwrite(raw.data(), raw.size(), table_offset));
  CORVID_TRY_VOID(file_.sync());
  uint8_t hdr[12];
  store_be64(hdr, table_offset);
  store_be32(hdr + 8, static_cast<uint32_t>(table_clusters));
  CORVID_TRY_VOID(file_.pwrite(hdr, sizeof hdr, kOffsetRefcountTable));
  CORVID_TRY_VOID(file_.sync());

  uint64_t old_offset = header_.refcount_table_offset;
  uint64_t old_bytes = reftable_.size() * 8;
  reftable_ = std::move(table);
  header_.refcount_table_offset = table_offset;
  header_.refcount_table_clusters = static_cast<uint32_t>(table_clusters);
  metadata_changed();
  if (old_bytes) CORVID_TRY_VOID(free_clusters(old_offset, old_bytes));
  return end_offset;
}

Result<> Device::update_refcount(uint64_t offset, uint64_t length, int64_t addend,
                                 bool undo_on_error) {
  if (length == 0) return {};
  if (addend < 0 && !refcounts_deferred() && l2_cache_->has_dirty()) {
    // A refcount drops only after the L2 entries that held the references are durable
    // (QEMU makes the refcount cache depend on the L2 cache for decrements): otherwise a power
    // cut could leave a mapping to a cluster counted free, which a later allocation reuses.
    CORVID_TRY_VOID(l2_cache_->flush(file_));
    CORVID_TRY_VOID(file_.sync());
  }
  const uint64_t start = offset >> header_.cluster_bits;
  const uint64_t last = (offset + length - 1) >> header_.cluster_bits;
  const uint64_t max = refcount_max();
  CachedTable* t = nullptr;
  uint64_t cur_rt = ~0ull, range_first = 0, range_last = 0;
  auto write_range = [&]() -> Result<> {
    if (t == nullptr) return {};
    return write_refblock_range(t, range_first, range_last);
  };
  uint64_t ci = start;
  Error failure;
  bool failed = false;
  for (; ci <= last; ++ci) {
    uint64_t rt = ci >> refblock_bits_;
    uint64_t idx = ci & (refblock_entries_ - 1);
    if (rt != cur_rt) {
      if (auto w = write_range(); !w) {
        failure = w.error();
        failed = true;
        break;
      }
      bool retry = false;
      auto got = refblock_for(ci, &retry);
      if (!got || retry) {
        if (retry || got.error().code == kRetry) {
          if (free_cluster_index_ > start) free_cluster_index_ = start;
          failure = Error{kRetry, "retry allocation"};
        } else {
          failure = got.error();
        }
        t = nullptr;
        failed = true;
        break;
      }
      t = *got;
      cur_rt = rt;
      range_first = idx;
    }
    // refblock_for may have evicted and reloaded: look the block up again by offset.
    uint64_t rc = refcount_get(t->data.data(), idx);
    uint64_t nrc;
    if (addend < 0) {
      if (rc < static_cast<uint64_t>(-addend)) {
        failure = Error{EINVAL, fmt::format("refcount of cluster {} would drop below zero", ci)};
        failed = true;
        break;
      }
      nrc = rc - static_cast<uint64_t>(-addend);
    } else {
      if (max - rc < static_cast<uint64_t>(addend)) {
        // EINVAL, as QEMU's update_refcount reports an overflow (qemu-img prints the errno).
        failure = Error{EINVAL, fmt::format("refcount of cluster {} would overflow", ci)};
        failed = true;
        break;
      }
      nrc = rc + static_cast<uint64_t>(addend);
    }
    refcount_set(t->data.data(), idx, nrc);
    range_last = idx;
    if (nrc == 0) {
      uint64_t off = ci << header_.cluster_bits;
      if (data_in_flight_ > 0) {
        pending_free_index_ = std::min(pending_free_index_, ci);
      } else if (ci < free_cluster_index_) {
        free_cluster_index_ = ci;
      }
      l2_cache_->discard(off);
      if (t->offset != off) rb_cache_->discard(off);
      // Guest discards reach the file too (QEMU's discard passthrough for requests).
      if (punch_freed_) {
        (void)file_.punch_hole(off, cluster_size_);
      }
    }
  }
  if (!failed) {
    auto w = write_range();
    if (!w) {
      failure = w.error();
      failed = true;
    } else {
      return {};
    }
  } else if (t) {
    (void)write_range();
  }
  // Undo what was applied so a retry (or the caller's error path) sees the old counts.
  if (ci > start && undo_on_error)
    (void)update_refcount(offset, (ci - start) << header_.cluster_bits, -addend, false);
  return tl::unexpected(failure);
}

Result<uint64_t> Device::alloc_clusters_noref(uint64_t bytes) {
  uint64_t n = clusters_of(0, bytes);
  for (;;) {
    bool ok = true;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t idx = free_cluster_index_++;
      if ((idx << header_.cluster_bits) >> 56)
        return make_error(EFBIG, "image file would exceed the qcow2 offset limit");
      uint64_t rc = CORVID_TRY(get_refcount(idx));
      if (rc != 0) {
        ok = false;
        break;
      }
    }
    if (ok) return (free_cluster_index_ - n) << header_.cluster_bits;
  }
}

Result<uint64_t> Device::alloc_clusters(uint64_t bytes) {
  for (;;) {
    uint64_t offset = CORVID_TRY(alloc_clusters_noref(bytes));
    auto r = update_refcount(offset, bytes, 1);
    if (r) {
      metadata_changed();
      return offset;
    }
    if (r.error().code != kRetry) return tl::unexpected(r.error());
  }
}

Result<> Device::free_clusters(uint64_t offset, uint64_t length) {
  metadata_changed();
  return update_refcount(offset, length, -1);
}

// Compressed clusters are packed back to back (qcow2_alloc_bytes): continue in the cluster
// the previous one ended in, taking the next cluster too when it is free and adjacent.
// Every cluster touched gets one more reference.
Result<uint64_t> Device::alloc_bytes(uint64_t bytes) {
  for (;;) {
    uint64_t offset = free_byte_offset_;
    if (offset) {
      uint64_t rc = CORVID_TRY(get_refcount(offset >> header_.cluster_bits));
      if (rc == 0 || rc == refcount_max()) offset = 0;
    }
    uint64_t free_in_cluster = cluster_size_ - (offset & (cluster_size_ - 1));
    if (!offset || free_in_cluster < bytes) {
      uint64_t new_cluster = CORVID_TRY(alloc_clusters_noref(cluster_size_));
      uint64_t next = (offset + cluster_size_ - 1) & ~(cluster_size_ - 1);
      if (!offset || next != new_cluster) offset = new_cluster;
    }
    auto r = update_refcount(offset, bytes, 1);
    if (!r) {
      if (r.error().code == kRetry) {
        free_byte_offset_ = 0;
        continue;
      }
      return tl::unexpected(r.error());
    }
    metadata_changed();
    free_byte_offset_ = offset + bytes;
    if ((free_byte_offset_ & (cluster_size_ - 1)) == 0) free_byte_offset_ = 0;
    return offset;
  }
}

}  // namespace corvid::block::qcow2
