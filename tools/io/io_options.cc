#include "tools/io/io_options.h"

#include <cstdio>
#include <cstring>
#include <sstream>

namespace corvid::io {

bool parse_cache_mode(const char* text, block::CacheMode* out, const std::string& progname) {
  static const struct {
    const char* name;
    block::CacheMode mode;
  } kModes[] = {{"none", block::CacheMode::kNone},
                {"off", block::CacheMode::kNone},
                {"writeback", block::CacheMode::kWriteback},
                {"writethrough", block::CacheMode::kWritethrough},
                {"directsync", block::CacheMode::kDirectSync},
                {"unsafe", block::CacheMode::kUnsafe}};
  for (const auto& m : kModes) {
    if (std::strcmp(text, m.name) == 0) {
      *out = m.mode;
      return true;
    }
  }
  std::fprintf(stderr, "%s: Invalid cache option: %s\n", progname.c_str(), text);
  return false;
}

bool parse_aio_mode(const char* text, block::AioMode* out, const std::string& progname) {
  if (std::strcmp(text, "threads") == 0) {
    *out = block::AioMode::kThreads;
  } else if (std::strcmp(text, "io_uring") == 0 || std::strcmp(text, "native") == 0) {
    *out = block::AioMode::kIoUring;
  } else {
    std::fprintf(stderr, "%s: Invalid aio option: %s\n", progname.c_str(), text);
    return false;
  }
  return true;
}

bool apply_open_options(const char* text, block::OpenOptions* out, const std::string& progname) {
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq),
                value = eq == std::string::npos ? "" : item.substr(eq + 1);
    bool on = value == "on" || value == "true";
    if (key == "driver") {
      out->format = value;
    } else if (key == "read-only") {
      out->read_only = on;
    } else if (key == "cache.direct") {
      out->cache = on ? block::CacheMode::kNone : block::CacheMode::kWriteback;
    } else if (key == "backing.driver") {
      out->backing_format = value;
    } else if (key == "lazy-refcounts") {
      out->lazy_refcounts = on;
    } else if (key == "cache.no-flush") {
      if (on) out->cache = block::CacheMode::kUnsafe;
    } else {
      std::fprintf(stderr, "%s: Invalid parameter '%s'\n", progname.c_str(), key.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace corvid::io
