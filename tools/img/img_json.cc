#include "tools/img/img_json.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace corvid::img {
namespace {

// QDict's bucket for a key: the TDB hash of the key modulo 512 buckets (QEMU qobject/qdict.c).
unsigned bucket(const std::string& key) {
  uint32_t value = 0x238F13AFu * static_cast<uint32_t>(key.size());
  for (size_t i = 0; i < key.size(); ++i)
    value += static_cast<uint32_t>(static_cast<unsigned char>(key[i])) << (i * 5 % 24);
  return (1103515243u * value + 12345u) % 512;
}

void escape(const std::string& s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char buf[16];
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void print(const Json& v, int indent, std::string* out) {
  std::string pad(static_cast<size_t>(indent + 1) * 4, ' ');
  std::string close_pad(static_cast<size_t>(indent) * 4, ' ');
  if (v.is_object()) {
    // Later insertions come first within a bucket (QDict prepends to the bucket's list).
    std::vector<std::pair<std::string, size_t>> keys;
    size_t n = 0;
    for (auto it = v.begin(); it != v.end(); ++it) keys.emplace_back(it.key(), n++);
    std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
      unsigned ba = bucket(a.first), bb = bucket(b.first);
      return ba != bb ? ba < bb : a.second > b.second;
    });
    *out += "{\n";
    for (size_t i = 0; i < keys.size(); ++i) {
      *out += pad;
      escape(keys[i].first, out);
      *out += ": ";
      print(v.at(keys[i].first), indent + 1, out);
      *out += i + 1 < keys.size() ? ",\n" : "\n";
    }
    *out += close_pad + "}";
  } else if (v.is_array()) {
    *out += "[\n";
    for (size_t i = 0; i < v.size(); ++i) {
      *out += pad;
      print(v[i], indent + 1, out);
      *out += i + 1 < v.size() ? ",\n" : "\n";
    }
    *out += close_pad + "]";
  } else if (v.is_string()) {
    escape(v.get<std::string>(), out);
  } else {
    *out += v.dump();
  }
}

}  // namespace

std::string qemu_json(const Json& value) {
  std::string out;
  print(value, 0, &out);
  return out;
}

}  // namespace corvid::img
