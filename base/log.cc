#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace corvid {
namespace {

LogLevel level_from_env() {
  const char* env = std::getenv("CORVID_LOG");
  LogLevel level = LogLevel::kWarn;
  if (env && *env) parse_log_level(env, &level);
  return level;
}

std::atomic<int>& level_storage() {
  static std::atomic<int> level{static_cast<int>(level_from_env())};
  return level;
}

constexpr std::string_view kNames[] = {"error", "warn", "info", "debug", "trace"};

}  // namespace

LogLevel log_level() { return static_cast<LogLevel>(level_storage().load(std::memory_order_relaxed)); }

void set_log_level(LogLevel level) { level_storage().store(static_cast<int>(level)); }

bool parse_log_level(std::string_view name, LogLevel* out) {
  if (name == "warning") name = "warn";
  for (size_t i = 0; i < std::size(kNames); ++i) {
    if (kNames[i] == name) {
      *out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

void log_write(LogLevel level, std::string_view message) {
  // One write() per line so lines from several threads do not interleave.
  std::string line = fmt::format("corvid: {}: {}\n", kNames[static_cast<int>(level)], message);
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace corvid
