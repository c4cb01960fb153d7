// The split virtqueue (virtio 1.2 §2.7) seen from the device: pops descriptor chains the driver
// made available, pushes used elements back, and decides whether the driver wants an interrupt.
// The ring memory belongs to an untrusted guest: every index, address and length is checked, and
// a malformed ring or chain is reported as an error (the caller then marks the device broken,
// §2.1.2) rather than acted upon.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "hw/core/guest_memory.h"

namespace corvid::virtio {

// Descriptor flags (§2.7.5).
inline constexpr uint16_t kDescFlagNext = 1;
inline constexpr uint16_t kDescFlagWrite = 2;
inline constexpr uint16_t kDescFlagIndirect = 4;
// Ring flags (§2.7.6, §2.7.8).
inline constexpr uint16_t kAvailFlagNoInterrupt = 1;
inline constexpr uint16_t kUsedFlagNoNotify = 1;
// §2.7: "The maximum Queue Size value is 32768".
inline constexpr uint16_t kMaxQueueSize = 32768;

// A popped descriptor chain, already validated and translated to host pointers. `out` holds the
// device-readable buffers, `in` the device-writable ones (§2.7.4: readable ones come first).
struct GpaRange {
  uint64_t gpa = 0, len = 0;
};
struct Chain {
  uint16_t head = 0;
  std::vector<iovec> out, in;
  uint64_t out_len = 0, in_len = 0;
  // The guest-physical ranges of `in`, in the same order (for GuestMemory::notify_dma_write).
  std::vector<GpaRange> in_gpa;
};

// Gather/scatter helpers over a chain's buffers; the driver may split a request header or status
// byte across descriptors in any way (§2.7.4 Message Framing). They return how many bytes moved.
uint64_t copy_from_iov(const std::vector<iovec>& iov, uint64_t offset, void* dst, uint64_t len);
uint64_t copy_to_iov(const std::vector<iovec>& iov, uint64_t offset, const void* src, uint64_t len);
// The sub-range [offset, offset+len) of iov as a new iovec list (pointers into the same memory).
std::vector<iovec> slice_iov(const std::vector<iovec>& iov, uint64_t offset, uint64_t len);

struct RawDesc;

class Virtqueue {
 public:
  struct Layout {
    uint16_t size = 0;
    uint64_t desc = 0, avail = 0, used = 0;  // guest physical addresses of the three areas
  };

  Virtqueue() = default;

  // Validates the layout against guest RAM (§2.7: alignment 16/2/4, size a power of two no
  // larger than the device's maximum) and starts at ring index 0. `event_idx` is whether
  // VIRTIO_F_EVENT_IDX was negotiated.
  Result<> start(const hw::GuestMemory& memory, const Layout& layout, bool event_idx);
  void stop() { started_ = false; }
  bool started() const { return started_; }
  const Layout& layout() const { return layout_; }

  // Pops the next available chain into *chain: true when one was popped, false when the ring is
  // empty, an error when the ring or the chain is malformed.
  Result<bool> pop(Chain* chain);

  // Returns a chain to the driver with `written` bytes written into its device-writable part
  // (§2.7.8). The used index is published after the element with release ordering. When guest
  // memory has a DMA write observer, the first `written` bytes of the chain's device-writable
  // ranges are reported to it first, so the guest never sees the completion before the
  // accelerator has heard of the write.
  Result<> push(uint16_t head, uint32_t written);

  // Whether the driver wants a used-buffer notification for what was pushed since the last call
  // that returned true (§2.7.7 / §2.7.10: used_event with EVENT_IDX, else the NO_INTERRUPT flag).
  Result<bool> should_notify();

  // Asks the driver to notify (or not) about new available buffers: writes avail_event with
  // EVENT_IDX, else the used ring's NO_NOTIFY flag (§2.7.10). After enabling, the caller must
  // pop again, since a buffer may have arrived before the driver saw the request.
  Result<> set_notification(bool enabled);

  uint16_t last_avail_idx() const { return last_avail_; }
  uint16_t used_idx() const { return used_idx_; }

 private:
  Result<> read_descriptor(uint64_t table, uint32_t table_size, uint32_t index, RawDesc* d) const;
  Result<> add_buffer(Chain* chain, uint64_t addr, uint32_t len, bool writable,
                      uint64_t* total) const;
  Result<> walk_chain(uint16_t head, Chain* chain) const;

  const hw::GuestMemory* memory_ = nullptr;
  Layout layout_;
  bool event_idx_ = false;
  bool started_ = false;
  uint16_t last_avail_ = 0;      // next available ring slot to consume
  uint16_t used_idx_ = 0;        // our copy of used->idx
  uint16_t signalled_used_ = 0;  // used_idx_ when we last decided to notify
  bool signalled_valid_ = false;
  // Host pointers to the ring index fields, accessed atomically (the driver runs concurrently).
  uint16_t* avail_idx_ptr_ = nullptr;
  uint16_t* used_idx_ptr_ = nullptr;
  // Per head, the device-writable ranges of the chain in flight; kept only while guest memory has
  // a DMA write observer (the translator), so KVM pays nothing.
  std::vector<std::vector<GpaRange>> in_flight_;
};

}  // namespace corvid::virtio
