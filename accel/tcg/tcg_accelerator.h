// The translator as an accelerator (corvid's own x86-64 system emulator, tcg/).
#pragma once

#include <memory>

#include "accel/accelerator.h"

namespace corvid::accel {

// ENOTSUP with a clear message while the translator is not built in.
Result<std::unique_ptr<Accelerator>> create_tcg_accelerator(const AccelOptions& options);

}  // namespace corvid::accel
