// The qcow2-specific entry points of block/image.h and block/check.h, dispatched from the
// generic BlockDevice.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/unique_fd.h"

#include "block/check.h"
#include "block/image.h"
#include "block/qcow2.h"

namespace corvid::block {
namespace {

Result<qcow2::Device*> as_qcow2(BlockDevice& device, const char* what) {
  auto* q = dynamic_cast<qcow2::Device*>(&device);
  if (q == nullptr)
    return errorf(ENOTSUP, "Format '{}' does not support {}", device.format_name(), what);
  return q;
}

}  // namespace

Result<> truncate_image(BlockDevice& device, uint64_t new_size, bool shrink,
                        const std::string& prealloc) {
  if (auto* q = dynamic_cast<qcow2::Device*>(&device))
    return q->truncate(new_size, shrink, prealloc);
  if (prealloc == "off") return resize_image(device, new_size, shrink);
  // A raw file (QEMU's file-posix): falloc reserves the grown range, full writes zeroes there.
  if (prealloc != "falloc" && prealloc != "full")
    return errorf(ENOTSUP, "Unsupported preallocation mode: {}", prealloc);
  const uint64_t old_size = device.size();
  const std::string path = CORVID_TRY(block_status(device, 0, 1)).file;  // the raw file's name
  CORVID_TRY_VOID(resize_image(device, new_size, shrink));
  if (new_size <= old_size) return {};
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return errno_error("Could not open '{}'", path);
  if (prealloc == "falloc") {
    int r = ::posix_fallocate(fd.get(), static_cast<off_t>(old_size),
                              static_cast<off_t>(new_size - old_size));
    if (r != 0) return errorf(r, "Could not preallocate new data: {}", std::strerror(r));
    return {};
  }
  std::vector<char> zeros(std::min<uint64_t>(new_size - old_size, 1 << 20));
  for (uint64_t off = old_size; off < new_size;) {
    size_t n = std::min<uint64_t>(zeros.size(), new_size - off);
    ssize_t w = ::pwrite(fd.get(), zeros.data(), n, static_cast<off_t>(off));
    if (w <= 0) return errno_error("Could not write zeros for preallocation");
    off += static_cast<uint64_t>(w);
  }
  if (::fsync(fd.get()) < 0) return errno_error("Could not flush preallocated data");
  return {};
}

Result<> create_snapshot(BlockDevice& device, const std::string& name) {
  auto* q = CORVID_TRY(as_qcow2(device, "internal snapshots"));
  return q->snapshot_create(name);
}
Result<> apply_snapshot(BlockDevice& device, const std::string& id_or_name) {
  auto* q = CORVID_TRY(as_qcow2(device, "internal snapshots"));
  return q->snapshot_apply(id_or_name);
}
Result<> delete_snapshot(BlockDevice& device, const std::string& id_or_name) {
  auto* q = CORVID_TRY(as_qcow2(device, "internal snapshots"));
  return q->snapshot_delete(id_or_name);
}

Result<> amend_image(BlockDevice& device, const std::map<std::string, std::string>& options) {
  auto* q = CORVID_TRY(as_qcow2(device, "amend"));
  return q->amend(options);
}

Result<> change_backing_file(BlockDevice& device, const std::string& backing,
                             const std::string& backing_fmt) {
  auto* q = CORVID_TRY(as_qcow2(device, "backing files"));
  return q->change_backing_file(backing, backing_fmt);
}

Result<> write_compressed_sync(BlockDevice& device, uint64_t offset, const void* buf, size_t len) {
  auto* q = CORVID_TRY(as_qcow2(device, "compressed writes"));
  uint64_t cs = q->header().cluster_size();
  auto* p = static_cast<const uint8_t*>(buf);
  for (uint64_t done = 0; done < len;) {
    uint64_t n = std::min<uint64_t>(cs, len - done);
    CORVID_TRY_VOID(q->write_compressed(offset + done, p + done, n));
    done += n;
  }
  return {};
}

std::optional<uint64_t> cluster_size_of(BlockDevice& device) {
  if (auto* q = dynamic_cast<qcow2::Device*>(&device)) return q->header().cluster_size();
  return std::nullopt;
}

Result<CheckResult> check_image(const std::string& path, const std::string& format, RepairMode mode,
                                std::FILE* diag) {
  OpenOptions oo;
  oo.format = format;
  oo.check = true;
  oo.read_only = mode == RepairMode::kNone;
  oo.no_backing = true;
  auto dev = CORVID_TRY(open_image(path, oo));
  auto* q = dynamic_cast<qcow2::Device*>(dev.get());
  if (q == nullptr) return make_error(ENOTSUP, "This image format does not support checks");
  q->set_diagnostics(diag);
  auto r = q->check(mode);
  auto c = dev->close();
  if (!r) return r;
  if (!c) return tl::unexpected(c.error());
  return r;
}

}  // namespace corvid::block
