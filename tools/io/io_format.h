// The text qemu-io prints: I/O reports with their timing line, hexdumps, size strings, and the
// parsing of numbers and pattern bytes with qemu-io's error messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corvid::io {

struct Elapsed {
  int64_t sec = 0;
  int64_t nsec = 0;
  double seconds() const { return static_cast<double>(sec) + static_cast<double>(nsec) / 1e9; }
};

// A monotonic stopwatch for the timing line.
class Stopwatch {
 public:
  Stopwatch();
  Elapsed elapsed() const;

 private:
  int64_t start_ns_;
};

// "512 bytes", "64 KiB", "253.685 KiB": three decimals, a trailing ".000" dropped.
std::string size_string(double value);

// "00.00 sec" under one second, "H:MM:SS.ss" otherwise (always the latter when fixed).
std::string time_string(const Elapsed& t, bool fixed);

// "wrote 512/512 bytes at offset 0" and the timing line, or the -C CSV line.
void print_report(std::string_view op, const Elapsed& t, int64_t offset, int64_t count,
                  int64_t total, int ops, bool csv);

// "00000000:  41 41 ...  AAAA" lines, 16 bytes each, labelled with file offsets.
void dump_buffer(const uint8_t* buf, int64_t offset, int64_t len);

// A byte count with an optional suffix (k, M, G, ... powers of 1024); prints qemu-io's
// "Parsing error: ..." line and returns nothing when the text is not one.
std::optional<int64_t> parse_number(const char* text);

// A pattern byte (decimal, 0x hex or 0 octal, 0..255); prints "<x> is not a valid pattern byte".
std::optional<int> parse_pattern(const char* text);

}  // namespace corvid::io
