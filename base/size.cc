#include "base/size.h"

#include <cmath>
#include <cstdlib>

namespace corvid {

Result<uint64_t> parse_size(std::string_view text, uint64_t default_unit) {
  std::string s(text);
  if (s.empty()) return make_error(EINVAL, "empty size");
  if (s.find('\0') != std::string::npos) return make_error(EINVAL, "invalid size: contains NUL");
  if (s[0] == '-') return errorf(EINVAL, "invalid size '{}': negative", s);
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || errno != 0 || !std::isfinite(value) || value < 0)
    return errorf(EINVAL, "invalid size '{}'", s);
  // Integers are parsed exactly; doubles only when there is a fraction.
  bool integral = s.find_first_of(".eE") == std::string::npos ||
                  std::string_view(s.c_str(), end - s.c_str()).find_first_of(".eE") ==
                      std::string_view::npos;
  uint64_t unit = default_unit;
  std::string_view suffix(end);
  if (!suffix.empty()) {
    if (suffix.size() > 1) return errorf(EINVAL, "invalid size '{}': unknown suffix '{}'", s, suffix);
    switch (suffix[0]) {
      case 'b': case 'B': unit = 1; break;
      case 'k': case 'K': unit = 1ull << 10; break;
      case 'm': case 'M': unit = 1ull << 20; break;
      case 'g': case 'G': unit = 1ull << 30; break;
      case 't': case 'T': unit = 1ull << 40; break;
      case 'p': case 'P': unit = 1ull << 50; break;
      case 'e': case 'E': unit = 1ull << 60; break;
      default: return errorf(EINVAL, "invalid size '{}': unknown suffix '{}'", s, suffix);
    }
  }
  if (integral) {
    errno = 0;
    unsigned long long n = std::strtoull(s.c_str(), nullptr, 10);
    if (errno == ERANGE || (unit != 0 && n > UINT64_MAX / unit))
      return errorf(ERANGE, "invalid size '{}': too large", s);
    return n * unit;
  }
  long double bytes = static_cast<long double>(value) * unit;
  if (bytes >= 18446744073709551616.0L) return errorf(ERANGE, "invalid size '{}': too large", s);
  return static_cast<uint64_t>(bytes);
}

std::string format_size(uint64_t bytes) {
  // qemu's size_to_str: the unit switches at 1000 of the smaller one (so 1000 KiB prints as
  // "0.977 MiB"), three significant digits with trailing zeros dropped.
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int exp = 0;
  std::frexp(static_cast<double>(bytes) / (1000.0 / 1024.0), &exp);
  int i = (exp - 1) / 10;
  if (i < 0) i = 0;
  if (i > 6) i = 6;
  double v = static_cast<double>(bytes) / static_cast<double>(1ull << (i * 10));
  return fmt::format("{:.3g} {}", v, kUnits[i]);
}

}  // namespace corvid
