// -o option strings ("key=value,key2=value2", ",," escaping a comma) and backing paths.
#pragma once

#include <map>
#include <string>

#include "base/result.h"

namespace corvid::img {

// Adds the pairs of one -o argument; later values override earlier ones.
Result<> parse_option_string(const std::string& text, std::map<std::string, std::string>* out);

// A backing file name as the image refers to it, resolved relative to the image's directory
// (qcow2 stores it relative to the overlay, not to the current directory).
std::string resolve_backing_path(const std::string& image, const std::string& backing);

}  // namespace corvid::img
