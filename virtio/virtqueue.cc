#include "virtio/virtqueue.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "base/endian.h"

namespace corvid::virtio {

struct RawDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

namespace {

// §2.7: descriptor table 16-byte aligned, available ring 2, used ring 4.
constexpr uint64_t kDescSize = 16;
uint64_t avail_bytes(uint16_t size) {
  return 6 + 2ull * size;
}  // flags, idx, ring[], used_event
uint64_t used_bytes(uint16_t size) {
  return 6 + 8ull * size;
}  // flags, idx, ring[], avail_event

// The guest may change ring indices at any time: read and publish them atomically.
uint16_t load_acquire(uint16_t* p) {
  return std::atomic_ref<uint16_t>(*p).load(std::memory_order_acquire);
}
void store_release(uint16_t* p, uint16_t v) {
  std::atomic_ref<uint16_t>(*p).store(v, std::memory_order_release);
}

}  // namespace

namespace {
// Walks the bytes [offset, offset + len) of iov, calling copy(segment_pointer, position_in_range,
// n) for each piece; returns how many bytes the vector held.
template <typename Copy>
uint64_t walk_iov(const std::vector<iovec>& iov, uint64_t offset, uint64_t len, Copy copy) {
  uint64_t done = 0;
  for (const iovec& v : iov) {
    if (done == len) break;
    if (offset >= v.iov_len) {
      offset -= v.iov_len;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(v.iov_len - offset, len - done);
    copy(static_cast<uint8_t*>(v.iov_base) + offset, done, n);
    done += n;
    offset = 0;
  }
  return done;
}
}  // namespace

uint64_t copy_from_iov(const std::vector<iovec>& iov, uint64_t offset, void* dst, uint64_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  return walk_iov(iov, offset, len,
                  [out](uint8_t* seg, uint64_t at, uint64_t n) { std::memcpy(out + at, seg, n); });
}

uint64_t copy_to_iov(const std::vector<iovec>& iov, uint64_t offset, const void* src,
                     uint64_t len) {
  auto* in = static_cast<const uint8_t*>(src);
  return walk_iov(iov, offset, len,
                  [in](uint8_t* seg, uint64_t at, uint64_t n) { std::memcpy(seg, in + at, n); });
}

std::vector<iovec> slice_iov(const std::vector<iovec>& iov, uint64_t offset, uint64_t len) {
  std::vector<iovec> out;
  for (const iovec& v : iov) {
    if (len == 0) break;
    if (offset >= v.iov_len) {
      offset -= v.iov_len;
      continue;
    }
    uint64_t n = std::min<uint64_t>(v.iov_len - offset, len);
    out.push_back({static_cast<uint8_t*>(v.iov_base) + offset, n});
    len -= n;
    offset = 0;
  }
  return out;
}

Result<> Virtqueue::start(const hw::GuestMemory& memory, const Layout& layout, bool event_idx) {
  const uint16_t size = layout.size;
  // §2.7: "Queue Size value is always a power of 2" for split virtqueues.
  if (size == 0 || (size & (size - 1)) != 0) {
    return errorf(EINVAL, "queue size {} is not a power of two", size);
  }
  if (layout.desc % 16 != 0 || layout.avail % 2 != 0 || layout.used % 4 != 0) {
    return errorf(EINVAL,
                  "misaligned rings (desc 0x{:x}, avail 0x{:x}, used 0x{:x}; §2.7 needs 16/2/4)",
                  layout.desc, layout.avail, layout.used);
  }
  if (!memory.contains(layout.desc, kDescSize * size)) {
    return errorf(EFAULT, "descriptor table 0x{:x}+0x{:x} is outside guest RAM", layout.desc,
                  kDescSize * size);
  }
  if (!memory.contains(layout.avail, avail_bytes(size))) {
    return errorf(EFAULT, "available ring 0x{:x}+0x{:x} is outside guest RAM", layout.avail,
                  avail_bytes(size));
  }
  if (!memory.contains(layout.used, used_bytes(size))) {
    return errorf(EFAULT, "used ring 0x{:x}+0x{:x} is outside guest RAM", layout.used,
                  used_bytes(size));
  }
  memory_ = &memory;
  layout_ = layout;
  event_idx_ = event_idx;
  last_avail_ = 0;
  used_idx_ = 0;
  in_flight_.clear();
  signalled_used_ = 0;
  signalled_valid_ = false;
  avail_idx_ptr_ = reinterpret_cast<uint16_t*>(memory.host_ptr(layout.avail + 2, 2));
  used_idx_ptr_ = reinterpret_cast<uint16_t*>(memory.host_ptr(layout.used + 2, 2));
  started_ = true;
  return {};
}

Result<> Virtqueue::read_descriptor(uint64_t table, uint32_t table_size, uint32_t index,
                                    RawDesc* d) const {
  if (index >= table_size) {
    return errorf(EINVAL, "descriptor index {} is beyond the table of {}", index, table_size);
  }
  uint8_t raw[kDescSize];
  CORVID_TRY_VOID(memory_->read(table + kDescSize * index, raw, sizeof raw));
  d->addr = load_le64(raw);
  d->len = load_le32(raw + 8);
  d->flags = load_le16(raw + 12);
  d->next = load_le16(raw + 14);
  return {};
}

Result<> Virtqueue::add_buffer(Chain* chain, uint64_t addr, uint32_t len, bool writable,
                               uint64_t* total) const {
  // §2.7.4.2: device-writable descriptors come after all device-readable ones.
  if (!writable && !chain->in.empty()) {
    return errorf(EINVAL, "chain {}: a device-readable buffer follows a device-writable one",
                  chain->head);
  }
  if (len == 0) return {};
  uint8_t* host = memory_->host_ptr(addr, len);
  if (host == nullptr) {
    return errorf(EFAULT, "chain {}: buffer 0x{:x}+0x{:x} is outside guest RAM", chain->head, addr,
                  len);
  }
  *total += len;
  // The used length is 32 bits (§2.7.8): a chain must not describe more than that.
  if (*total > UINT32_MAX)
    return errorf(EINVAL, "chain {}: more than 4 GiB of buffers", chain->head);
  if (writable) {
    chain->in.push_back({host, len});
    chain->in_gpa.push_back({addr, len});
    chain->in_len += len;
  } else {
    chain->out.push_back({host, len});
    chain->out_len += len;
  }
  return {};
}

Result<> Virtqueue::walk_chain(uint16_t head, Chain* chain) const {
  chain->head = head;
  chain->out.clear();
  chain->in.clear();
  chain->in_gpa.clear();
  chain->out_len = chain->in_len = 0;

  uint64_t table = layout_.desc;
  uint32_t table_size = layout_.size;
  uint32_t index = head;
  // §2.7.5.1: a chain is never longer than the queue size (or, for an indirect table, than the
  // table): counting descriptors is what stops a looping chain.
  uint32_t budget = table_size;
  bool indirect = false;
  uint64_t total = 0;
  for (;;) {
    if (budget-- == 0) {
      return errorf(ELOOP, "chain {}: longer than {} descriptors (a loop?)", head,
                    indirect ? table_size : layout_.size);
    }
    RawDesc d{};
    CORVID_TRY_VOID(read_descriptor(table, table_size, index, &d));
    if (d.flags & kDescFlagIndirect) {
      // §2.7.5.3.1: no INDIRECT inside an indirect table, and never INDIRECT together with NEXT.
      if (indirect)
        return errorf(EINVAL, "chain {}: indirect descriptor inside an indirect table", head);
      if (d.flags & kDescFlagNext)
        return errorf(EINVAL, "chain {}: descriptor has both INDIRECT and NEXT", head);
      if (d.len == 0 || d.len % kDescSize != 0 || d.len / kDescSize > kMaxQueueSize) {
        return errorf(EINVAL,
                      "chain {}: indirect table length {} is not a multiple of 16 in 16..{}", head,
                      d.len, kDescSize * kMaxQueueSize);
      }
      if (!memory_->contains(d.addr, d.len)) {
        return errorf(EFAULT, "chain {}: indirect table 0x{:x}+0x{:x} is outside guest RAM", head,
                      d.addr, d.len);
      }
      indirect = true;
      table = d.addr;
      table_size = d.len / kDescSize;
      budget = table_size;
      index = 0;  // §2.7.5.3.2: the first indirect descriptor is at the start of the table
      continue;
    }
    CORVID_TRY_VOID(add_buffer(chain, d.addr, d.len, d.flags & kDescFlagWrite, &total));
    if (!(d.flags & kDescFlagNext)) return {};
    index = d.next;
  }
}

Result<bool> Virtqueue::pop(Chain* chain) {
  if (!started_) return false;
  const uint16_t avail_idx = load_acquire(avail_idx_ptr_);
  const uint16_t pending = static_cast<uint16_t>(avail_idx - last_avail_);
  if (pending == 0) return false;
  // §2.7.6: the driver can only have made `size` buffers available beyond what we consumed.
  if (pending > layout_.size) {
    return errorf(EINVAL, "available index {} runs {} entries ahead of {} in a queue of {}",
                  avail_idx, pending, last_avail_, layout_.size);
  }
  const uint64_t slot = layout_.avail + 4 + 2ull * (last_avail_ % layout_.size);
  const uint16_t head = CORVID_TRY(memory_->read_le16(slot));
  if (head >= layout_.size) {
    return errorf(EINVAL, "available ring names head {} in a queue of {}", head, layout_.size);
  }
  CORVID_TRY_VOID(walk_chain(head, chain));
  if (memory_->has_dma_write_observer()) {
    if (in_flight_.size() != layout_.size) in_flight_.resize(layout_.size);
    in_flight_[head] = chain->in_gpa;
  }
  ++last_avail_;
  return true;
}

Result<> Virtqueue::push(uint16_t head, uint32_t written) {
  if (!started_) return errorf(EINVAL, "queue not started");
  if (head >= layout_.size) return errorf(EINVAL, "used head {} out of range", head);
  const uint64_t elem = layout_.used + 4 + 8ull * (used_idx_ % layout_.size);
  CORVID_TRY_VOID(memory_->write_le32(elem, head));
  CORVID_TRY_VOID(memory_->write_le32(elem + 4, written));
  if (head < in_flight_.size()) {
    // The device filled the writable buffers in order (§2.7.8.1: `written` is a prefix of them).
    uint64_t left = written;
    for (const GpaRange& r : in_flight_[head]) {
      if (left == 0) break;
      const uint64_t n = std::min(left, r.len);
      memory_->notify_dma_write(r.gpa, n);
      left -= n;
    }
    in_flight_[head].clear();
  }
  ++used_idx_;
  // §2.7.8.2: the element must be visible before the index that publishes it (release store).
  store_release(used_idx_ptr_, used_idx_);
  return {};
}

Result<bool> Virtqueue::should_notify() {
  if (!started_) return false;
  // The used index store must be ordered before we read the driver's suppression fields, or we
  // could miss a driver that just asked for an interrupt (§2.7.7 / §2.7.10 note on barriers).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    const uint16_t flags = CORVID_TRY(memory_->read_le16(layout_.avail));
    return (flags & kAvailFlagNoInterrupt) == 0;
  }
  // §2.7.7.2: with VIRTIO_F_EVENT_IDX, notify when used_event lies in (old, new].
  const uint16_t used_event =
      CORVID_TRY(memory_->read_le16(layout_.avail + 4 + 2ull * layout_.size));
  const uint16_t old_idx = signalled_used_;
  const bool valid = signalled_valid_;
  signalled_used_ = used_idx_;
  signalled_valid_ = true;
  if (!valid) return true;
  return static_cast<uint16_t>(used_idx_ - used_event - 1) <
         static_cast<uint16_t>(used_idx_ - old_idx);
}

Result<> Virtqueue::set_notification(bool enabled) {
  if (!started_) return {};
  if (event_idx_) {
    // §2.7.10: avail_event = the index of the next buffer we want a notification for.
    if (enabled)
      CORVID_TRY_VOID(memory_->write_le16(layout_.used + 4 + 8ull * layout_.size, last_avail_));
  } else {
    CORVID_TRY_VOID(memory_->write_le16(layout_.used, enabled ? 0 : kUsedFlagNoNotify));
  }
  // Publish the request before re-reading avail->idx (the caller pops again afterwards).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return {};
}

}  // namespace corvid::virtio
