// Blocking wrappers for tools and tests: each issues one request and drives the device's
// engine until it completes. Do not call from inside a completion callback.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "base/result.h"
#include "block/block_device.h"

namespace corvid::block {

Result<> read_sync(BlockDevice& dev, uint64_t offset, void* buf, size_t len);
Result<> write_sync(BlockDevice& dev, uint64_t offset, const void* buf, size_t len);
Result<> readv_sync(BlockDevice& dev, uint64_t offset, const iovec* iov, int iovcnt);
Result<> writev_sync(BlockDevice& dev, uint64_t offset, const iovec* iov, int iovcnt);
Result<> flush_sync(BlockDevice& dev);
Result<> discard_sync(BlockDevice& dev, uint64_t offset, uint64_t len);
Result<> write_zeroes_sync(BlockDevice& dev, uint64_t offset, uint64_t len, bool may_unmap);

// Drives dev's engine until *done is true (for callers that issued several requests).
void drive_until(BlockDevice& dev, const bool& done);

}  // namespace corvid::block
