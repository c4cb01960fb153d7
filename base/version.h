#pragma once

namespace corvid {
// The project version, from CMake's project().
const char* version();
}  // namespace corvid
