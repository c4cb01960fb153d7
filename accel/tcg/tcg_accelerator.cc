#include "accel/tcg/tcg_accelerator.h"

namespace corvid::accel {

Result<std::unique_ptr<Accelerator>> create_tcg_accelerator(const AccelOptions&) {
  return make_error(ENOTSUP, "tcg: the translator is not available in this build");
}

}  // namespace corvid::accel
