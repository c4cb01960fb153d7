// The qcow2 driver. Guest data moves asynchronously through the IoEngine; metadata (L1/L2
// tables, refcounts, header) is read and written synchronously on the buffered descriptor
// through the engine's blocking requests. Under writeback/none/unsafe, L2 and refcount
// updates are cached and written back in dependency order (refcounts and data, fdatasync,
// then L2 tables; see docs/block.md); under writethrough/directsync they are written through. Writes into
// clusters that are already allocated and not shared (COPIED) and reads of data clusters are
// pure engine requests; allocating writes, copy-on-write and compressed reads run inline.
// Layout of the implementation: qcow2_open.cc (open, close, header updates), qcow2_refcount.cc
// (refcounts, allocation), qcow2_cluster.cc (L1/L2 mapping), qcow2_io.cc (request paths),
// qcow2_create.cc, qcow2_snapshot.cc, qcow2_check.cc, qcow2_compress.cc.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "block/driver.h"
#include "block/image_file.h"
#include "block/iov.h"
#include "block/qcow2_cache.h"
#include "block/qcow2_format.h"
#include "block/request_pool.h"

namespace corvid::block {

struct CheckResult;
enum class RepairMode;

namespace qcow2 {

enum class ClusterType { kUnallocated, kZeroPlain, kZeroAlloc, kNormal, kCompressed };

// A run of guest clusters with the same type and (for data) contiguous host offsets, all in
// one L2 table.
struct Extent {
  ClusterType type = ClusterType::kUnallocated;
  uint64_t host_offset = 0;  // of the first byte (normal, zero-alloc, compressed descriptor)
  uint64_t length = 0;       // bytes from the queried guest offset
  bool copied = false;       // every cluster of the run has refcount 1 (writable in place)
  uint64_t l2_entry = 0;     // first entry (compressed descriptor)
};

struct Snapshot {
  uint64_t l1_table_offset = 0;
  uint32_t l1_size = 0;
  std::string id, name;
  uint32_t date_sec = 0, date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  uint64_t vm_state_size = 0;
  uint64_t disk_size = 0;
  uint64_t icount = ~0ull;
  std::vector<uint8_t> extra;  // extra data beyond the fields we know, kept verbatim
};

class Device final : public ImageDriver {
 public:
  struct OpenState;  // chain bookkeeping (loop detection)
  static Result<std::unique_ptr<ImageDriver>> open(const std::string& path,
                                                   const OpenOptions& options, IoEngine* engine,
                                                   std::unique_ptr<IoEngine> owned,
                                                   OpenState* chain, bool check_mode);
  ~Device() override;

  uint64_t size() const override { return header_.size; }
  bool read_only() const override { return file_.read_only(); }
  std::string format_name() const override { return "qcow2"; }
  void read(uint64_t offset, const iovec* iov, int iovcnt, Completion done) override;
  void write(uint64_t offset, const iovec* iov, int iovcnt, Completion done) override;
  void flush(Completion done) override;
  void discard(uint64_t offset, uint64_t len, Completion done) override;
  void write_zeroes(uint64_t offset, uint64_t len, bool may_unmap, Completion done) override;
  Result<> close() override;

  Result<BlockStatus> status(uint64_t offset, uint64_t length) override;
  Result<ImageInfo> info() override;
  Result<> resize(uint64_t new_size, bool shrink) override;
  Result<> pread_sync(uint64_t offset, void* buf, size_t len) override {
    return read_sync_chain(offset, static_cast<uint8_t*>(buf), len);
  }

  // Public to the block library (snapshot.h, check.h, compressed writes, amend).
  Result<> write_compressed(uint64_t offset, const void* buf, size_t len);
  const std::vector<Snapshot>& snapshots() const { return snapshots_; }
  Result<> snapshot_create(const std::string& name);
  Result<> snapshot_apply(const std::string& id_or_name);
  Result<> snapshot_delete(const std::string& id_or_name);
  Result<CheckResult> check(RepairMode mode);
  Result<> amend(const std::map<std::string, std::string>& options);
  Result<> change_backing_file(const std::string& backing, const std::string& backing_fmt);
  Result<> truncate(uint64_t new_size, bool shrink, const std::string& prealloc);
  void set_diagnostics(FILE* out) { diag_ = out; }
  int bottom_depth() const override;
  const Header& header() const { return header_; }
  // The second half of create(): refcounts for the first three clusters, the full header,
  // growth to `size` with the preallocation mode, the backing file.
  Result<> finish_create(uint64_t size, const std::string& prealloc,
                         const std::string& backing_file, const std::string& backing_fmt);
  ImageDriver* backing() const { return backing_.get(); }
  uint64_t file_size() const;

 private:
  friend class Checker;
  Device(ImageFile file, Header header, IoEngine* engine, std::unique_ptr<IoEngine> owned);

  // ---- open / header (qcow2_open.cc)
  Result<> load(const OpenOptions& options, OpenState* chain, bool check_mode);
  Result<> open_backing(const OpenOptions& options, OpenState* chain);
  Result<> rewrite_header();
  Result<> mark_dirty();
  Result<> mark_clean();
  // Writes cached L2 tables (after their barrier) and, unless deferred, refcount blocks.
  Result<> flush_metadata();
  Result<> l2_write_barrier();
  // Fatal corruption: prints QEMU's message, sets the corrupt bit, fails all later requests.
  Error corruption(const std::string& message);
  bool refcounts_deferred() const {
    return (header_.incompatible_features & kIncompatDirty) && lazy_refcounts_;
  }

  // ---- refcounts (qcow2_refcount.cc)
  uint64_t clusters_of(uint64_t offset, uint64_t length) const;
  Result<uint64_t> get_refcount(uint64_t cluster_index);
  // Adds `addend` (negative: subtracts) to the refcount of every cluster in the byte range.
  // On failure the counts already changed are undone (once: the undo itself is not undone).
  Result<> update_refcount(uint64_t offset, uint64_t length, int64_t addend,
                           bool undo_on_error = true);
  Result<uint64_t> alloc_clusters_noref(uint64_t bytes);
  Result<uint64_t> alloc_clusters(uint64_t bytes);
  // Allocates `bytes` for a compressed cluster in a partly used cluster where possible.
  Result<uint64_t> alloc_bytes(uint64_t bytes);
  Result<> free_clusters(uint64_t offset, uint64_t length);
  Result<CachedTable*> refblock_for(uint64_t cluster_index, bool* retry);
  Result<uint64_t> refcount_area(uint64_t start_offset, uint64_t additional_clusters, bool exact,
                                 uint64_t new_refblock_index, uint64_t new_refblock_offset);
  Result<> write_refblock_range(CachedTable* t, uint64_t first, uint64_t last);
  Result<> flush_refblocks();
  uint64_t refcount_get(const uint8_t* block, uint64_t index) const;
  void refcount_set(uint8_t* block, uint64_t index, uint64_t value) const;
  uint64_t refcount_max() const {
    return header_.refcount_order == 6 ? ~0ull : (1ull << (1u << header_.refcount_order)) - 1;
  }

  // ---- L1/L2 (qcow2_cluster.cc)
  ClusterType entry_type(uint64_t l2_entry) const;
  Result<Extent> map(uint64_t offset, uint64_t max_length);
  Result<CachedTable*> l2_table(uint64_t l1_index, uint64_t* l2_offset);
  // The L2 table for l1_index, allocated or copied (when shared) so it can be modified.
  Result<CachedTable*> l2_table_for_write(uint64_t l1_index);
  Result<> write_l2_entries(CachedTable* t, uint64_t first, uint64_t count);
  Result<> write_l1_entry(uint64_t index);
  Result<> grow_l1(uint64_t min_size, bool exact);
  Result<> free_any_cluster(uint64_t l2_entry);
  Result<> check_overlap(uint64_t offset, uint64_t length);
  void metadata_changed() { overlap_stale_ = true; }
  std::pair<uint64_t, uint64_t> compressed_range(uint64_t l2_entry) const;

  // ---- request paths (qcow2_io.cc)
  struct Req {
    Completion done;
    int pending = 0;
    int error = 0;
    std::string message;
    std::vector<iovec> iovs;     // slices of the caller's iovec array (capacity is reused)
    const iovec* iov = nullptr;  // the caller's vector on the single-extent fast path
    int iovcnt = 0;
    uint64_t len = 0;
  };
  enum class ZeroMode { kZero, kZeroUnmap, kDiscard };
  struct Piece {
    ClusterType type;
    uint64_t guest, host, len, l2_entry;
    size_t iov_first, iov_count;
  };
  Req* start_req(Completion done);
  void sub_done(Req* r, int64_t res);
  void release(Req* r);
  void finish_req(Req* r);
  Result<> read_compressed(uint64_t l2_entry, uint64_t in_cluster, uint8_t* out, uint64_t len);
  Result<> write_allocating(uint64_t offset, const iovec* iov, int iovcnt, uint64_t len);
  Result<> cow_fill(uint64_t guest_cluster, uint64_t l2_entry, uint64_t from, uint64_t to,
                    uint8_t* out);
  Result<> zero_clusters(uint64_t offset, uint64_t len, ZeroMode mode);
  bool reads_as_zero(uint64_t offset, uint64_t len);
  // Whether [offset, offset + len) reads as zeroes through the whole backing chain.
  bool chain_reads_zero(uint64_t offset, uint64_t len);
  // Zeroes the part [offset, offset + len) of one cluster: when the rest of the cluster reads
  // as zero and it holds no data, the whole cluster gets the zero flag (v3), else zero bytes.
  Result<> zero_partial_cluster(uint64_t offset, uint64_t len, bool may_unmap);
  void data_request_done();
  Result<> write_zeroes_sync(uint64_t offset, uint64_t len, bool may_unmap);
  Result<> read_sync_chain(uint64_t offset, uint8_t* buf, uint64_t len);
  bool usable(Completion& done, bool write, uint64_t offset, uint64_t len);

  // ---- resize and preallocation (qcow2_resize.cc)
  Result<> grow(uint64_t new_size, const std::string& prealloc);
  Result<> preallocate_metadata(uint64_t from, uint64_t to);
  Result<> preallocate_data(uint64_t from, uint64_t to, bool full);
  Result<> shrink(uint64_t new_size);
  Result<int64_t> last_used_cluster();

  Result<> expand_zero_clusters();

  // ---- snapshots (qcow2_snapshot.cc)
  Result<> read_snapshots();
  Result<> write_snapshots(std::vector<Snapshot> list);
  Result<std::vector<uint64_t>> read_l1(uint64_t offset, uint32_t size);
  // qcow2_update_snapshot_refcount: adds addend to every cluster the L1 tree references and
  // recomputes the COPIED flags; writes the L1 back to write_l1_at when non-zero.
  Result<> update_tree_refcount(std::vector<uint64_t>& l1, uint64_t write_l1_at, int addend);
  Result<size_t> find_snapshot(const std::string& id_or_name) const;

  ImageFile file_;
  Header header_;
  uint64_t cluster_size_ = 0;
  uint32_t l2_bits_ = 0;
  uint64_t l2_entries_ = 0;
  uint64_t refblock_entries_ = 0;
  uint32_t refblock_bits_ = 0;
  uint32_t csize_shift_ = 0;
  uint64_t csize_mask_ = 0, coffset_mask_ = 0;
  std::vector<uint64_t> l1_;        // active L1, host order
  std::vector<uint64_t> reftable_;  // host order
  std::unique_ptr<TableCache> l2_cache_, rb_cache_;
  uint64_t free_cluster_index_ = 0;
  uint64_t free_byte_offset_ = 0;  // compressed-cluster packing position
  std::vector<Snapshot> snapshots_;
  std::unique_ptr<ImageDriver> backing_;
  bool lazy_refcounts_ = false;
  bool meta_write_back_ = false;  // L2/refcount updates cached until flush (see load())
  bool broken_ = false;           // a fatal corruption was signalled
  bool corrupt_reported_ = false;
  bool check_mode_ = false;   // opened for qemu-img check: close keeps the dirty bit
  bool punch_freed_ = false;  // while a guest discard frees clusters
  FILE* diag_ = stderr;       // check/repair diagnostics
  bool closed_ = false;
  // Freed clusters are not reused while data requests are in flight (they might still land
  // in them); the allocator's scan position is lowered once the device is idle.
  unsigned data_in_flight_ = 0;
  uint64_t pending_free_index_ = ~0ull;
  bool overlap_stale_ = true;
  std::vector<std::pair<uint64_t, uint64_t>> overlap_map_;  // sorted [start, end) of metadata
  RequestPool<Req> pool_;
  std::vector<uint8_t> scratch_;
  std::vector<Piece> pieces_;
};

Result<> create(const std::string& path, const CreateOptions& options);
// Compresses a cluster into out (at most cap bytes); ENOSPC when it does not fit.
Result<size_t> compress_cluster(uint8_t type, const uint8_t* in, size_t len, uint8_t* out,
                                size_t cap);
Result<> decompress_cluster(uint8_t type, const uint8_t* in, size_t in_len, uint8_t* out,
                            size_t out_len);
std::string resolve_backing_path(const std::string& image, const std::string& backing);

}  // namespace qcow2
}  // namespace corvid::block
