// The block layer's entry points used by tools/, virtio/ and tests: open, create, query, check.
// Contract shared by the block library (which implements it) and its users.
#pragma once

#include <cstdint>
#include <cstdio>
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
  // qemu-img create opens the backing file (for its size and format) unless -u is given.
  bool check_backing = true;
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
  uint64_t length = 0;                  // bytes from the queried offset with the same status
  bool data = false;                    // reads come from a data cluster somewhere in the chain
  bool zero = false;                    // reads as zero
  bool allocated = false;               // allocated in this layer (not from backing)
  int depth = 0;                        // 0 = this image, 1 = its backing file, ...
  std::optional<uint64_t> host_offset;  // where the data lives in the file at `depth`
  std::string file;                     // filename of the layer at `depth`
  bool compressed = false;
};
Result<BlockStatus> block_status(BlockDevice& device, uint64_t offset, uint64_t length);

}  // namespace corvid::block

namespace corvid::block {

// Errors from these functions (and from open_image/create_image) carry qemu-img's text in
// Error::message: print it after qemu-img's own prefix, not Error::to_string().

// qemu-img resize / qemu-io truncate: grows (or, with shrink, shrinks) the virtual disk;
// prealloc is off|metadata|falloc|full for the grown part (qcow2).
Result<> resize_image(BlockDevice& device, uint64_t new_size, bool shrink);
Result<> truncate_image(BlockDevice& device, uint64_t new_size, bool shrink,
                        const std::string& prealloc = "off");

// Internal snapshots (qcow2). Unknown names/ids fail with ENOENT: apply with the message
// "Failed to load snapshot: No such file or directory", delete with "snapshot not found".
// The list is ImageInfo::snapshots.
Result<> create_snapshot(BlockDevice& device, const std::string& name);
Result<> apply_snapshot(BlockDevice& device, const std::string& id_or_name);
Result<> delete_snapshot(BlockDevice& device, const std::string& id_or_name);

// qemu-img amend: compat=0.10|1.1, lazy_refcounts=on|off (refcount_bits only unchanged).
Result<> amend_image(BlockDevice& device, const std::map<std::string, std::string>& options);

// Rewrites the backing file name and format in the header (rebase -u; commit/rebase end).
// The open device keeps reading through the old backing file until it is reopened.
Result<> change_backing_file(BlockDevice& device, const std::string& backing,
                             const std::string& backing_fmt);

// A compressed write of whole clusters (the image's last, partial cluster allowed), for
// convert -c and qemu-io write -c. Clusters that do not compress are written plainly.
Result<> write_compressed_sync(BlockDevice& device, uint64_t offset, const void* buf, size_t len);

// Cluster size of a qcow2 image (nullopt for raw), for callers that must align requests.
std::optional<uint64_t> cluster_size_of(BlockDevice& device);

}  // namespace corvid::block
