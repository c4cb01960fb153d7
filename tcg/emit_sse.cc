#include "tcg/translator.h"

namespace corvid::tcg {

bool emit_sse(Emitter& e) {
  (void)e;
  return false;
}

}  // namespace corvid::tcg
