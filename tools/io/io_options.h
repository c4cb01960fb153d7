// Option values shared by corvid-io's command line and its open/reopen commands.
#pragma once

#include <string>

#include "block/block_device.h"

namespace corvid::io {

// cache=: none, writeback, writethrough, directsync, unsafe. Prints qemu-io's error otherwise.
bool parse_cache_mode(const char* text, block::CacheMode* out, const std::string& progname);
// aio=: threads, io_uring, native (served by io_uring; it needs O_DIRECT as in QEMU).
bool parse_aio_mode(const char* text, block::AioMode* out, const std::string& progname);
// -o key=value,...: driver=, read-only=, cache.direct=, cache.no-flush=.
bool apply_open_options(const char* text, block::OpenOptions* out, const std::string& progname);

}  // namespace corvid::io
