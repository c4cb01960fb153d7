// qcow2 consistency check and repair (QEMU 7.2 qcow2_co_check_locked and
// qcow2_check_refcounts): count every reference into an in-memory refcount table (IMRT),
// compare it with the on-disk refcounts, rebuild the refcount structure from the IMRT when a
// referenced cluster has refcount 0, then check the COPIED flags. Messages and counting
// follow QEMU exactly, since qemu-img check's output is compared byte for byte.
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/endian.h"
#include "block/check.h"
#include "block/qcow2.h"

namespace corvid::block {
namespace qcow2 {

class Checker {
 public:
  Checker(Device& d, CheckResult& res) : d_(d), res_(res) {}

  Result<> check_refcounts(RepairMode mode);

 private:
  uint64_t get(uint64_t k) const { return d_.refcount_get(imrt_.data(), k); }
  void set(uint64_t k, uint64_t v) { d_.refcount_set(imrt_.data(), k, v); }
  void resize_imrt(uint64_t clusters) {
    if (clusters <= nb_clusters_) return;
    uint64_t blocks = (clusters + d_.refblock_entries_ - 1) / d_.refblock_entries_;
    imrt_.resize(blocks * d_.cluster_size_, 0);
    nb_clusters_ = clusters;
  }
  void inc(uint64_t offset, uint64_t size);
  Result<> check_l1(uint64_t l1_offset, uint64_t l1_size, bool frag_info, RepairMode fix);
  Result<> check_l2(uint64_t l2_offset, bool frag_info, RepairMode fix);
  Result<> check_refblocks(RepairMode fix);
  Result<> calculate(RepairMode fix);
  void compare(RepairMode fix, int64_t* highest);
  Result<> rebuild();
  bool write_refblocks(uint64_t first, uint64_t end, std::vector<uint64_t>& table, Error* err);
  uint64_t alloc_imrt(uint64_t count, uint64_t* first_free);
  Result<> check_copied(RepairMode fix);

  Device& d_;
  CheckResult& res_;
  std::vector<uint8_t> imrt_;
  uint64_t nb_clusters_ = 0;
  bool rebuild_ = false;
};

void Checker::inc(uint64_t offset, uint64_t size) {
  if (size == 0) return;
  int64_t file_len = static_cast<int64_t>(d_.file_size());
  if (static_cast<int64_t>(offset + size) - file_len >= static_cast<int64_t>(d_.cluster_size_)) {
    std::fprintf(d_.diag_,
                 "ERROR: counting reference for region exceeding the end of the file by one "
                 "cluster or more: "
                 "offset 0x%" PRIx64 " size 0x%" PRIx64 "\n",
                 offset, size);
    res_.corruptions++;
    return;
  }
  uint64_t start = offset & ~(d_.cluster_size_ - 1);
  uint64_t last = (offset + size - 1) & ~(d_.cluster_size_ - 1);
  for (uint64_t c = start; c <= last; c += d_.cluster_size_) {
    uint64_t k = c >> d_.header_.cluster_bits;
    if (k >= nb_clusters_) resize_imrt(k + 1);
    uint64_t rc = get(k);
    if (rc == d_.refcount_max()) {
      std::fprintf(d_.diag_, "ERROR: overflow cluster offset=0x%" PRIx64 "\n", c);
      std::fprintf(d_.diag_,
                   "Use qemu-img amend to increase the refcount entry width or qemu-img convert to "
                   "create a clean "
                   "copy if the image cannot be opened for writing\n");
      res_.corruptions++;
      continue;
    }
    set(k, rc + 1);
  }
}

Result<> Checker::check_l2(uint64_t l2_offset, bool frag_info, RepairMode fix) {
  const uint64_t cs = d_.cluster_size_;
  std::vector<uint8_t> table(cs);
  if (!d_.file_.pread(table.data(), cs, l2_offset)) {
    std::fprintf(d_.diag_, "ERROR: I/O error in check_refcounts_l2\n");
    res_.check_errors++;
    return make_error(EIO, "I/O error in check_refcounts_l2");
  }
  uint64_t next_contiguous = 0;
  for (uint64_t i = 0; i < d_.l2_entries_; ++i) {
    uint64_t e = load_be64(&table[i * 8]);
    switch (d_.entry_type(e)) {
      case ClusterType::kCompressed: {
        if (e & kOflagCopied) {
          std::fprintf(d_.diag_,
                       "ERROR: coffset=0x%" PRIx64
                       ": copied flag must never be set for compressed clusters\n",
                       e & d_.coffset_mask_);
          e &= ~kOflagCopied;
          res_.corruptions++;
        }
        auto [off, len] = d_.compressed_range(e);
        inc(off, len);
        if (frag_info) {
          res_.allocated_clusters++;
          res_.compressed_clusters++;
          res_.fragmented_clusters++;
        }
        break;
      }
      case ClusterType::kNormal:
      case ClusterType::kZeroAlloc: {
        uint64_t off = e & kL2eOffsetMask;
        if (off & (cs - 1)) {
          res_.corruptions++;
          if (e & kOflagZero) {
            bool repair = fix == RepairMode::kAll;
            std::fprintf(d_.diag_,
                         "%s offset=%" PRIx64
                         ": Preallocated cluster is not properly aligned; L2 entry corrupted.\n",
                         repair ? "Repairing" : "ERROR", off);
            if (repair) {
              uint8_t be[8];
              store_be64(be, kOflagZero);
              if (d_.file_.pwrite(be, 8, l2_offset + i * 8)) {
                if (CachedTable* c = d_.l2_cache_->lookup(l2_offset))
                  std::memcpy(&c->data[i * 8], be, 8);
                res_.corruptions--;
                res_.corruptions_fixed++;
                continue;
              }
              res_.check_errors++;
            }
          } else {
            std::fprintf(d_.diag_,
                         "ERROR offset=%" PRIx64
                         ": Data cluster is not properly aligned; L2 entry corrupted.\n",
                         off);
          }
        }
        if (frag_info) {
          res_.allocated_clusters++;
          if (next_contiguous && off != next_contiguous) res_.fragmented_clusters++;
          next_contiguous = off + cs;
        }
        inc(off, cs);
        break;
      }
      default:
        break;
    }
  }
  return {};
}

Result<> Checker::check_l1(uint64_t l1_offset, uint64_t l1_size, bool frag_info, RepairMode fix) {
  if (l1_size == 0) return {};
  inc(l1_offset, l1_size * 8);
  std::vector<uint8_t> raw(l1_size * 8);
  if (!d_.file_.pread(raw.data(), raw.size(), l1_offset)) {
    std::fprintf(d_.diag_, "ERROR: I/O error in check_refcounts_l1\n");
    res_.check_errors++;
    return make_error(EIO, "I/O error in check_refcounts_l1");
  }
  for (uint64_t i = 0; i < l1_size; ++i) {
    uint64_t e = load_be64(&raw[i * 8]);
    if (e & kL1eReservedMask) {
      std::fprintf(d_.diag_, "ERROR found L1 entry with reserved bits set: %" PRIx64 "\n", e);
      res_.corruptions++;
    }
    uint64_t l2 = e & kL1eOffsetMask;
    if (!l2) continue;
    inc(l2, d_.cluster_size_);
    if (l2 & (d_.cluster_size_ - 1)) {
      std::fprintf(
          d_.diag_,
          "ERROR l2_offset=%" PRIx64 ": Table is not cluster aligned; L1 entry corrupted\n", l2);
      res_.corruptions++;
    }
    CORVID_TRY_VOID(check_l2(l2, frag_info, fix));
  }
  return {};
}

Result<> Checker::check_refblocks(RepairMode fix) {
  const uint64_t cs = d_.cluster_size_;
  for (uint64_t i = 0; i < d_.reftable_.size(); ++i) {
    uint64_t off = d_.reftable_[i] & kReftOffsetMask;
    uint64_t cluster = off >> d_.header_.cluster_bits;
    if (d_.reftable_[i] & kReftReservedMask) {
      std::fprintf(d_.diag_, "ERROR refcount table entry %" PRIu64 " has reserved bits set\n", i);
      res_.corruptions++;
      rebuild_ = true;
      continue;
    }
    if (off & (cs - 1)) {
      std::fprintf(d_.diag_,
                   "ERROR refcount block %" PRIu64
                   " is not cluster aligned; refcount table entry corrupted\n",
                   i);
      res_.corruptions++;
      rebuild_ = true;
      continue;
    }
    if (cluster >= nb_clusters_ && off) {
      res_.corruptions++;
      bool repair = fix == RepairMode::kAll;
      std::fprintf(d_.diag_, "%s refcount block %" PRIu64 " is outside image\n",
                   repair ? "Repairing" : "ERROR", i);
      if (repair) {
        auto t = d_.file_.truncate(off + cs);
        if (t) {
          resize_imrt((off + cs + cs - 1) / cs);
          res_.corruptions--;
          res_.corruptions_fixed++;
          inc(off, cs);
          continue;
        }
        rebuild_ = true;
        std::fprintf(d_.diag_, "ERROR could not resize image: %s\n", std::strerror(t.error().code));
      }
      continue;
    }
    if (off) {
      inc(off, cs);
      if (get(cluster) != 1) {
        std::fprintf(d_.diag_, "ERROR refcount block %" PRIu64 " refcount=%" PRIu64 "\n", i,
                     get(cluster));
        res_.corruptions++;
        rebuild_ = true;
      }
    }
  }
  return {};
}

Result<> Checker::calculate(RepairMode fix) {
  inc(0, d_.cluster_size_);
  CORVID_TRY_VOID(check_l1(d_.header_.l1_table_offset, d_.l1_.size(), true, fix));
  uint64_t sn_size = 0;
  for (const auto& sn : d_.snapshots_) {
    sn_size = (sn_size + 7) & ~uint64_t{7};
    sn_size += 40 + 24 + sn.extra.size() + sn.id.size() + sn.name.size();
    if (sn.l1_table_offset & (d_.cluster_size_ - 1)) {
      std::fprintf(d_.diag_,
                   "ERROR snapshot %s (%s) l1_offset=%#" PRIx64
                   ": L1 table is not cluster aligned; snapshot table entry corrupted\n",
                   sn.id.c_str(), sn.name.c_str(), sn.l1_table_offset);
      res_.corruptions++;
      continue;
    }
    if (sn.l1_size > kMaxL1Bytes / 8) {
      std::fprintf(d_.diag_,
                   "ERROR snapshot %s (%s) l1_size=%#" PRIx32
                   ": L1 table is too large; snapshot table entry corrupted\n",
                   sn.id.c_str(), sn.name.c_str(), sn.l1_size);
      res_.corruptions++;
      continue;
    }
    CORVID_TRY_VOID(check_l1(sn.l1_table_offset, sn.l1_size, false, fix));
  }
  inc(d_.header_.snapshots_offset, sn_size);
  inc(d_.header_.refcount_table_offset, d_.reftable_.size() * 8);
  return check_refblocks(fix);
}

void Checker::compare(RepairMode fix, int64_t* highest) {
  for (uint64_t i = 0; i < nb_clusters_; ++i) {
    auto r1 = d_.get_refcount(i);
    if (!r1) {
      std::fprintf(d_.diag_, "Can't get refcount for cluster %" PRIu64 ": %s\n", i,
                   std::strerror(r1.error().code ? r1.error().code : EIO));
      res_.check_errors++;
      continue;
    }
    uint64_t rc1 = *r1, rc2 = get(i);
    if (rc1 > 0 || rc2 > 0) *highest = static_cast<int64_t>(i);
    if (rc1 == rc2) continue;
    int64_t* fixed = nullptr;
    if (rc1 == 0) {
      rebuild_ = true;
    } else if (rc1 > rc2 && fix != RepairMode::kNone) {
      fixed = &res_.leaks_fixed;
    } else if (rc1 < rc2 && fix == RepairMode::kAll) {
      fixed = &res_.corruptions_fixed;
    }
    std::fprintf(d_.diag_, "%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64 "\n",
                 fixed       ? "Repairing"
                 : rc1 < rc2 ? "ERROR"
                             : "Leaked",
                 i, rc1, rc2);
    if (fixed) {
      int64_t diff = rc1 > rc2 ? -static_cast<int64_t>(rc1 - rc2) : static_cast<int64_t>(rc2 - rc1);
      // Clusters a repair frees are discarded in the file (QEMU's QCOW2_DISCARD_ALWAYS).
      d_.punch_freed_ = true;
      bool ok = d_.update_refcount(i << d_.header_.cluster_bits, 1, diff).has_value();
      d_.punch_freed_ = false;
      if (ok) {
        ++*fixed;
        continue;
      }
    }
    if (rc1 < rc2) {
      res_.corruptions++;
    } else {
      res_.leaks++;
    }
  }
}

uint64_t Checker::alloc_imrt(uint64_t count, uint64_t* first_free) {
  uint64_t cluster = *first_free, contiguous = 0;
  bool first_gap = true;
  for (; cluster < nb_clusters_ && contiguous < count; ++cluster) {
    if (!get(cluster)) {
      ++contiguous;
      if (first_gap) {
        *first_free = cluster;
        first_gap = false;
      }
    } else {
      contiguous = 0;
    }
  }
  if (contiguous < count) resize_imrt(cluster + count - contiguous);
  cluster -= contiguous;
  for (uint64_t i = 0; i < count; ++i) set(cluster + i, 1);
  return cluster << d_.header_.cluster_bits;
}

// Writes a refblock (a slice of the IMRT) for every block of [first, end) that holds
// non-zero counts; returns whether the on-disk reftable had to grow.
bool Checker::write_refblocks(uint64_t first, uint64_t end, std::vector<uint64_t>& table,
                              Error* err) {
  const uint64_t cs = d_.cluster_size_;
  const uint32_t bits = d_.refblock_bits_;
  uint64_t first_free = 0;
  bool grown = false;
  for (uint64_t cluster = first; cluster < end; ++cluster) {
    if (!get(cluster)) continue;
    uint64_t index = cluster >> bits;
    uint64_t block_start = index << bits;
    uint64_t offset;
    if (table.size() > index && table[index]) {
      offset = table[index];
    } else {
      if (first_free < block_start) first_free = block_start;
      offset = alloc_imrt(1, &first_free);
      uint64_t oc = offset / cs;
      if (oc >= end) end = oc + 1;
      if (table.size() <= index) {
        uint64_t per = cs / 8;
        table.resize((index + 1 + per - 1) / per * per, 0);
        grown = true;
      }
      table[index] = offset;
    }
    // Never over what the old structures call metadata (QEMU's overlap check does the same).
    if (auto ov = d_.check_overlap(offset, cs); !ov) {
      *err = Error{EIO, "ERROR writing refblock: Input/output error"};
      return grown;
    }
    // The IMRT always covers whole refblocks, so the slice is complete.
    auto w = d_.file_.pwrite(imrt_.data() + index * cs, cs, offset);
    if (!w) {
      *err = w.error();
      return grown;
    }
    cluster = block_start + d_.refblock_entries_ - 1;
  }
  return grown;
}

Result<> Checker::rebuild() {
  const uint64_t cs = d_.cluster_size_;
  d_.rb_cache_->clear();
  std::vector<uint64_t> table;
  Error err;
  bool changed = write_refblocks(0, nb_clusters_, table, &err);
  if (!err.message.empty()) return tl::unexpected(err);
  uint64_t offset = 0, clusters = 0;
  do {
    uint64_t length = table.size() * 8;
    clusters = (length + cs - 1) / cs;
    uint64_t first_free = 0;
    offset = alloc_imrt(clusters, &first_free);
    uint64_t start = offset / cs;
    changed = write_refblocks(start, start + clusters, table, &err);
    if (!err.message.empty()) return tl::unexpected(err);
    if (changed) {
      for (uint64_t c = start; c < start + clusters; ++c) set(c, 0);
    }
  } while (changed);
  std::vector<uint8_t> raw(table.size() * 8);
  for (size_t i = 0; i < table.size(); ++i) store_be64(&raw[i * 8], table[i]);
  CORVID_TRY_VOID(d_.file_.pwrite(raw.data(), raw.size(), offset));
  uint8_t hdr[12];
  store_be64(hdr, offset);
  store_be32(hdr + 8, static_cast<uint32_t>(clusters));
  CORVID_TRY_VOID(d_.file_.pwrite(hdr, sizeof hdr, kOffsetRefcountTable));
  CORVID_TRY_VOID(d_.file_.sync());
  d_.reftable_ = std::move(table);
  d_.header_.refcount_table_offset = offset;
  d_.header_.refcount_table_clusters = static_cast<uint32_t>(clusters);
  d_.free_cluster_index_ = 0;
  d_.metadata_changed();
  return {};
}

Result<> Checker::check_copied(RepairMode fix) {
  bool repair = fix == RepairMode::kAll || (fix == RepairMode::kLeaks && !res_.check_errors &&
                                            !res_.corruptions && !res_.leaks);
  const uint64_t cs = d_.cluster_size_;
  std::vector<uint8_t> table(cs);
  for (uint64_t i = 0; i < d_.l1_.size(); ++i) {
    uint64_t l1e = d_.l1_[i];
    uint64_t l2 = l1e & kL1eOffsetMask;
    if (!l2) continue;
    auto rc = d_.get_refcount(l2 >> d_.header_.cluster_bits);
    if (!rc) continue;
    if ((*rc == 1) != bool(l1e & kOflagCopied)) {
      res_.corruptions++;
      std::fprintf(d_.diag_,
                   "%s OFLAG_COPIED L2 cluster: l1_index=%d l1_entry=%" PRIx64 " refcount=%" PRIu64
                   "\n",
                   repair ? "Repairing" : "ERROR", static_cast<int>(i), l1e, *rc);
      if (repair) {
        d_.l1_[i] = *rc == 1 ? l1e | kOflagCopied : l1e & ~kOflagCopied;
        if (!d_.write_l1_entry(i)) {
          res_.check_errors++;
          return make_error(EIO, "Could not write L1 entry");
        }
        res_.corruptions--;
        res_.corruptions_fixed++;
      }
    }
    if (!d_.file_.pread(table.data(), cs, l2)) {
      std::fprintf(d_.diag_, "ERROR: Could not read L2 table: %s\n", std::strerror(EIO));
      res_.check_errors++;
      return make_error(EIO, "Could not read L2 table");
    }
    int dirty = 0;
    for (uint64_t j = 0; j < d_.l2_entries_; ++j) {
      uint64_t e = load_be64(&table[j * 8]);
      ClusterType type = d_.entry_type(e);
      if (type != ClusterType::kNormal && type != ClusterType::kZeroAlloc) continue;
      auto drc = d_.get_refcount((e & kL2eOffsetMask) >> d_.header_.cluster_bits);
      if (!drc) continue;
      if ((*drc == 1) != bool(e & kOflagCopied)) {
        res_.corruptions++;
        std::fprintf(d_.diag_,
                     "%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                     repair ? "Repairing" : "ERROR", e, *drc);
        if (repair) {
          store_be64(&table[j * 8], *drc == 1 ? e | kOflagCopied : e & ~kOflagCopied);
          ++dirty;
        }
      }
    }
    if (dirty) {
      if (!d_.file_.pwrite(table.data(), cs, l2)) {
        std::fprintf(d_.diag_, "ERROR: Could not write L2 table: %s\n", std::strerror(EIO));
        res_.check_errors++;
        return make_error(EIO, "Could not write L2 table");
      }
      d_.l2_cache_->discard(l2);
      res_.corruptions -= dirty;
      res_.corruptions_fixed += dirty;
    }
  }
  return {};
}

Result<> Checker::check_refcounts(RepairMode fix) {
  const uint64_t cs = d_.cluster_size_;
  uint64_t file_clusters = (d_.file_size() + cs - 1) / cs;
  if (file_clusters > INT32_MAX) {
    res_.check_errors++;
    return make_error(EFBIG, "Image file too large to check");
  }
  resize_imrt(file_clusters);
  res_.total_clusters = static_cast<int64_t>((d_.header_.size + cs - 1) / cs);
  CORVID_TRY_VOID(calculate(fix));
  CheckResult pre = res_;
  int64_t highest = -1;
  compare(RepairMode::kNone, &highest);
  if (rebuild_ && fix == RepairMode::kAll) {
    CheckResult old = res_;
    int64_t fresh_leaks = 0;
    std::fprintf(d_.diag_, "Rebuilding refcount structure\n");
    CORVID_TRY_VOID(rebuild());
    res_.corruptions = 0;
    res_.leaks = 0;
    rebuild_ = false;
    std::fill(imrt_.begin(), imrt_.end(), 0);
    CORVID_TRY_VOID(calculate(RepairMode::kNone));
    CheckResult saved = res_;
    res_ = CheckResult{};
    compare(RepairMode::kLeaks, &highest);
    if (rebuild_) std::fprintf(d_.diag_, "ERROR rebuilt refcount structure is still broken\n");
    fresh_leaks = res_.leaks;
    res_ = saved;
    if (res_.corruptions < old.corruptions)
      res_.corruptions_fixed += old.corruptions - res_.corruptions;
    if (res_.leaks < old.leaks) res_.leaks_fixed += old.leaks - res_.leaks;
    res_.leaks += fresh_leaks;
  } else if (fix != RepairMode::kNone) {
    if (rebuild_) {
      std::fprintf(d_.diag_, "ERROR need to rebuild refcount structures\n");
      res_.check_errors++;
      return make_error(EIO, "Input/output error");
    }
    if (res_.leaks || res_.corruptions) {
      res_ = pre;
      compare(fix, &highest);
    }
  }
  CORVID_TRY_VOID(check_copied(fix));
  res_.image_end_offset = (highest + 1) * static_cast<int64_t>(cs);
  return {};
}

}  // namespace qcow2

Result<CheckResult> qcow2::Device::check(RepairMode mode) {
  if (mode != RepairMode::kNone && read_only()) return make_error(EACCES, "Image is read-only");
  while (engine_->in_flight() > 0) engine_->poll(true);
  if (!read_only()) CORVID_TRY_VOID(flush_metadata());  // the checker reads tables from the file
  if (snapshots_.empty() && header_.nb_snapshots) {
    auto r = read_snapshots();
    if (!r) {
      CheckResult res;
      res.check_errors = 1;
      return res;
    }
  }
  CheckResult res;
  Checker checker(*this, res);
  auto r = checker.check_refcounts(mode);
  if (!r) {
    if (res.check_errors == 0) res.check_errors = 1;
    return tl::unexpected(r.error());
  }
  CORVID_TRY_VOID(flush_refblocks());
  if (mode != RepairMode::kNone && res.check_errors == 0 && res.corruptions == 0) {
    if (header_.incompatible_features & (kIncompatDirty | kIncompatCorrupt)) {
      CORVID_TRY_VOID(file_.sync());
      header_.incompatible_features &= ~(kIncompatDirty | kIncompatCorrupt);
      broken_ = false;
      CORVID_TRY_VOID(rewrite_header());
    }
  }
  return res;
}

Result<CheckResult> check_image(BlockDevice& device, RepairMode mode) {
  auto* q = dynamic_cast<qcow2::Device*>(&device);
  if (q == nullptr) return make_error(ENOTSUP, "This image format does not support checks");
  return q->check(mode);
}

}  // namespace corvid::block
