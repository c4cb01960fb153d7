#include "base/result.h"

#include <cstring>

namespace corvid {

std::string Error::to_string() const {
  if (code == 0) return message;
  return message + ": " + std::strerror(code);
}

}  // namespace corvid
