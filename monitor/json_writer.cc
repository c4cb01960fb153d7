#include "monitor/json_writer.h"

#include <fmt/format.h>

namespace corvid::monitor {
namespace {

// Decodes one UTF-8 sequence at s[i]; returns the code point (0xFFFD when invalid) and advances.
unsigned next_code_point(const std::string& s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned c = byte(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  int extra = c >= 0xC2 && c < 0xE0   ? 1
              : c >= 0xE0 && c < 0xF0 ? 2
              : c >= 0xF0 && c < 0xF5 ? 3
                                      : -1;
  if (extra < 0) {
    ++i;
    return 0xFFFD;
  }
  unsigned cp = c & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    if (i + k >= s.size() || (byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr unsigned kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) {
    ++i;
    return 0xFFFD;
  }
  i += extra + 1;
  return cp;
}

void write_string(const std::string& s, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned cp = next_code_point(s, i);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      out += fmt::format("\\u{:04X}", cp);
    } else {
      cp -= 0x10000;
      out += fmt::format("\\u{:04X}\\u{:04X}", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
    }
  }
  out += '"';
}

void write(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        write_string(it.key(), out);
        out += ": ";
        write(it.value(), out);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ", ";
        first = false;
        write(e, out);
      }
      out += ']';
      return;
    }
    case Json::value_t::string:
      return write_string(v.get_ref<const std::string&>(), out);
    case Json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      return;
    case Json::value_t::number_float:
      out += fmt::format("{}", v.get<double>());
      return;
    default:
      out += "null";
      return;
  }
}

}  // namespace

std::string to_qmp_text(const Json& value) {
  std::string out;
  write(value, out);
  return out;
}

}  // namespace corvid::monitor
