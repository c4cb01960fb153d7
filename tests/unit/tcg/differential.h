// Differential testing against the host CPU: one instruction sequence runs natively (in an
// executable buffer of this process) and in the translator from the same registers, flags and
// memory; the results must agree on every register, every defined flag and the data window.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/unit/tcg/test_machine.h"

namespace corvid::tcg::testing {

struct MachineState {
  uint64_t rflags = 2;
  uint64_t gpr[16] = {};
};

// A 64 KiB data window mapped at the same address natively and in the guest (identity-paged).
constexpr uint64_t kDataAddr = 0x20000000;
constexpr uint64_t kDataSize = 0x10000;

class Differential {
 public:
  Differential();
  ~Differential();
  bool ok() const { return ok_; }
  // The data window after the last compare(): natively and in the translator.
  const uint8_t* native_data() const { return native_data_; }
  const uint8_t* guest_data() { return bus_.ram() + kDataAddr; }
  // Runs code both ways from `in` (data window filled from `data`); returns "" when they agree
  // on registers, flags in flag_mask and the data window, else a description of the difference.
  std::string compare(const std::vector<uint8_t>& code, const MachineState& in, uint64_t flag_mask,
                      const std::vector<uint8_t>& data = {});

 private:
  bool ok_ = false;
  uint8_t* exec_ = nullptr;
  uint8_t* native_data_ = nullptr;
  TestBus bus_;
};

}  // namespace corvid::tcg::testing
