#include "tools/io/io_format.h"

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace corvid::io {
namespace {

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double per_second(double value, const Elapsed& t) {
  return value / t.seconds();
}

}  // namespace

Stopwatch::Stopwatch() : start_ns_(now_ns()) {}

Elapsed Stopwatch::elapsed() const {
  int64_t ns = now_ns() - start_ns_;
  return Elapsed{ns / 1000000000, ns % 1000000000};
}

std::string size_string(double value) {
  static const char* const kSuffixes[] = {" EiB", " PiB", " TiB", " GiB", " MiB", " KiB"};
  const char* suffix = " bytes";
  char text[64];
  for (int i = 0; i < 6; ++i) {
    double unit = std::ldexp(1.0, 10 * (6 - i));
    if (value >= unit) {
      value /= unit;
      suffix = kSuffixes[i];
      break;
    }
  }
  // Whole byte counts print with %f so fractions of a byte per second stay visible, as qemu-io.
  std::snprintf(text, sizeof text, suffix[1] == 'b' ? "%f" : "%.3f", value);
  std::string s(text);
  size_t trim = s.find(".000");
  if (trim != std::string::npos) s.erase(trim);
  return s + suffix;
}

std::string time_string(const Elapsed& t, bool fixed) {
  char text[64];
  double frac = static_cast<double>(t.nsec) / 1e9;
  if (fixed || t.sec != 0) {
    std::snprintf(text, sizeof text, "%u:%02u:%05.2f", static_cast<unsigned>(t.sec / 3600),
                  static_cast<unsigned>((t.sec / 60) % 60), static_cast<double>(t.sec % 60) + frac);
  } else {
    std::snprintf(text, sizeof text, "%05.2f sec", frac);
  }
  return text;
}

void print_report(std::string_view op, const Elapsed& t, int64_t offset, int64_t count,
                  int64_t total, int ops, bool csv) {
  if (csv) {
    std::printf("%" PRId64 ",%d,%s,%.3f,%.3f\n", total, ops, time_string(t, true).c_str(),
                per_second(static_cast<double>(total), t), per_second(ops, t));
    return;
  }
  std::printf("%.*s %" PRId64 "/%" PRId64 " bytes at offset %" PRId64 "\n",
              static_cast<int>(op.size()), op.data(), total, count, offset);
  std::printf("%s, %d ops; %s (%s/sec and %.4f ops/sec)\n",
              size_string(static_cast<double>(total)).c_str(), ops, time_string(t, false).c_str(),
              size_string(per_second(static_cast<double>(total), t)).c_str(), per_second(ops, t));
}

void dump_buffer(const uint8_t* buf, int64_t offset, int64_t len) {
  for (int64_t line = 0; line < len; line += 16) {
    std::printf("%08" PRIx64 ": ", static_cast<uint64_t>(offset + line));
    int64_t n = len - line < 16 ? len - line : 16;
    for (int64_t i = 0; i < n; ++i) std::printf(" %02x", buf[line + i]);
    std::printf("  ");
    for (int64_t i = 0; i < n; ++i) {
      uint8_t c = buf[line + i];
      std::putchar(c > 0x20 && c < 0x7f ? c : '.');  // qemu-io shows spaces as dots too
    }
    std::putchar('\n');
  }
}

std::optional<int64_t> parse_number(const char* text) {
  // qemu's size parser: decimal (or 0x hex) with an optional fraction and one suffix letter.
  errno = 0;
  char* end = nullptr;
  const char* p = text;
  while (*p == ' ') ++p;
  bool ok = *p != '-' && *p != '\0';
  double value = 0;
  if (ok && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    value = static_cast<double>(std::strtoull(p, &end, 16));
  } else if (ok) {
    value = std::strtod(p, &end);
  }
  if (!ok || end == p || errno != 0) {
    std::printf("Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- %s\n",
                text);
    return std::nullopt;
  }
  double unit = 1;
  if (*end != '\0') {
    static const char kSuffixes[] = "bkmgtpe";
    const char* s = nullptr;
    for (const char* k = kSuffixes; *k; ++k)
      if (*k == (*end | 0x20)) s = k;
    if (s == nullptr || end[1] != '\0') {
      std::printf("Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- %s\n",
                  text);
      return std::nullopt;
    }
    unit = std::ldexp(1.0, 10 * static_cast<int>(s - kSuffixes));
  }
  double bytes = value * unit;
  if (bytes >= 9223372036854775807.0) {
    std::printf("Parsing error: argument too large -- %s\n", text);
    return std::nullopt;
  }
  return static_cast<int64_t>(bytes);
}

std::optional<int> parse_pattern(const char* text) {
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text, &end, 0);
  if (end == text || *end != '\0' || errno != 0 || value < 0 || value > 255) {
    std::printf("%s is not a valid pattern byte\n", text);
    return std::nullopt;
  }
  return static_cast<int>(value);
}

}  // namespace corvid::io
