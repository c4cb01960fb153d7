// virtio-blk (virtio 1.2 §5.2) on a block::BlockDevice: read, write, flush, discard,
// write-zeroes and get-id, one or more request queues.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "block/block_device.h"
#include "block/stats.h"
#include "virtio/device.h"

namespace corvid::virtio {

struct BlkConfig {
  std::string serial;       // returned by VIRTIO_BLK_T_GET_ID (at most 20 bytes are sent)
  unsigned num_queues = 1;  // > 1 offers VIRTIO_BLK_F_MQ's queues
  uint16_t queue_size = 256;
  // Watch disk->io_engine()'s eventfd on services.loop and poll it there. Set false when the
  // engine is shared and its owner already polls it on the same loop.
  bool poll_engine = true;
  // Requests refused before they reach the disk are counted here as QEMU's virtio-blk counts
  // them (query-blockstats: invalid_*, and failed_wr_* for writes to a read-only disk); the disk's
  // own requests are counted by block::make_counting_device.
  std::shared_ptr<block::IoStats> stats;
};

// The device owns `disk`. When the disk runs on an IoEngine, its completion eventfd is watched
// from services.loop (see poll_engine), so requests complete on the I/O thread.
Result<std::unique_ptr<VirtioDevice>> make_virtio_blk(const DeviceServices& services,
                                                      std::unique_ptr<block::BlockDevice> disk,
                                                      const BlkConfig& config = {});

}  // namespace corvid::virtio
