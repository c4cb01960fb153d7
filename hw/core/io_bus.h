// IoBus: address-range -> device handler dispatch for port I/O and MMIO. One implementation,
// used by every accelerator (KVM exits, the translator's softmmu slow path, Xen ioreqs).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "base/result.h"

namespace corvid::hw {

// A device's view of one registered range. offset is relative to the range start; size is
// 1, 2, 4 or 8. Reads return the value zero-extended; writes pass it likewise.
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual uint64_t io_read(uint64_t offset, unsigned size) = 0;
  virtual void io_write(uint64_t offset, unsigned size, uint64_t value) = 0;
};

enum class IoSpace { kPio, kMmio };

class IoBus {
 public:
  explicit IoBus(IoSpace space) : space_(space) {}

  // Registers [base, base+len) for handler (not owned). Handlers are called without the bus lock,
  // so one may still be running an access when remove() returns: keep handlers alive until the
  // vCPUs have stopped, not merely until they are removed.
  // EEXIST when the range overlaps another one.
  Result<> add(uint64_t base, uint64_t len, IoHandler* handler, std::string name);
  void remove(uint64_t base);

  // Dispatches an access. Returns false when no device claims addr: reads then yield all ones
  // (as on a real bus) and writes are dropped; the caller may log it.
  bool read(uint64_t addr, unsigned size, uint64_t* value) const;
  bool write(uint64_t addr, unsigned size, uint64_t value) const;

  IoSpace space() const { return space_; }

 private:
  struct Range {
    uint64_t len;
    IoHandler* handler;
    std::string name;
  };
  const Range* find(uint64_t addr, uint64_t* base) const;
  IoHandler* lookup(uint64_t addr, uint64_t* offset) const;

  IoSpace space_;
  mutable std::shared_mutex mutex_;
  std::map<uint64_t, Range> ranges_;  // keyed by base
};

}  // namespace corvid::hw
