#include "virtio/msix.h"

namespace corvid::virtio {

void MsixTable::set_control(bool enabled, bool function_masked, hw::InterruptSink* sink) {
  enabled_ = enabled;
  function_masked_ = function_masked;
  deliver_pending(sink);
}

uint64_t MsixTable::read(uint64_t offset, unsigned size) const {
  uint8_t bytes[8] = {};
  for (unsigned i = 0; i < size && i < 8; ++i) {
    const uint64_t at = offset + i;
    uint8_t b = 0;
    if (at < 16ull * entries_.size()) {
      const Entry& e = entries_[at / 16];
      const uint32_t words[4] = {e.addr_lo, e.addr_hi, e.data, e.control};
      b = static_cast<uint8_t>(words[(at % 16) / 4] >> (8 * (at % 4)));
    } else if (at >= kPbaOffset && at - kPbaOffset < (entries_.size() + 7) / 8) {
      const uint64_t first = (at - kPbaOffset) * 8;
      for (unsigned bit = 0; bit < 8 && first + bit < pending_.size(); ++bit) {
        if (pending_[first + bit]) b |= static_cast<uint8_t>(1u << bit);
      }
    }
    bytes[i] = b;
  }
  uint64_t v = 0;
  for (unsigned i = 0; i < size && i < 8; ++i) v |= uint64_t{bytes[i]} << (8 * i);
  return v;
}

void MsixTable::write(uint64_t offset, unsigned size, uint64_t value, hw::InterruptSink* sink) {
  // The PBA is read-only; table entries take byte-granular writes (drivers use 32-bit ones).
  for (unsigned i = 0; i < size && i < 8; ++i) {
    const uint64_t at = offset + i;
    if (at >= 16ull * entries_.size()) continue;
    Entry& e = entries_[at / 16];
    uint32_t* words[4] = {&e.addr_lo, &e.addr_hi, &e.data, &e.control};
    uint32_t* w = words[(at % 16) / 4];
    const unsigned shift = 8 * (at % 4);
    *w = (*w & ~(0xffu << shift)) | (static_cast<uint32_t>((value >> (8 * i)) & 0xff) << shift);
  }
  deliver_pending(sink);  // unmasking an entry sends what was pending (PCI 3.0 §6.8.3.5)
}

void MsixTable::notify(unsigned v, hw::InterruptSink* sink) {
  if (v >= entries_.size()) return;
  const Entry& e = entries_[v];
  if (!enabled_) return;
  if (function_masked_ || (e.control & 1)) {
    pending_[v] = true;
    return;
  }
  if (sink != nullptr) sink->signal_msi((uint64_t{e.addr_hi} << 32) | e.addr_lo, e.data);
}

void MsixTable::deliver_pending(hw::InterruptSink* sink) {
  if (!enabled_ || function_masked_) return;
  for (unsigned v = 0; v < entries_.size(); ++v) {
    if (pending_[v] && !(entries_[v].control & 1)) {
      pending_[v] = false;
      notify(v, sink);
    }
  }
}

void MsixTable::reset() {
  for (Entry& e : entries_) e = Entry{};
  pending_.assign(pending_.size(), false);
  enabled_ = function_masked_ = false;
}

}  // namespace corvid::virtio
