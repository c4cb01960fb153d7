// The I/O APIC (82093AA datasheet): 24 redirection entries behind the index/data window at
// 0xFEC00000, edge and level inputs with remote IRR, delivery to LAPICs by physical or logical
// destination.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "hw/core/io_bus.h"

namespace corvid::hw {

class Ioapic : public IoHandler {
 public:
  static constexpr uint64_t kBase = 0xfec00000;
  static constexpr unsigned kPins = 24;
  // Delivers vector to the LAPIC(s) the destination names.
  using Deliver = std::function<void(uint32_t dest, bool logical, uint8_t vector, bool level)>;

  explicit Ioapic(Deliver deliver) : deliver_(std::move(deliver)) {
    for (auto& r : redir_) r = 1ull << 16;  // masked at reset
  }

  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

  void set_irq(uint32_t pin, bool level);
  // A LAPIC EOI for a level-triggered vector: clears remote IRR, re-delivers if still asserted.
  void eoi(uint8_t vector);

 private:
  void service_locked(unsigned pin);

  Deliver deliver_;
  std::mutex mutex_;
  uint32_t index_ = 0, id_ = 0;
  uint64_t redir_[kPins];
  bool line_[kPins] = {};
};

}  // namespace corvid::hw
