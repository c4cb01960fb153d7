// qcow2 internal snapshots (spec "Snapshots"): the snapshot table, and create/apply/delete
// with QEMU 7.2's ordering (qcow2-snapshot.c): copy the L1, raise the refcounts of the tree,
// then publish the new table.
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {
namespace {

constexpr size_t kEntryHeader = 40;
constexpr size_t kExtraKnown = 24;  // vm_state_size_large, disk_size, icount
constexpr uint32_t kMaxExtra = 1024;

}  // namespace

Result<> Device::read_snapshots() {
  snapshots_.clear();
  uint64_t off = header_.snapshots_offset;
  for (uint32_t i = 0; i < header_.nb_snapshots; ++i) {
    off = (off + 7) & ~uint64_t{7};
    uint8_t h[kEntryHeader];
    CORVID_TRY_VOID(file_.pread(h, sizeof h, off));
    off += sizeof h;
    Snapshot s;
    s.l1_table_offset = load_be64(h);
    s.l1_size = load_be32(h + 8);
    uint16_t id_len = load_be16(h + 12), name_len = load_be16(h + 14);
    s.date_sec = load_be32(h + 16);
    s.date_nsec = load_be32(h + 20);
    s.vm_clock_nsec = load_be64(h + 24);
    s.vm_state_size = load_be32(h + 32);
    uint32_t extra_len = load_be32(h + 36);
    if (extra_len > kMaxExtra)
      return errorf(EFBIG, "Too much extra metadata in snapshot table entry {}", i);
    std::vector<uint8_t> extra(extra_len);
    CORVID_TRY_VOID(file_.pread(extra.data(), extra_len, off));
    off += extra_len;
    if (extra_len >= 8) s.vm_state_size = load_be64(extra.data());
    s.disk_size = extra_len >= 16 ? load_be64(extra.data() + 8) : header_.size;
    s.icount = extra_len >= 24 ? load_be64(extra.data() + 16) : ~0ull;
    if (extra_len > kExtraKnown) s.extra.assign(extra.begin() + kExtraKnown, extra.end());
    std::string id(id_len, '\0'), name(name_len, '\0');
    CORVID_TRY_VOID(file_.pread(id.data(), id_len, off));
    off += id_len;
    CORVID_TRY_VOID(file_.pread(name.data(), name_len, off));
    off += name_len;
    s.id = std::move(id);
    s.name = std::move(name);
    if (s.l1_size > kMaxL1Bytes / 8) return make_error(EFBIG, "Snapshot L1 table too large");
    snapshots_.push_back(std::move(s));
  }
  return {};
}

Result<> Device::write_snapshots(std::vector<Snapshot> list) {
  std::vector<uint8_t> table;
  for (const auto& s : list) {
    table.resize((table.size() + 7) & ~size_t{7}, 0);
    size_t at = table.size();
    size_t extra_len = kExtraKnown + s.extra.size();
    table.resize(at + kEntryHeader + extra_len + s.id.size() + s.name.size(), 0);
    uint8_t* h = table.data() + at;
    store_be64(h, s.l1_table_offset);
    store_be32(h + 8, s.l1_size);
    store_be16(h + 12, static_cast<uint16_t>(s.id.size()));
    store_be16(h + 14, static_cast<uint16_t>(s.name.size()));
    store_be32(h + 16, s.date_sec);
    store_be32(h + 20, s.date_nsec);
    store_be64(h + 24, s.vm_clock_nsec);
    store_be32(h + 32, static_cast<uint32_t>(std::min<uint64_t>(s.vm_state_size, UINT32_MAX)));
    store_be32(h + 36, static_cast<uint32_t>(extra_len));
    uint8_t* e = h + kEntryHeader;
    store_be64(e, s.vm_state_size);
    store_be64(e + 8, s.disk_size);
    store_be64(e + 16, s.icount);
    if (!s.extra.empty()) std::memcpy(e + kExtraKnown, s.extra.data(), s.extra.size());
    std::memcpy(e + extra_len, s.id.data(), s.id.size());
    std::memcpy(e + extra_len + s.id.size(), s.name.data(), s.name.size());
  }
  uint64_t offset = 0;
  if (!table.empty()) {
    offset = CORVID_TRY(alloc_clusters(table.size()));
    CORVID_TRY_VOID(flush_refblocks());
    CORVID_TRY_VOID(check_overlap(offset, table.size()));
    CORVID_TRY_VOID(file_.pwrite(table.data(), table.size(), offset));
    CORVID_TRY_VOID(file_.sync());
  }
  uint8_t hdr[12];
  store_be32(hdr, static_cast<uint32_t>(list.size()));
  store_be64(hdr + 4, offset);
  CORVID_TRY_VOID(file_.pwrite(hdr, sizeof hdr, kOffsetNbSnapshots));
  CORVID_TRY_VOID(file_.sync());
  // The old table's size is what its entries occupied.
  uint64_t old_size = 0;
  for (const auto& s : snapshots_) {
    old_size = (old_size + 7) & ~uint64_t{7};
    old_size += kEntryHeader + kExtraKnown + s.extra.size() + s.id.size() + s.name.size();
  }
  uint64_t old_offset = header_.snapshots_offset;
  header_.nb_snapshots = static_cast<uint32_t>(list.size());
  header_.snapshots_offset = offset;
  snapshots_ = std::move(list);
  metadata_changed();
  if (old_offset && old_size) CORVID_TRY_VOID(free_clusters(old_offset, old_size));
  return {};
}

Result<std::vector<uint64_t>> Device::read_l1(uint64_t offset, uint32_t size) {
  if (offset & (cluster_size_ - 1)) return make_error(EINVAL, "Snapshot L1 table offset invalid");
  std::vector<uint8_t> raw(uint64_t{size} * 8);
  CORVID_TRY_VOID(file_.pread(raw.data(), raw.size(), offset));
  std::vector<uint64_t> l1(size);
  for (uint32_t i = 0; i < size; ++i) l1[i] = load_be64(&raw[i * 8]);
  return l1;
}

Result<> Device::update_tree_refcount(std::vector<uint64_t>& l1, uint64_t write_l1_at, int addend) {
  bool l1_changed = false;
  for (uint64_t i = 0; i < l1.size(); ++i) {
    uint64_t l2 = l1[i] & kL1eOffsetMask;
    if (!l2) continue;
    if (l2 & (cluster_size_ - 1)) {
      return tl::unexpected(corruption(
          fmt::format("L2 table offset {} unaligned (L1 index: {})", hexc(l2), hexc(i))));
    }
    CachedTable* t = CORVID_TRY(l2_cache_->get(file_, l2));
    std::vector<uint8_t> data = t->data;  // refcount updates may not evict it, but be safe
    bool changed = false;
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      uint64_t e = load_be64(&data[j * 8]);
      ClusterType type = entry_type(e);
      if (type == ClusterType::kCompressed) {
        if (addend) {
          auto [off, len] = compressed_range(e);
          CORVID_TRY_VOID(update_refcount(off, len, addend));
        }
        continue;
      }
      if (type != ClusterType::kNormal && type != ClusterType::kZeroAlloc) continue;
      uint64_t off = e & kL2eOffsetMask;
      if (off & (cluster_size_ - 1)) {
        return tl::unexpected(corruption(
            fmt::format("Cluster allocation offset {} unaligned (L2 offset: {}, L2 index: {})",
                        hexc(off), hexc(l2), hexc(j))));
      }
      if (addend) CORVID_TRY_VOID(update_refcount(off, cluster_size_, addend));
      uint64_t rc = CORVID_TRY(get_refcount(off >> header_.cluster_bits));
      uint64_t ne = rc == 1 ? (e | kOflagCopied) : (e & ~kOflagCopied);
      if (ne != e) {
        store_be64(&data[j * 8], ne);
        changed = true;
      }
    }
    if (changed) {
      CORVID_TRY_VOID(file_.pwrite(data.data(), cluster_size_, l2));
      if (CachedTable* c = l2_cache_->lookup(l2)) c->data = data;
    }
    if (addend) CORVID_TRY_VOID(update_refcount(l2, cluster_size_, addend));
    uint64_t rc = CORVID_TRY(get_refcount(l2 >> header_.cluster_bits));
    uint64_t ne = rc == 1 ? (l1[i] | kOflagCopied) : (l1[i] & ~kOflagCopied);
    if (ne != l1[i]) {
      l1[i] = ne;
      l1_changed = true;
    }
  }
  if (l1_changed && write_l1_at) {
    std::vector<uint8_t> raw(l1.size() * 8);
    for (size_t i = 0; i < l1.size(); ++i) store_be64(&raw[i * 8], l1[i]);
    CORVID_TRY_VOID(file_.pwrite(raw.data(), raw.size(), write_l1_at));
    CORVID_TRY_VOID(file_.sync());
  }
  metadata_changed();
  return {};
}

Result<size_t> Device::find_snapshot(const std::string& key) const {
  for (size_t i = 0; i < snapshots_.size(); ++i) {
    if (snapshots_[i].id == key) return i;
  }
  for (size_t i = 0; i < snapshots_.size(); ++i) {
    if (snapshots_[i].name == key) return i;
  }
  return make_error(ENOENT, "snapshot not found");
}

Result<> Device::snapshot_create(const std::string& name) {
  if (read_only()) return make_error(EACCES, "Image is read-only");
  if (snapshots_.size() >= kMaxSnapshots) return make_error(EFBIG, "Too many snapshots");
  while (engine_->in_flight() > 0) engine_->poll(true);
  CORVID_TRY_VOID(flush_metadata());  // the snapshot code reads and writes tables directly
  Snapshot s;
  uint64_t max_id = 0;
  for (const auto& o : snapshots_)
    max_id = std::max<uint64_t>(max_id, std::strtoull(o.id.c_str(), nullptr, 10));
  s.id = std::to_string(max_id + 1);
  s.name = name;
  timeval tv;
  ::gettimeofday(&tv, nullptr);
  s.date_sec = static_cast<uint32_t>(tv.tv_sec);
  s.date_nsec = static_cast<uint32_t>(tv.tv_usec * 1000);
  s.disk_size = header_.size;
  s.icount = 0;
  s.l1_size = static_cast<uint32_t>(l1_.size());
  if (!l1_.empty()) {
    s.l1_table_offset = CORVID_TRY(alloc_clusters(l1_.size() * 8));
    CORVID_TRY_VOID(check_overlap(s.l1_table_offset, l1_.size() * 8));
    std::vector<uint8_t> raw(l1_.size() * 8);
    for (size_t i = 0; i < l1_.size(); ++i) store_be64(&raw[i * 8], l1_[i]);
    CORVID_TRY_VOID(file_.pwrite(raw.data(), raw.size(), s.l1_table_offset));
  }
  CORVID_TRY_VOID(update_tree_refcount(l1_, header_.l1_table_offset, 1));
  std::vector<Snapshot> list = snapshots_;
  list.push_back(std::move(s));
  return write_snapshots(std::move(list));
}

Result<> Device::snapshot_apply(const std::string& key) {
  if (read_only()) return make_error(EACCES, "Image is read-only");
  auto found = find_snapshot(key);
  if (!found) return make_error(ENOENT, "Failed to load snapshot: No such file or directory");
  while (engine_->in_flight() > 0) engine_->poll(true);
  CORVID_TRY_VOID(flush_metadata());  // the snapshot code reads and writes tables directly
  const Snapshot sn = snapshots_[*found];
  std::vector<uint64_t> snap_l1 = CORVID_TRY(read_l1(sn.l1_table_offset, sn.l1_size));
  CORVID_TRY_VOID(update_tree_refcount(snap_l1, 0, 1));
  if (sn.l1_size > l1_.size()) CORVID_TRY_VOID(grow_l1(sn.l1_size, true));
  std::vector<uint64_t> new_l1(l1_.size(), 0);
  std::copy(snap_l1.begin(), snap_l1.end(), new_l1.begin());
  std::vector<uint8_t> raw(new_l1.size() * 8);
  for (size_t i = 0; i < new_l1.size(); ++i) store_be64(&raw[i * 8], new_l1[i]);
  CORVID_TRY_VOID(file_.pwrite(raw.data(), raw.size(), header_.l1_table_offset));
  CORVID_TRY_VOID(file_.sync());
  std::vector<uint64_t> old_l1 = l1_;
  l1_ = new_l1;
  auto dec = update_tree_refcount(old_l1, 0, -1);
  CORVID_TRY_VOID(update_tree_refcount(l1_, header_.l1_table_offset, 0));
  if (!dec) return dec;
  if (sn.disk_size != header_.size && sn.disk_size != 0) {
    uint8_t be[8];
    store_be64(be, sn.disk_size);
    CORVID_TRY_VOID(file_.pwrite(be, 8, kOffsetSize));
    header_.size = sn.disk_size;
  }
  return {};
}

Result<> Device::snapshot_delete(const std::string& key) {
  if (read_only()) return make_error(EACCES, "Image is read-only");
  size_t index = CORVID_TRY(find_snapshot(key));
  while (engine_->in_flight() > 0) engine_->poll(true);
  CORVID_TRY_VOID(flush_metadata());  // the snapshot code reads and writes tables directly
  const Snapshot sn = snapshots_[index];
  std::vector<Snapshot> list = snapshots_;
  list.erase(list.begin() + static_cast<long>(index));
  CORVID_TRY_VOID(write_snapshots(std::move(list)));
  std::vector<uint64_t> snap_l1 = CORVID_TRY(read_l1(sn.l1_table_offset, sn.l1_size));
  CORVID_TRY_VOID(update_tree_refcount(snap_l1, 0, -1));
  if (sn.l1_size) CORVID_TRY_VOID(free_clusters(sn.l1_table_offset, uint64_t{sn.l1_size} * 8));
  return update_tree_refcount(l1_, header_.l1_table_offset, 0);
}

}  // namespace corvid::block::qcow2
