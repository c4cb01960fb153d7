// Leveled logging to stderr. The level comes from CORVID_LOG (error, warn, info, debug, trace;
// default warn) and can be changed by tools (e.g. a -v flag).
#pragma once

#include <string_view>

#include <fmt/format.h>

namespace corvid {

enum class LogLevel { kError = 0, kWarn, kInfo, kDebug, kTrace };

LogLevel log_level();
void set_log_level(LogLevel level);
// Parses a level name; returns false (and leaves *out alone) for an unknown name.
bool parse_log_level(std::string_view name, LogLevel* out);
void log_write(LogLevel level, std::string_view message);

inline bool log_enabled(LogLevel level) { return level <= log_level(); }

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (log_enabled(level)) log_write(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace corvid

#define CORVID_LOG_AT(level, ...)                                                        \
  do {                                                                                   \
    if (::corvid::log_enabled(level)) ::corvid::log(level, __VA_ARGS__);                 \
  } while (0)
#define LOG_ERROR(...) CORVID_LOG_AT(::corvid::LogLevel::kError, __VA_ARGS__)
#define LOG_WARN(...) CORVID_LOG_AT(::corvid::LogLevel::kWarn, __VA_ARGS__)
#define LOG_INFO(...) CORVID_LOG_AT(::corvid::LogLevel::kInfo, __VA_ARGS__)
#define LOG_DEBUG(...) CORVID_LOG_AT(::corvid::LogLevel::kDebug, __VA_ARGS__)
#define LOG_TRACE(...) CORVID_LOG_AT(::corvid::LogLevel::kTrace, __VA_ARGS__)
