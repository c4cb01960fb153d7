#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/size.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = corvid::parse_size(std::string_view(reinterpret_cast<const char*>(data), size));
  if (r) (void)corvid::format_size(*r);
  return 0;
}
