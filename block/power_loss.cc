#include "block/power_loss.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "block/iov.h"

namespace corvid::block {
namespace {

uint64_t file_size(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Bytes [offset, offset + len) clipped to the file's size.
std::vector<uint8_t> read_range(int fd, uint64_t offset, uint64_t len, uint64_t size) {
  if (offset >= size) return {};
  std::vector<uint8_t> out(std::min(len, size - offset));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

void write_range(int fd, uint64_t offset, const uint8_t* p, size_t len) {
  if (len == 0) return;
  iovec v{const_cast<uint8_t*>(p), len};
  (void)host_pwritev(fd, offset, &v, 1);
}

}  // namespace

PowerLossEngine::PowerLossEngine(std::unique_ptr<IoEngine> inner, PowerLossOptions options)
    : EngineWrapper(std::move(inner)), options_(options), rng_(options.seed) {}

bool PowerLossEngine::fails() {
  if (off_) return true;
  if (stats_.requests++ == options_.cut_at) cut();
  return off_;
}

PowerLossEngine::File* PowerLossEngine::file_of(int fd) {
  struct stat st;
  if (::fstat(fd, &st) < 0) return nullptr;
  Key key{st.st_dev, st.st_ino};
  auto it = files_.find(key);
  if (it == files_.end()) {
    // A descriptor of our own without the driver's O_DIRECT (the journal's buffers are not
    // aligned) that outlives the driver's.
    File f;
    std::string self = "/proc/self/fd/" + std::to_string(fd);
    f.fd = UniqueFd(::open(self.c_str(), O_RDWR | O_CLOEXEC));
    it = files_.emplace(key, std::move(f)).first;
  }
  return &it->second;
}

template <typename Apply>
int64_t PowerLossEngine::change(int fd, uint64_t offset, uint64_t len, bool truncate, Apply apply) {
  File* f = file_of(fd);
  if (f == nullptr || !f->fd) return -EBADF;
  Change c;
  c.offset = offset;
  c.truncate = truncate;
  const int own = f->fd.get();
  c.size_before = file_size(own);
  c.before = read_range(own, offset, len, c.size_before);
  int64_t res = apply();
  if (res < 0) return res;
  c.size_after = file_size(own);
  c.after = read_range(own, offset, len, c.size_after);
  // O_DSYNC (writethrough, directsync): the write is durable when it completes, and on Linux
  // file systems it commits what was written before it as well, like fdatasync.
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_DSYNC)) {
    f->changes.clear();
    return res;
  }
  f->changes.push_back(std::move(c));
  return res;
}

int64_t PowerLossEngine::flush_file(int fd) {
  File* f = file_of(fd);
  if (f == nullptr) return -EBADF;
  f->changes.clear();
  ++stats_.flushes;
  return 0;
}

void PowerLossEngine::lose_power(File& f) {
  const int fd = f.fd.get();
  // Back to the durable state: undo every change, newest first.
  for (auto it = f.changes.rbegin(); it != f.changes.rend(); ++it) {
    write_range(fd, it->offset, it->before.data(), it->before.size());
    (void)host_ftruncate(fd, it->size_before);
  }
  stats_.volatile_writes += static_cast<int64_t>(f.changes.size());
  if (options_.keep_some && !f.changes.empty()) {
    // What the cache had written out before the power went: any subset, in any order.
    std::vector<size_t> order(f.changes.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng_);
    for (size_t i : order) {
      if (rng_() % 2) continue;
      const Change& c = f.changes[i];
      ++stats_.kept;
      if (c.truncate) {
        (void)host_ftruncate(fd, c.size_after);
        continue;
      }
      // A torn write lands in tear_size pieces aligned in the file, as sectors are, each
      // with even odds.
      const uint64_t ts = options_.tear_size;
      const bool torn = ts && c.after.size() > ts && rng_() % 4 == 0;
      for (uint64_t pos = 0; pos < c.after.size();) {
        uint64_t end = c.after.size();
        if (ts) end = std::min<uint64_t>(end, ((c.offset + pos) / ts + 1) * ts - c.offset);
        if (!torn || rng_() % 2) write_range(fd, c.offset + pos, c.after.data() + pos, end - pos);
        pos = end;
      }
      if (torn) ++stats_.torn;
      if (!torn && file_size(fd) < c.size_after) (void)host_ftruncate(fd, c.size_after);
    }
  }
  f.changes.clear();
}

void PowerLossEngine::cut() {
  if (off_) return;
  off_ = true;
  for (auto& [key, f] : files_) lose_power(f);
}

void PowerLossEngine::readv(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) {
  if (off_) return complete_later(std::move(cb), -EIO);
  EngineWrapper::readv(fd, offset, iov, iovcnt, std::move(cb));
}

void PowerLossEngine::writev(int fd, uint64_t offset, const iovec* iov, int iovcnt, IoCallback cb) {
  complete_later(std::move(cb), pwritev_now(fd, offset, iov, iovcnt, WriteKind::kData));
}

void PowerLossEngine::fsync(int fd, bool, IoCallback cb) {
  complete_later(std::move(cb), fdatasync_now(fd));
}

void PowerLossEngine::fallocate(int fd, int mode, uint64_t offset, uint64_t len, IoCallback cb) {
  complete_later(std::move(cb), fallocate_now(fd, mode, offset, len));
}

int64_t PowerLossEngine::pwritev_now(int fd, uint64_t offset, const iovec* iov, int iovcnt,
                                     WriteKind) {
  if (fails()) return -EIO;
  return change(fd, offset, iov_length(iov, iovcnt), false,
                [&] { return host_pwritev(fd, offset, iov, iovcnt); });
}

int64_t PowerLossEngine::fdatasync_now(int fd) {
  if (fails()) return -EIO;
  return flush_file(fd);
}

int64_t PowerLossEngine::ftruncate_now(int fd, uint64_t size) {
  if (fails()) return -EIO;
  uint64_t old = file_size(fd);
  uint64_t from = std::min(old, size);
  return change(fd, from, old > size ? old - size : 0, true,
                [&] { return host_ftruncate(fd, size); });
}

int64_t PowerLossEngine::fallocate_now(int fd, int mode, uint64_t offset, uint64_t len) {
  if (fails()) return -EIO;
  return change(fd, offset, len, false, [&] { return host_fallocate(fd, mode, offset, len); });
}

}  // namespace corvid::block
