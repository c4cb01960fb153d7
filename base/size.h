// Human size strings as qemu-img and QEMU's -m accept them: "512", "64k", "1M", "10G", "1.5G".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace corvid {

// Parses a size with an optional suffix (b/k/K/M/G/T/P/E, powers of 1024). default_unit is
// the multiplier for a bare number (1 for qemu-img sizes, 1 MiB for -m).
Result<uint64_t> parse_size(std::string_view text, uint64_t default_unit = 1);

// "64 KiB", "1 GiB", "1.5 MiB": the way qemu-img prints sizes (size_to_str).
std::string format_size(uint64_t bytes);

}  // namespace corvid
