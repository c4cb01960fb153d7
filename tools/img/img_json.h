// JSON as qemu-img prints it: QEMU's QDict iterates its keys by hash bucket, so the order of
// keys in `--output=json` is the order of their hashes, not insertion order. Building with
// nlohmann::ordered_json and printing with qemu_json() reproduces that order and the 4-space
// pretty layout.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace corvid::img {

using Json = nlohmann::ordered_json;

// Pretty-printed like qobject_to_json_pretty(), without a trailing newline.
std::string qemu_json(const Json& value);

}  // namespace corvid::img
