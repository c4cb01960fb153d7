#include "block/image_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "block/iov.h"

namespace corvid::block {

Result<ImageFile> ImageFile::open(const std::string& path, bool read_only, CacheMode cache) {
  ImageFile f;
  f.path_ = path;
  f.read_only_ = read_only;
  f.cache_ = cache;
  int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  // writethrough/directsync: every write is durable before it completes.
  int sync_flag =
      (cache == CacheMode::kWritethrough || cache == CacheMode::kDirectSync) ? O_DSYNC : 0;
  f.direct_ = cache == CacheMode::kNone || cache == CacheMode::kDirectSync;
  f.meta_ = UniqueFd(::open(path.c_str(), flags | sync_flag));
  if (!f.meta_) return errno_error("Could not open '{}': {}", path, std::strerror(errno));
  struct stat st;
  if (::fstat(f.meta_.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return make_error(EISDIR, fmt::format("Could not open '{}': {}", path, std::strerror(EISDIR)));
  }
  if (f.direct_) {
    f.data_ = UniqueFd(::open(path.c_str(), flags | sync_flag | O_DIRECT));
    if (!f.data_) return errno_error("Could not open '{}': {}", path, std::strerror(errno));
  } else {
    f.data_ = std::move(f.meta_);
  }
  return f;
}

bool ImageFile::is_aligned(uint64_t offset, const iovec* iov, int iovcnt) const {
  if (!direct_) return true;
  if (offset % kDirectAlign) return false;
  for (int i = 0; i < iovcnt; ++i) {
    if (reinterpret_cast<uintptr_t>(iov[i].iov_base) % kDirectAlign ||
        iov[i].iov_len % kDirectAlign)
      return false;
  }
  return true;
}

Result<> ImageFile::pread(void* buf, size_t len, uint64_t offset) const {
  auto* p = static_cast<uint8_t*>(buf);
  while (len > 0) {
    ssize_t n = ::pread(meta_fd(), p, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("{}: read of {} bytes at offset {:#x} failed", path_, len, offset);
    }
    if (n == 0) {  // past EOF: zeros
      std::memset(p, 0, len);
      break;
    }
    p += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

Result<> ImageFile::pwrite(const void* buf, size_t len, uint64_t offset) const {
  iovec v{const_cast<void*>(buf), len};
  return pwritev(&v, 1, offset, WriteKind::kMetadata);
}

Result<> ImageFile::pwritev(const iovec* iov, int iovcnt, uint64_t offset, WriteKind kind) const {
  int64_t n = engine_ ? engine_->pwritev_now(meta_fd(), offset, iov, iovcnt, kind)
                      : host_pwritev(meta_fd(), offset, iov, iovcnt);
  if (n < 0) {
    int err = static_cast<int>(-n);
    return make_error(err, fmt::format("{}: write of {} bytes at offset {:#x} failed: {}", path_,
                                       iov_length(iov, iovcnt), offset, std::strerror(err)));
  }
  return {};
}

Result<uint64_t> ImageFile::size() const {
  struct stat st;
  if (::fstat(meta_fd(), &st) < 0) return errno_error("{}: fstat", path_);
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(meta_fd(), 0, SEEK_END);
    if (end < 0) return errno_error("{}: lseek", path_);
    return static_cast<uint64_t>(end);
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<uint64_t> ImageFile::allocated_bytes() const {
  struct stat st;
  if (::fstat(meta_fd(), &st) < 0) return errno_error("{}: fstat", path_);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

Result<> ImageFile::truncate(uint64_t size) const {
  int64_t r = engine_ ? engine_->ftruncate_now(meta_fd(), size) : host_ftruncate(meta_fd(), size);
  if (r < 0) {
    int err = static_cast<int>(-r);
    return make_error(
        err, fmt::format("{}: truncate to {} bytes failed: {}", path_, size, std::strerror(err)));
  }
  return {};
}

Result<> ImageFile::punch_hole(uint64_t offset, uint64_t len) const {
  constexpr int kMode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  int64_t r = engine_ ? engine_->fallocate_now(meta_fd(), kMode, offset, len)
                      : host_fallocate(meta_fd(), kMode, offset, len);
  if (r < 0) {
    int err = static_cast<int>(-r);
    return make_error(err, fmt::format("{}: discard of {} bytes at offset {:#x} failed: {}", path_,
                                       len, offset, std::strerror(err)));
  }
  return {};
}

Result<> ImageFile::sync() const {
  if (cache_ == CacheMode::kUnsafe) return {};
  int64_t r = engine_ ? engine_->fdatasync_now(meta_fd()) : host_fdatasync(meta_fd());
  if (r < 0) {
    int err = static_cast<int>(-r);
    return make_error(err, fmt::format("{}: fdatasync failed: {}", path_, std::strerror(err)));
  }
  return {};
}

}  // namespace corvid::block
