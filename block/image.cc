// open_image / create_image / query_info / block_status: format probing and dispatch to the
// drivers.
#include "block/image.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "base/unique_fd.h"
#include "block/driver.h"

namespace corvid::block {
namespace {

constexpr uint32_t kQcow2Magic = 0x514649fb;

Result<std::string> probe_format(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("Could not open '{}': {}", path, std::strerror(errno));
  uint8_t magic[4] = {};
  ssize_t n = ::pread(fd.get(), magic, sizeof magic, 0);
  if (n == 4 && load_be32(magic) == kQcow2Magic) return std::string("qcow2");
  return std::string("raw");
}

ImageDriver* as_driver(BlockDevice& device) {
  return dynamic_cast<ImageDriver*>(&device);
}

}  // namespace

Result<std::unique_ptr<BlockDevice>> open_image(const std::string& path, const OpenOptions& options,
                                                IoEngine* engine) {
  std::string format = options.format;
  if (format.empty()) format = CORVID_TRY(probe_format(path));
  std::unique_ptr<IoEngine> owned;
  if (engine == nullptr) {
    owned = CORVID_TRY(IoEngine::create(options.aio));
    engine = owned.get();
  }
  Result<std::unique_ptr<ImageDriver>> dev;
  if (format == "raw") {
    dev = open_raw(path, options, engine, std::move(owned));
  } else if (format == "qcow2") {
    dev = open_qcow2(path, options, engine, std::move(owned));
  } else {
    return errorf(EINVAL, "Unknown driver '{}'", format);
  }
  if (!dev) return tl::unexpected(dev.error());
  return std::unique_ptr<BlockDevice>(std::move(*dev));
}

Result<> create_image(const std::string& path, const CreateOptions& options) {
  if (options.format == "raw") return create_raw(path, options);
  if (options.format == "qcow2") return create_qcow2(path, options);
  return errorf(EINVAL, "Unknown file format '{}'", options.format);
}

Result<> create_raw(const std::string& path, const CreateOptions& options) {
  std::string prealloc = "off";
  for (const auto& [key, value] : options.options) {
    if (key == "preallocation") {
      if (value != "off" && value != "falloc" && value != "full")
        return errorf(EINVAL, "Parameter 'preallocation' does not accept value '{}'", value);
      prealloc = value;
    } else if (key == "size" || key == "extent_size_hint" || key == "nocow") {
      continue;  // allocation hints for the host file system; corvid leaves them to it
    } else {
      return errorf(EINVAL, "Invalid parameter '{}'", key);
    }
  }
  if (!options.size) return make_error(EINVAL, "Image creation needs a size parameter");
  uint64_t size = *options.size;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return errno_error("Could not create '{}'", path);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0)
    return errno_error("Could not resize file");
  if (prealloc == "falloc" && size > 0) {
    if (::posix_fallocate(fd.get(), 0, static_cast<off_t>(size)) != 0)
      return errno_error("Could not preallocate data for the new file");
  }
  if (prealloc != "full" && size > 0) {
    // Like QEMU's file-posix, the first block is written (zeroes) so that probing the O_DIRECT
    // alignment later finds data there; failures are ignored, as there.
    std::vector<char> zeros(std::min<uint64_t>(size, size < 4096 ? 512 : 4096));
    (void)!::pwrite(fd.get(), zeros.data(), zeros.size(), 0);
  } else if (prealloc == "full") {
    std::vector<char> zeros(1 << 20);
    for (uint64_t off = 0; off < size; off += zeros.size()) {
      size_t n = std::min<uint64_t>(zeros.size(), size - off);
      if (::pwrite(fd.get(), zeros.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n))
        return errno_error("Could not write zeros for preallocation");
    }
  }
  return {};
}

Result<ImageInfo> query_info(BlockDevice& device, const std::string& filename) {
  ImageDriver* d = as_driver(device);
  if (d == nullptr) return make_error(ENOTSUP, "not a corvid image driver");
  ImageInfo info = CORVID_TRY(d->info());
  info.filename = filename;
  return info;
}

Result<BlockStatus> block_status(BlockDevice& device, uint64_t offset, uint64_t length) {
  ImageDriver* d = as_driver(device);
  if (d == nullptr) return make_error(ENOTSUP, "not a corvid image driver");
  return d->status(offset, length);
}

Result<> resize_image(BlockDevice& device, uint64_t new_size, bool shrink) {
  ImageDriver* d = as_driver(device);
  if (d == nullptr) return make_error(ENOTSUP, "not a corvid image driver");
  return d->resize(new_size, shrink);
}

}  // namespace corvid::block
