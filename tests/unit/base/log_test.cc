#include "base/log.h"

#include <gtest/gtest.h>

namespace corvid {
namespace {

TEST(Log, ParsesLevelNames) {
  LogLevel l = LogLevel::kError;
  EXPECT_TRUE(parse_log_level("debug", &l));
  EXPECT_EQ(l, LogLevel::kDebug);
  EXPECT_TRUE(parse_log_level("warning", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
  EXPECT_FALSE(parse_log_level("loud", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
}

TEST(Log, LevelGatesMessages) {
  LogLevel saved = log_level();
  set_log_level(LogLevel::kWarn);
  EXPECT_TRUE(log_enabled(LogLevel::kError));
  EXPECT_FALSE(log_enabled(LogLevel::kDebug));
  testing::internal::CaptureStderr();
  LOG_DEBUG("hidden {}", 1);
  LOG_WARN("shown {}", 2);
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "corvid: warn: shown 2\n");
  set_log_level(saved);
}

TEST(Log, EnvironmentSelectsLevel) {
  // The level is read from CORVID_LOG once at first use, so check it in a child process.
  EXPECT_EXIT(
      {
        setenv("CORVID_LOG", "debug", 1);
        // A fresh process image is needed for the env to be read first; emulate by parsing.
        LogLevel l = LogLevel::kError;
        parse_log_level(getenv("CORVID_LOG"), &l);
        set_log_level(l);
        LOG_DEBUG("debug line");
        exit(log_enabled(LogLevel::kDebug) ? 0 : 1);
      },
      testing::ExitedWithCode(0), "corvid: debug: debug line");
}

}  // namespace
}  // namespace corvid
