// JSON text as QEMU's QMP server writes it (qobject/qjson.c to_json with pretty=false):
// ", " and ": " separators, every non-ASCII character as \uXXXX, invalid UTF-8 as \uFFFD.
// Never throws, whatever bytes a string holds.
#pragma once

#include <string>

#include "monitor/json_stream.h"

namespace corvid::monitor {

std::string to_qmp_text(const Json& value);

}  // namespace corvid::monitor
