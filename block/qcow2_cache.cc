#include "block/qcow2_cache.h"

#include <cstring>

namespace corvid::block::qcow2 {

Result<CachedTable*> TableCache::slot(const ImageFile& file, uint64_t offset) {
  size_t i;
  if (tables_.size() < capacity_) {
    i = tables_.size();
    tables_.emplace_back();
    tables_.back().data.resize(table_size_);
  } else {
    i = 0;
    for (size_t j = 1; j < tables_.size(); ++j) {
      if (tables_[j].last_use < tables_[i].last_use) i = j;
    }
    CachedTable& victim = tables_[i];
    if (victim.dirty) {
      if (barrier_) CORVID_TRY_VOID(barrier_());
      CORVID_TRY_VOID(file.pwrite(victim.data.data(), table_size_, victim.offset));
      victim.dirty = false;
    }
    index_.erase(victim.offset);
  }
  CachedTable& t = tables_[i];
  t.offset = offset;
  t.dirty = false;
  t.last_use = ++clock_;
  index_[offset] = i;
  last_ = &t;
  return &t;
}

Result<CachedTable*> TableCache::get(const ImageFile& file, uint64_t offset) {
  if (CachedTable* t = lookup(offset)) return t;
  CachedTable* t = CORVID_TRY(slot(file, offset));
  auto r = file.pread(t->data.data(), table_size_, offset);
  if (!r) {
    discard(offset);
    return tl::unexpected(r.error());
  }
  return t;
}

Result<CachedTable*> TableCache::get_empty(const ImageFile& file, uint64_t offset) {
  CachedTable* t = lookup(offset);
  if (t == nullptr) t = CORVID_TRY(slot(file, offset));
  std::memset(t->data.data(), 0, table_size_);
  return t;
}

Result<> TableCache::flush(const ImageFile& file) {
  if (barrier_ && has_dirty()) CORVID_TRY_VOID(barrier_());
  for (auto& t : tables_) {
    if (!t.dirty) continue;
    CORVID_TRY_VOID(file.pwrite(t.data.data(), table_size_, t.offset));
    t.dirty = false;
  }
  return {};
}

bool TableCache::has_dirty() const {
  for (const auto& t : tables_) {
    if (t.dirty) return true;
  }
  return false;
}

void TableCache::discard(uint64_t offset) {
  auto it = index_.find(offset);
  if (it == index_.end()) return;
  CachedTable& t = tables_[it->second];
  t.dirty = false;
  t.last_use = 0;
  t.offset = ~0ull;
  index_.erase(it);
  if (last_ == &t) last_ = nullptr;
}

void TableCache::clear() {
  tables_.clear();
  index_.clear();
  last_ = nullptr;
}

}  // namespace corvid::block::qcow2
