// qcow2 guest-to-host mapping (spec "Cluster mapping"): L1/L2 lookups, L2 allocation and
// copy-on-write of shared tables, L1 growth, and the metadata overlap check done before
// every write to a host offset.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {
namespace {

const char* const kOverlapNames[] = {"qcow2_header",     "active L1 table", "active L2 table",
                                     "refcount table",   "refcount block",  "snapshot table",
                                     "inactive L1 table"};

}  // namespace

ClusterType Device::entry_type(uint64_t e) const {
  if (e & kOflagCompressed) return ClusterType::kCompressed;
  if (e & kOflagZero)
    return (e & kL2eOffsetMask) ? ClusterType::kZeroAlloc : ClusterType::kZeroPlain;
  if (!(e & kL2eOffsetMask)) return ClusterType::kUnallocated;
  return ClusterType::kNormal;
}

std::pair<uint64_t, uint64_t> Device::compressed_range(uint64_t e) const {
  uint64_t coffset = e & coffset_mask_;
  uint64_t sectors = ((e >> csize_shift_) & csize_mask_) + 1;
  return {coffset, sectors * 512 - (coffset & 511)};
}

Result<CachedTable*> Device::l2_table(uint64_t l1_index, uint64_t* l2_offset) {
  *l2_offset = 0;
  if (l1_index >= l1_.size()) return nullptr;
  uint64_t off = l1_[l1_index] & kL1eOffsetMask;
  if (off == 0) return nullptr;
  if (off & (cluster_size_ - 1)) {
    return tl::unexpected(corruption(
        fmt::format("L2 table offset {} unaligned (L1 index: {})", hexc(off), hexc(l1_index))));
  }
  *l2_offset = off;
  return l2_cache_->get(file_, off);
}

Result<Extent> Device::map(uint64_t offset, uint64_t max_length) {
  Extent x;
  const uint64_t in_cluster = offset & (cluster_size_ - 1);
  const uint64_t cluster = offset >> header_.cluster_bits;
  const uint64_t l1_index = cluster >> l2_bits_;
  const uint64_t l2_index = cluster & (l2_entries_ - 1);
  max_length =
      std::min(max_length, ((l2_entries_ - l2_index) << header_.cluster_bits) - in_cluster);
  uint64_t l2_offset;
  CachedTable* t = CORVID_TRY(l2_table(l1_index, &l2_offset));
  if (t == nullptr) {
    x.length = max_length;
    return x;
  }
  const uint8_t* d = t->data.data();
  uint64_t e0 = load_be64(d + l2_index * 8);
  x.type = entry_type(e0);
  x.l2_entry = e0;
  x.copied = e0 & kOflagCopied;
  const uint64_t want = (in_cluster + max_length + cluster_size_ - 1) >> header_.cluster_bits;
  uint64_t n = 1;
  if (x.type == ClusterType::kNormal || x.type == ClusterType::kZeroAlloc) {
    uint64_t host = e0 & kL2eOffsetMask;
    if (host & (cluster_size_ - 1)) {
      return tl::unexpected(corruption(
          fmt::format("Cluster allocation offset {} unaligned (L2 offset: {}, L2 index: {})",
                      hexc(host), hexc(l2_offset), hexc(l2_index))));
    }
    x.host_offset = host + in_cluster;
    while (n < want) {
      uint64_t e = load_be64(d + (l2_index + n) * 8);
      if (entry_type(e) != x.type || (e & kL2eOffsetMask) != host + (n << header_.cluster_bits) ||
          bool(e & kOflagCopied) != x.copied)
        break;
      ++n;
    }
  } else if (x.type == ClusterType::kCompressed) {
    x.host_offset = e0 & coffset_mask_;
  } else {
    while (n < want && entry_type(load_be64(d + (l2_index + n) * 8)) == x.type) ++n;
  }
  x.length = std::min(max_length, (n << header_.cluster_bits) - in_cluster);
  return x;
}

// Table entries are changed in memory first and then written; when the write fails the
// memory copy is reloaded from the file, so the in-memory tables never describe mappings the
// image does not have (a later write would otherwise be acknowledged but lost on reopen).
Result<> Device::write_l2_entries(CachedTable* t, uint64_t first, uint64_t count) {
  if (meta_write_back_) {
    t->dirty = true;
    return {};
  }
  auto r = file_.pwrite(t->data.data() + first * 8, count * 8, t->offset + first * 8);
  if (!r) (void)file_.pread(t->data.data() + first * 8, count * 8, t->offset + first * 8);
  return r;
}

Result<> Device::write_l1_entry(uint64_t index) {
  uint8_t be[8];
  store_be64(be, l1_[index]);
  auto r = file_.pwrite(be, 8, header_.l1_table_offset + index * 8);
  if (!r && file_.pread(be, 8, header_.l1_table_offset + index * 8)) l1_[index] = load_be64(be);
  return r;
}

Result<CachedTable*> Device::l2_table_for_write(uint64_t l1_index) {
  if (l1_index >= l1_.size()) CORVID_TRY_VOID(grow_l1(l1_index + 1, false));
  uint64_t l1e = l1_[l1_index];
  uint64_t old = l1e & kL1eOffsetMask;
  if (old && (l1e & kOflagCopied)) {
    uint64_t ignored;
    return l2_table(l1_index, &ignored);
  }
  // A new table, or a private copy of one shared with a snapshot (qcow2 l2_allocate).
  std::vector<uint8_t> copy;
  if (old) {
    uint64_t ignored;
    CachedTable* src = CORVID_TRY(l2_table(l1_index, &ignored));
    copy = src->data;
  }
  uint64_t fresh = CORVID_TRY(alloc_clusters(cluster_size_));
  auto linked = [&]() -> Result<> {
    CORVID_TRY_VOID(check_overlap(fresh, cluster_size_));
    CachedTable* t = CORVID_TRY(l2_cache_->get_empty(file_, fresh));
    if (old) std::memcpy(t->data.data(), copy.data(), cluster_size_);
    CORVID_TRY_VOID(file_.pwrite(t->data.data(), cluster_size_, fresh));
    // Metadata refcounts stay accurate even under lazy refcounts (QEMU flushes here too).
    // The table and its refcount are durable before the L1 entry that points to it
    // (l2_allocate): a power cut must not leave an L1 entry to a table that is garbage or
    // counted free.
    CORVID_TRY_VOID(flush_refblocks());
    CORVID_TRY_VOID(file_.sync());
    l1_[l1_index] = fresh | kOflagCopied;
    return write_l1_entry(l1_index);
  }();
  if (!linked) {
    // Nothing points to the new table: give its cluster back, as l2_allocate does.
    l1_[l1_index] = l1e;
    l2_cache_->discard(fresh);
    (void)free_clusters(fresh, cluster_size_);
    return tl::unexpected(linked.error());
  }
  metadata_changed();
  if (old) {
    // The old table loses a reference only once the L1 entry no longer holds it.
    CORVID_TRY_VOID(file_.sync());
    CORVID_TRY_VOID(free_clusters(old, cluster_size_));
  }
  return l2_cache_->get(file_, fresh);
}

Result<> Device::grow_l1(uint64_t min_size, bool exact) {
  if (min_size <= l1_.size()) return {};
  uint64_t n = min_size;
  if (!exact) {
    n = std::max<uint64_t>(l1_.size(), 1);
    while (min_size > n) n = (n * 3 + 1) / 2;
  }
  if (n > kMaxL1Bytes / 8) return make_error(EFBIG, "L1 table would be too large");
  std::vector<uint64_t> table(n, 0);
  std::copy(l1_.begin(), l1_.end(), table.begin());
  uint64_t offset = CORVID_TRY(alloc_clusters(n * 8));
  CORVID_TRY_VOID(flush_refblocks());
  CORVID_TRY_VOID(check_overlap(offset, n * 8));
  std::vector<uint8_t> raw(n * 8);
  for (uint64_t i = 0; i < n; ++i) store_be64(&raw[i * 8], table[i]);
  CORVID_TRY_VOID(file_.pwrite(raw.data(), raw.size(), offset));
  CORVID_TRY_VOID(file_.sync());
  uint8_t hdr[12];
  store_be32(hdr, static_cast<uint32_t>(n));
  store_be64(hdr + 4, offset);
  CORVID_TRY_VOID(file_.pwrite(hdr, sizeof hdr, kOffsetL1Size));
  CORVID_TRY_VOID(file_.sync());
  uint64_t old_offset = header_.l1_table_offset, old_size = l1_.size();
  l1_ = std::move(table);
  header_.l1_table_offset = offset;
  header_.l1_size = static_cast<uint32_t>(n);
  metadata_changed();
  if (old_size) CORVID_TRY_VOID(free_clusters(old_offset, old_size * 8));
  return {};
}

Result<> Device::free_any_cluster(uint64_t e) {
  switch (entry_type(e)) {
    case ClusterType::kNormal:
    case ClusterType::kZeroAlloc:
      return free_clusters(e & kL2eOffsetMask, cluster_size_);
    case ClusterType::kCompressed: {
      auto [off, len] = compressed_range(e);
      return free_clusters(off, len);
    }
    default:
      return {};
  }
}

Result<> Device::check_overlap(uint64_t offset, uint64_t length) {
  if (length == 0) return {};
  if (overlap_stale_) {
    overlap_map_.clear();
    auto add = [&](uint64_t start, uint64_t len, int kind) {
      if (len == 0) return;
      uint64_t s = start & ~(cluster_size_ - 1);
      uint64_t e = (start + len + cluster_size_ - 1) & ~(cluster_size_ - 1);
      overlap_map_.push_back({s, (e - s) << 3 | static_cast<uint64_t>(kind)});
    };
    add(0, cluster_size_, 0);
    add(header_.l1_table_offset, l1_.size() * 8, 1);
    for (uint64_t e : l1_) add(e & kL1eOffsetMask, (e & kL1eOffsetMask) ? cluster_size_ : 0, 2);
    add(header_.refcount_table_offset, uint64_t{header_.refcount_table_clusters} * cluster_size_,
        3);
    for (uint64_t e : reftable_)
      add(e & kReftOffsetMask, (e & kReftOffsetMask) ? cluster_size_ : 0, 4);
    if (header_.nb_snapshots) add(header_.snapshots_offset, cluster_size_, 5);
    for (const auto& s : snapshots_) add(s.l1_table_offset, uint64_t{s.l1_size} * 8, 6);
    std::sort(overlap_map_.begin(), overlap_map_.end());
    overlap_stale_ = false;
  }
  // Ranges are sorted by start; any range starting before our end may overlap.
  auto it = std::lower_bound(overlap_map_.begin(), overlap_map_.end(),
                             std::pair<uint64_t, uint64_t>{offset + length, 0});
  while (it != overlap_map_.begin()) {
    --it;
    uint64_t len = it->second >> 3;
    if (it->first + len > offset) {
      return tl::unexpected(
          corruption(fmt::format("Preventing invalid write on metadata (overlaps with {})",
                                 kOverlapNames[it->second & 7])));
    }
    // Ranges are at most one table long; stop once they cannot reach us.
    if (it->first + (kMaxL1Bytes + kMaxReftableBytes) < offset) break;
  }
  return {};
}

}  // namespace corvid::block::qcow2
