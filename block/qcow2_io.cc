// qcow2 request paths. Reads: one engine request per run of contiguous data clusters, zeros
// for unallocated/zero clusters, the backing file for unallocated ones when there is one,
// inline decompression for compressed ones. Writes into allocated, unshared (COPIED) clusters
// are engine requests; everything else (allocation, copy-on-write, zero flags) runs inline and
// completes at the next poll.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "base/endian.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {

Device::Req* Device::start_req(Completion done) {
  Req* r = pool_.get();
  r->done = std::move(done);
  r->pending = 1;  // held by the submitting call until it has issued everything
  r->error = 0;
  r->message.clear();
  r->iovs.clear();
  r->iov = nullptr;
  r->iovcnt = 0;
  r->len = 0;
  return r;
}

void Device::sub_done(Req* r, int64_t res) {
  if (res < 0 && r->error == 0) r->error = static_cast<int>(-res);
  if (--r->pending == 0) finish_req(r);
}

void Device::finish_req(Req* r) {
  Completion done = std::move(r->done);
  r->done = nullptr;
  int err = r->error;
  std::string message = std::move(r->message);
  pool_.put(r);
  if (err) {
    done(make_error(err, message.empty() ? std::string(std::strerror(err)) : message));
  } else {
    done(Result<>{});
  }
}

void Device::data_request_done() {
  if (--data_in_flight_ == 0 && pending_free_index_ != ~0ull) {
    free_cluster_index_ = std::min(free_cluster_index_, pending_free_index_);
    pending_free_index_ = ~0ull;
  }
}

bool Device::usable(Completion& done, bool write, uint64_t offset, uint64_t len) {
  int err = 0;
  if (closed_ || broken_) {
    err = ENOMEDIUM;
  } else if (write && read_only()) {
    err = EACCES;
  } else if (!in_range(offset, len)) {
    err = EIO;
  }
  if (err == 0) return true;
  Req* r = start_req(std::move(done));
  engine_->complete_later([this, r](int64_t res) { sub_done(r, res); }, -err);
  return false;
}

// Drops the submitting call's hold on r; when nothing else is pending the completion is
// delivered at the next poll (callbacks never run inside the call that queued the request).
void Device::release(Req* r) {
  if (r->pending > 1) {
    --r->pending;
    return;
  }
  engine_->complete_later([this, r](int64_t res) { sub_done(r, res); }, 0);
}

void Device::read(uint64_t offset, const iovec* iov, int iovcnt, Completion done) {
  uint64_t len = iov_length(iov, iovcnt);
  if (!usable(done, false, offset, len)) return;
  Req* r = start_req(std::move(done));
  auto fail = [&](const Error& e) {
    r->error = e.code ? e.code : EIO;
    r->message = e.message;
  };
  // Fast path: the whole request is one run of data clusters.
  auto first = map(offset, len);
  if (first && first->type == ClusterType::kNormal && first->length == len) {
    r->iov = iov;
    r->iovcnt = iovcnt;
    r->len = len;
    ++r->pending;
    ++data_in_flight_;
    int fd = file_.is_aligned(first->host_offset, iov, iovcnt) ? file_.data_fd() : file_.meta_fd();
    engine_->readv(fd, first->host_offset, iov, iovcnt, [this, r](int64_t res) {
      data_request_done();
      if (res >= 0 && static_cast<uint64_t>(res) < r->len) iov_zero_from(r->iov, r->iovcnt, res);
      sub_done(r, res < 0 ? res : 0);
    });
    release(r);
    return;
  }
  if (!first) {
    fail(first.error());
    release(r);
    return;
  }
  // General path: plan every extent first (slices must not move once handed out), then issue.
  // No callback runs inside read(), so one planning buffer per device suffices.
  std::vector<Piece>& pieces = pieces_;
  pieces.clear();
  for (uint64_t pos = 0; pos < len;) {
    auto x = pos == 0 ? first : map(offset + pos, len - pos);
    if (!x) {
      fail(x.error());
      break;
    }
    size_t before = r->iovs.size();
    iov_slice(iov, iovcnt, pos, x->length, r->iovs);
    pieces.push_back({x->type, offset + pos, x->host_offset, x->length, x->l2_entry, before,
                      r->iovs.size() - before});
    pos += x->length;
  }
  if (r->error == 0) {
    for (const Piece& p : pieces) {
      iovec* sl = r->iovs.data() + p.iov_first;
      int cnt = static_cast<int>(p.iov_count);
      switch (p.type) {
        case ClusterType::kNormal: {
          ++r->pending;
          ++data_in_flight_;
          int fd = file_.is_aligned(p.host, sl, cnt) ? file_.data_fd() : file_.meta_fd();
          uint64_t plen = p.len;
          engine_->readv(fd, p.host, sl, cnt, [this, r, sl, cnt, plen](int64_t res) {
            data_request_done();
            if (res >= 0 && static_cast<uint64_t>(res) < plen) iov_zero_from(sl, cnt, res);
            sub_done(r, res < 0 ? res : 0);
          });
          break;
        }
        case ClusterType::kCompressed: {
          scratch_.resize(p.len);
          auto c =
              read_compressed(p.l2_entry, p.guest & (cluster_size_ - 1), scratch_.data(), p.len);
          if (!c) {
            fail(c.error());
          } else {
            iov_from_buf(sl, cnt, 0, scratch_.data(), p.len);
          }
          break;
        }
        case ClusterType::kUnallocated:
          if (backing_ && p.guest < backing_->size()) {
            uint64_t in_backing = std::min(p.len, backing_->size() - p.guest);
            if (in_backing < p.len) iov_zero_from(sl, cnt, in_backing);
            // The backing read covers only its part of the slice: trim a copy of the vector.
            size_t keep = 0;
            uint64_t acc = 0;
            while (keep < p.iov_count && acc < in_backing) acc += sl[keep++].iov_len;
            sl[keep - 1].iov_len -= acc - in_backing;
            ++r->pending;
            backing_->read(p.guest, sl, static_cast<int>(keep), [this, r](Result<> res) {
              if (!res && r->error == 0) {
                r->error = res.error().code ? res.error().code : EIO;
                r->message = res.error().message;
              }
              sub_done(r, 0);
            });
            break;
          }
          iov_zero_from(sl, cnt, 0);
          break;
        case ClusterType::kZeroPlain:
        case ClusterType::kZeroAlloc:
          iov_zero_from(sl, cnt, 0);
          break;
      }
    }
  }
  release(r);
}

void Device::write(uint64_t offset, const iovec* iov, int iovcnt, Completion done) {
  uint64_t len = iov_length(iov, iovcnt);
  if (!usable(done, true, offset, len)) return;
  Req* r = start_req(std::move(done));
  auto x = map(offset, len);
  if (x && x->type == ClusterType::kNormal && x->copied && x->length == len) {
    auto ov = check_overlap(x->host_offset, len);
    if (ov) {
      r->len = len;
      ++r->pending;
      ++data_in_flight_;
      int fd = file_.is_aligned(x->host_offset, iov, iovcnt) ? file_.data_fd() : file_.meta_fd();
      engine_->writev(fd, x->host_offset, iov, iovcnt, [this, r](int64_t res) {
        data_request_done();
        if (res >= 0 && static_cast<uint64_t>(res) < r->len) res = -ENOSPC;
        sub_done(r, res < 0 ? res : 0);
      });
      release(r);
      return;
    }
    x = tl::unexpected(ov.error());
  }
  Result<> res =
      x ? write_allocating(offset, iov, iovcnt, len) : Result<>(tl::unexpected(x.error()));
  if (!res) {
    r->error = res.error().code ? res.error().code : EIO;
    r->message = res.error().message;
  }
  release(r);
}

Result<> Device::read_compressed(uint64_t l2_entry, uint64_t in_cluster, uint8_t* out,
                                 uint64_t len) {
  auto [coffset, csize] = compressed_range(l2_entry);
  std::vector<uint8_t> in(csize);
  CORVID_TRY_VOID(file_.pread(in.data(), csize, coffset));
  std::vector<uint8_t> cluster(cluster_size_);
  auto r =
      decompress_cluster(header_.compression_type, in.data(), csize, cluster.data(), cluster_size_);
  if (!r) {
    return tl::unexpected(
        corruption(fmt::format("Could not decompress cluster at host offset {}", hexc(coffset))));
  }
  std::memcpy(out, cluster.data() + in_cluster, len);
  return {};
}

Result<> Device::read_sync_chain(uint64_t offset, uint8_t* buf, uint64_t len) {
  while (len > 0) {
    if (offset >= header_.size) {
      std::memset(buf, 0, len);
      return {};
    }
    Extent x = CORVID_TRY(map(offset, std::min(len, header_.size - offset)));
    switch (x.type) {
      case ClusterType::kNormal:
        CORVID_TRY_VOID(file_.pread(buf, x.length, x.host_offset));
        break;
      case ClusterType::kCompressed:
        CORVID_TRY_VOID(read_compressed(x.l2_entry, offset & (cluster_size_ - 1), buf, x.length));
        break;
      case ClusterType::kUnallocated:
        if (backing_) {
          CORVID_TRY_VOID(backing_->pread_sync(offset, buf, x.length));
          break;
        }
        [[fallthrough]];
      default:
        std::memset(buf, 0, x.length);
    }
    buf += x.length;
    offset += x.length;
    len -= x.length;
  }
  return {};
}

Result<> Device::cow_fill(uint64_t guest_cluster, uint64_t l2_entry, uint64_t from, uint64_t to,
                          uint8_t* out) {
  if (to <= from) return {};
  uint64_t n = to - from;
  switch (entry_type(l2_entry)) {
    case ClusterType::kNormal:
      return file_.pread(out, n, (l2_entry & kL2eOffsetMask) + from);
    case ClusterType::kCompressed:
      return read_compressed(l2_entry, from, out, n);
    case ClusterType::kUnallocated:
      if (backing_) {
        uint64_t g = guest_cluster + from;
        uint64_t bsize = backing_->size();
        uint64_t avail = g < bsize ? std::min(n, bsize - g) : 0;
        if (avail) CORVID_TRY_VOID(backing_->pread_sync(g, out, avail));
        if (avail < n) std::memset(out + avail, 0, n - avail);
        return {};
      }
      [[fallthrough]];
    default:
      std::memset(out, 0, n);
      return {};
  }
}

Result<> Device::write_allocating(uint64_t offset, const iovec* iov, int iovcnt, uint64_t len) {
  std::vector<iovec> parts;
  std::vector<uint8_t> head, tail;
  for (uint64_t pos = 0; pos < len;) {
    const uint64_t guest = offset + pos;
    Extent x = CORVID_TRY(map(guest, len - pos));
    if (x.type == ClusterType::kNormal && x.copied) {
      CORVID_TRY_VOID(check_overlap(x.host_offset, x.length));
      parts.clear();
      iov_slice(iov, iovcnt, pos, x.length, parts);
      CORVID_TRY_VOID(file_.pwritev(parts.data(), static_cast<int>(parts.size()), x.host_offset,
                                    WriteKind::kData));
      pos += x.length;
      continue;
    }
    const uint64_t first = guest & ~(cluster_size_ - 1);
    const uint64_t end = guest + x.length;
    const uint64_t last_end = (end + cluster_size_ - 1) & ~(cluster_size_ - 1);
    const uint64_t n = (last_end - first) >> header_.cluster_bits;
    const uint64_t l1_index = first >> (header_.cluster_bits + l2_bits_);
    const uint64_t l2_index = (first >> header_.cluster_bits) & (l2_entries_ - 1);

    // The L2 table first (QEMU's order: table, then data clusters).
    CachedTable* t = CORVID_TRY(l2_table_for_write(l1_index));
    std::vector<uint64_t> old(n);
    for (uint64_t i = 0; i < n; ++i) old[i] = load_be64(t->data.data() + (l2_index + i) * 8);
    // A preallocated zero cluster that is ours is written in place (QEMU keeps it too).
    const bool reuse = x.type == ClusterType::kZeroAlloc && x.copied;
    if (lazy_refcounts_ && !reuse) CORVID_TRY_VOID(mark_dirty());
    // Copy-on-write of the untouched head and tail of the first and last cluster.
    head.resize(guest - first);
    tail.resize(last_end - end);
    CORVID_TRY_VOID(cow_fill(first, old[0], 0, guest - first, head.data()));
    CORVID_TRY_VOID(cow_fill(last_end - cluster_size_, old[n - 1], cluster_size_ - tail.size(),
                             cluster_size_, tail.data()));
    // Data first, then its refcount, then the L2 entry: a crash in between leaves at worst a
    // leaked cluster for the (short) time between the two metadata writes.
    const uint64_t bytes = n << header_.cluster_bits;
    uint64_t host = reuse ? old[0] & kL2eOffsetMask : 0;
    for (;;) {
      if (!reuse) host = CORVID_TRY(alloc_clusters_noref(bytes));
      CORVID_TRY_VOID(check_overlap(host, bytes));
      parts.clear();
      if (!head.empty()) parts.push_back({head.data(), head.size()});
      iov_slice(iov, iovcnt, pos, x.length, parts);
      if (!tail.empty()) parts.push_back({tail.data(), tail.size()});
      auto written =
          file_.pwritev(parts.data(), static_cast<int>(parts.size()), host, WriteKind::kData);
      if (!reuse && !written) {
        // The clusters were never counted: the next allocation may take them again (QEMU
        // frees them in qcow2_alloc_cluster_abort), instead of growing a file that just
        // failed to grow (EFBIG, ENOSPC).
        free_cluster_index_ = std::min(free_cluster_index_, host >> header_.cluster_bits);
      }
      CORVID_TRY_VOID(written);
      if (reuse) break;
      auto counted = update_refcount(host, bytes, 1);
      if (counted) break;
      // A new refcount block may have landed in our clusters: place the data again.
      if (counted.error().code != EAGAIN) {
        free_cluster_index_ = std::min(free_cluster_index_, host >> header_.cluster_bits);
        return counted;
      }
    }
    metadata_changed();

    t = CORVID_TRY(l2_table_for_write(l1_index));
    for (uint64_t i = 0; i < n; ++i) {
      store_be64(t->data.data() + (l2_index + i) * 8,
                 (host + (i << header_.cluster_bits)) | kOflagCopied);
    }
    CORVID_TRY_VOID(write_l2_entries(t, l2_index, n));
    if (!reuse) {
      for (uint64_t e : old) CORVID_TRY_VOID(free_any_cluster(e));
    }
    pos += x.length;
  }
  return {};
}

void Device::flush(Completion done) {
  if (closed_ || broken_) {
    Req* r = start_req(std::move(done));
    r->error = ENOMEDIUM;
    release(r);
    return;
  }
  Req* r = start_req(std::move(done));
  if (read_only() || file_.cache() == CacheMode::kUnsafe) {
    release(r);
    return;
  }
  auto m = flush_metadata();
  if (!m) {
    r->error = m.error().code ? m.error().code : EIO;
    r->message = m.error().message;
    release(r);
    return;
  }
  engine_->fsync(file_.data_fd(), true, [this, r](int64_t res) { sub_done(r, res); });
}

bool Device::reads_as_zero(uint64_t offset, uint64_t len) {
  while (len > 0) {
    auto x = map(offset, len);
    if (!x) return false;
    if (x->type == ClusterType::kZeroPlain || x->type == ClusterType::kZeroAlloc) {
    } else if (x->type != ClusterType::kUnallocated || (backing_ && offset < backing_->size())) {
      return false;
    }
    offset += x->length;
    len -= x->length;
  }
  return true;
}

Result<> Device::zero_clusters(uint64_t offset, uint64_t len, ZeroMode mode) {
  // offset and len are cluster aligned (or len reaches the end of the image).
  for (uint64_t pos = 0; pos < len;) {
    const uint64_t guest = offset + pos;
    const uint64_t l1_index = guest >> (header_.cluster_bits + l2_bits_);
    const uint64_t l2_index = (guest >> header_.cluster_bits) & (l2_entries_ - 1);
    const uint64_t n =
        std::min((len - pos + cluster_size_ - 1) >> header_.cluster_bits, l2_entries_ - l2_index);
    const uint64_t bytes = std::min(len - pos, n << header_.cluster_bits);
    CachedTable* t = CORVID_TRY(l2_table_for_write(l1_index));
    std::vector<uint64_t> freed;
    for (uint64_t i = 0; i < n; ++i) {
      uint8_t* p = t->data.data() + (l2_index + i) * 8;
      uint64_t old = load_be64(p);
      ClusterType type = entry_type(old);
      bool allocated = type == ClusterType::kNormal || type == ClusterType::kZeroAlloc ||
                       type == ClusterType::kCompressed;
      uint64_t now;
      if (mode == ZeroMode::kDiscard) {
        if (backing_ || allocated) {
          now = header_.version >= 3 ? kOflagZero : 0;
        } else {
          now = old;
        }
      } else {
        bool unmap =
            type == ClusterType::kCompressed || (mode == ZeroMode::kZeroUnmap && allocated);
        now = (unmap ? 0 : old) | kOflagZero;
      }
      if (now == old) continue;
      store_be64(p, now);
      if (allocated && !(now & kL2eOffsetMask)) freed.push_back(old);
    }
    CORVID_TRY_VOID(write_l2_entries(t, l2_index, n));
    // Clusters freed by a guest request are discarded in the file as well.
    punch_freed_ = true;
    for (uint64_t e : freed) {
      auto f = free_any_cluster(e);
      if (!f) {
        punch_freed_ = false;
        return f;
      }
    }
    punch_freed_ = false;
    pos += bytes;
  }
  return {};
}

bool Device::chain_reads_zero(uint64_t offset, uint64_t len) {
  while (len > 0) {
    auto st = status(offset, len);
    if (!st || !st->zero || st->length == 0) return false;
    uint64_t n = std::min(len, st->length);
    offset += n;
    len -= n;
  }
  return true;
}

Result<> Device::zero_partial_cluster(uint64_t offset, uint64_t len, bool may_unmap) {
  if (len == 0) return {};
  // As QEMU's qcow2_co_pwrite_zeroes: a cluster without data of its own whose remainder
  // already reads as zero (through the backing chain) becomes a zero cluster as a whole.
  const uint64_t c = offset & ~(cluster_size_ - 1);
  const uint64_t ce = std::min(c + cluster_size_, header_.size);
  if (header_.version >= 3) {
    auto x = map(c, ce - c);
    if (x && x->length >= ce - c &&
        (x->type == ClusterType::kUnallocated || x->type == ClusterType::kZeroPlain ||
         x->type == ClusterType::kZeroAlloc) &&
        chain_reads_zero(c, offset - c) && chain_reads_zero(offset + len, ce - offset - len)) {
      return zero_clusters(c, ce - c, may_unmap ? ZeroMode::kZeroUnmap : ZeroMode::kZero);
    }
  }
  // Otherwise zero bytes are written, allocating the cluster, as QEMU's fallback does.
  std::vector<uint8_t> zeros(len, 0);
  iovec v{zeros.data(), len};
  return write_allocating(offset, &v, 1, len);
}

Result<> Device::write_zeroes_sync(uint64_t offset, uint64_t len, bool may_unmap) {
  const uint64_t end = offset + len;
  uint64_t a = (offset + cluster_size_ - 1) & ~(cluster_size_ - 1);
  uint64_t b = end & ~(cluster_size_ - 1);
  if (end == header_.size) b = end;  // the image's last, partial cluster counts as whole
  if (a >= b) {
    // No whole cluster: one partial cluster, or the tail of one and the head of the next.
    const uint64_t split = std::min(end, a);
    CORVID_TRY_VOID(zero_partial_cluster(offset, split - offset, may_unmap));
    return zero_partial_cluster(split, end - split, may_unmap);
  }
  CORVID_TRY_VOID(zero_partial_cluster(offset, a - offset, may_unmap));
  CORVID_TRY_VOID(zero_partial_cluster(b, end - b, may_unmap));
  if (header_.version < 3) {
    // v2 has no zero flag: unallocated clusters read as zeros only without a backing file.
    if (backing_) {
      if (reads_as_zero(a, b - a)) return {};
      std::vector<uint8_t> zeros(std::min<uint64_t>(b - a, 1 << 20), 0);
      for (uint64_t o = a; o < b;) {
        const uint64_t n = std::min<uint64_t>(b - o, zeros.size());
        iovec v{zeros.data(), n};
        CORVID_TRY_VOID(write_allocating(o, &v, 1, n));
        o += n;
      }
      return {};
    }
    return zero_clusters(a, b - a, ZeroMode::kDiscard);
  }
  return zero_clusters(a, b - a, may_unmap ? ZeroMode::kZeroUnmap : ZeroMode::kZero);
}

void Device::write_zeroes(uint64_t offset, uint64_t len, bool may_unmap, Completion done) {
  if (!usable(done, true, offset, len)) return;
  Req* r = start_req(std::move(done));
  auto res = write_zeroes_sync(offset, len, may_unmap);
  if (!res) {
    r->error = res.error().code ? res.error().code : EIO;
    r->message = res.error().message;
  }
  release(r);
}

void Device::discard(uint64_t offset, uint64_t len, Completion done) {
  if (!usable(done, true, offset, len)) return;
  Req* r = start_req(std::move(done));
  // Only whole clusters are discarded (and the image's partial last one). A v2 image has no
  // zero flag, so a discard over a backing file would expose the backing file's stale data:
  // there it does nothing (QEMU's qcow2_co_pdiscard refuses it and the block layer ignores it).
  uint64_t end = offset + len;
  uint64_t a = (offset + cluster_size_ - 1) & ~(cluster_size_ - 1);
  uint64_t b = end == header_.size ? end : end & ~(cluster_size_ - 1);
  if (a < b && !(header_.version < 3 && backing_)) {
    auto res = zero_clusters(a, b - a, ZeroMode::kDiscard);
    if (!res) {
      r->error = res.error().code ? res.error().code : EIO;
      r->message = res.error().message;
    }
  }
  release(r);
}

}  // namespace corvid::block::qcow2
