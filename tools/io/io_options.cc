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

namespace {

// qcow2 runtime options that tune QEMU's caches and its metadata overlap checks. corvid's
// caches and checks are its own, so valid values are accepted and have no effect.
bool is_qcow2_tuning_option(const std::string& key) {
  static const char* const kKeys[] = {
      "pass-discard-request", "pass-discard-snapshot", "pass-discard-other",
      "cache-size",           "l2-cache-size",         "l2-cache-entry-size",
      "refcount-cache-size",  "cache-clean-interval",  "overlap-check",
  };
  for (const char* k : kKeys)
    if (key == k) return true;
  return key.rfind("overlap-check.", 0) == 0;
}

bool is_bool_option(const std::string& key) {
  return key == "read-only" || key == "cache.direct" || key == "cache.no-flush" ||
         key == "lazy-refcounts" || key.rfind("pass-discard-", 0) == 0 ||
         (key.rfind("overlap-check.", 0) == 0 && key != "overlap-check.template");
}

}  // namespace

bool apply_open_options(const char* text, block::OpenOptions* out, const std::string& progname) {
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq),
                value = eq == std::string::npos ? "" : item.substr(eq + 1);
    bool on = value == "on" || value == "true";
    if (is_bool_option(key) && value != "on" && value != "off" && value != "true" &&
        value != "false") {
      std::fprintf(stderr, "%s: Parameter '%s' expects 'on' or 'off'\n", progname.c_str(),
                   key.c_str());
      return false;
    }
    if ((key == "overlap-check" || key == "overlap-check.template") && value != "none" &&
        value != "constant" && value != "cached" && value != "all") {
      std::fprintf(stderr,
                   "%s: Unsupported value '%s' for qcow2 option 'overlap-check'. Allowed are any "
                   "of the following: none, constant, cached, all\n",
                   progname.c_str(), value.c_str());
      return false;
    }
    if (is_qcow2_tuning_option(key)) continue;
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
