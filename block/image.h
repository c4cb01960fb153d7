// The block layer's entry points used by tools/, virtio/ and tests: open, create, query, check.
// Contract shared by the block library (which implements it) and its users.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "block/block_device.h"

namespace corvid::block {

// Opens an image (format probed when options.format is empty; a qcow2 opened read/write whose
// dirty bit is set is repaired before this returns). The returned device runs its I/O on an
// engine it owns unless `engine` is given.
Result<std::unique_ptr<BlockDevice>> open_image(const std::string& path, const OpenOptions& options,
                                                IoEngine* engine = nullptr);

// qemu-img create: format "raw" or "qcow2"; options are qemu-img's -o keys (cluster_size,
// compat, lazy_refcounts, refcount_bits, preallocation, backing_file, backing_fmt,
// compression_type, extended_l2 ...). Unknown keys fail with qemu-img's message.
struct CreateOptions {
  std::string format = "raw";
  std::optional<uint64_t> size;  // may be omitted when a backing file gives it
  std::map<std::string, std::string> options;
};
Result<> create_image(const std::string& path, const CreateOptions& options);

// What `qemu-img info` reports.
struct SnapshotInfo {
  std::string id, name;
  uint64_t vm_state_size = 0;
  uint32_t date_sec = 0, date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  uint32_t icount_valid = 0;  // unused by qemu-img 7.2 output
};
struct ImageInfo {
  std::string filename, format;
  uint64_t virtual_size = 0;
  uint64_t actual_size = 0;  // bytes allocated on the host (st_blocks * 512)
  std::optional<uint64_t> cluster_size;
  std::string backing_filename, full_backing_filename, backing_format;
  bool dirty_flag = false;
  std::vector<SnapshotInfo> snapshots;
  // qcow2 "Format specific information"
  std::string compat;  // "0.10" or "1.1"
  bool lazy_refcounts = false, corrupt = false, extended_l2 = false;
  int refcount_bits = 16;
  std::string compression_type;  // "zlib" / "zstd"
  bool data_file_raw = false;
};
Result<ImageInfo> query_info(BlockDevice& device, const std::string& filename);

// Allocation status of a range, as `qemu-img map` and qemu-io `map`/`alloc` need it.
struct BlockStatus {
  uint64_t length = 0;       // bytes from the queried offset with the same status
  bool data = false;         // reads come from a data cluster somewhere in the chain
  bool zero = false;         // reads as zero
  bool allocated = false;    // allocated in this layer (not from backing)
  int depth = 0;             // 0 = this image, 1 = its backing file, ...
  std::optional<uint64_t> host_offset;  // where the data lives in the file at `depth`
  std::string file;          // filename of the layer at `depth`
  bool compressed = false;
};
Result<BlockStatus> block_status(BlockDevice& device, uint64_t offset, uint64_t length);

}  // namespace corvid::block

namespace corvid::block {

// qemu-img resize: grows (or, with shrink, shrinks) the virtual disk. Shrinking a qcow2 image
// fails when the cut-off part holds allocated data ("Cannot shrink ...").
Result<> resize_image(BlockDevice& device, uint64_t new_size, bool shrink);

}  // namespace corvid::block
