// The interpreter's entry points for the translator and helpers.
#pragma once

#include <cstdint>

#include "tcg/cpu.h"

namespace corvid::tcg {

// The handler that executes op (chosen once, when the op is emitted).
Handler select_handler(const Op& op);
// x86 shift/rotate of `size` bytes with flags (SDM Vol. 2 "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR").
uint64_t shift_value(CpuState& s, unsigned op, unsigned size, uint64_t a, uint64_t count);
// Continues after a store that invalidated the running block (see Cpu::smc_hit_).
const Op* smc_redirect(Cpu& cpu, const Op* op);

}  // namespace corvid::tcg
