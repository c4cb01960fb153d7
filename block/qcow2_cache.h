// A bounded cache of cluster-sized metadata tables (L2 tables, refcount blocks), kept in their
// on-disk (big-endian) form. Least-recently-used tables are evicted; dirty ones are written
// back first. Table pointers stay valid until the next get()/get_empty() on the same cache.
// A write barrier (QEMU's cache dependency) runs before any dirty table is written back: the
// L2 cache's makes refcounts and guest data durable first.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "block/image_file.h"

namespace corvid::block::qcow2 {

struct CachedTable {
  uint64_t offset = 0;
  std::vector<uint8_t> data;
  bool dirty = false;
  uint64_t last_use = 0;
};

class TableCache {
 public:
  TableCache(size_t table_size, size_t capacity) : table_size_(table_size), capacity_(capacity) {
    tables_.reserve(capacity_);  // table pointers must survive later insertions
  }

  CachedTable* lookup(uint64_t offset) {
    if (last_ && last_->offset == offset) return last_;
    auto it = index_.find(offset);
    if (it == index_.end()) return nullptr;
    last_ = &tables_[it->second];
    last_->last_use = ++clock_;
    return last_;
  }
  // The table at `offset`, read from the file when not cached.
  Result<CachedTable*> get(const ImageFile& file, uint64_t offset);
  // A zeroed table for `offset` without reading it (a newly allocated table).
  Result<CachedTable*> get_empty(const ImageFile& file, uint64_t offset);
  // Writes every dirty table back (after the barrier, when there is one).
  Result<> flush(const ImageFile& file);
  void set_write_barrier(std::function<Result<>()> barrier) { barrier_ = std::move(barrier); }
  bool has_dirty() const;
  // Forgets a table (freed cluster); dirty contents are dropped.
  void discard(uint64_t offset);
  void clear();

 private:
  Result<CachedTable*> slot(const ImageFile& file, uint64_t offset);

  size_t table_size_, capacity_;
  std::vector<CachedTable> tables_;
  std::unordered_map<uint64_t, size_t> index_;
  CachedTable* last_ = nullptr;
  uint64_t clock_ = 0;
  std::function<Result<>()> barrier_;
};

}  // namespace corvid::block::qcow2
