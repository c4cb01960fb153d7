// The raw driver: guest offset = file offset. Reads and writes go straight to the engine
// (O_DIRECT descriptor when aligned, the buffered one otherwise); discard and zeroes use
// fallocate.
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cerrno>

#include "block/driver.h"
#include "block/image_file.h"
#include "block/iov.h"
#include "block/request_pool.h"

namespace corvid::block {
namespace {

Result<> to_result(int64_t res, const char* what, uint64_t offset) {
  if (res >= 0) return {};
  return errorf(static_cast<int>(-res), "{} at offset {}", what, offset);
}

class RawDevice final : public ImageDriver {
 public:
  RawDevice(ImageFile file, uint64_t size, IoEngine* engine, std::unique_ptr<IoEngine> owned)
      : ImageDriver(file.path(), engine, std::move(owned)), file_(std::move(file)), size_(size) {
    file_.attach(engine);
  }
  ~RawDevice() override { (void)close(); }

  uint64_t size() const override { return size_; }
  bool read_only() const override { return file_.read_only(); }
  std::string format_name() const override { return "raw"; }

  void read(uint64_t offset, const iovec* iov, int iovcnt, Completion done) override {
    uint64_t len = iov_length(iov, iovcnt);
    if (!in_range(offset, len)) return fail(std::move(done), EIO, "read", offset);
    Req* r = start(std::move(done), iov, iovcnt, len, offset);
    int fd = file_.is_aligned(offset, iov, iovcnt) ? file_.data_fd() : file_.meta_fd();
    engine_->readv(fd, offset, iov, iovcnt, [this, r](int64_t res) {
      // The file may end before the virtual size (a truncated raw file): zeros past EOF.
      if (res >= 0 && static_cast<uint64_t>(res) < r->len) iov_zero_from(r->iov, r->iovcnt, res);
      finish(r, res, "read");
    });
  }

  void write(uint64_t offset, const iovec* iov, int iovcnt, Completion done) override {
    uint64_t len = iov_length(iov, iovcnt);
    if (read_only()) return fail(std::move(done), EACCES, "write", offset);
    if (!in_range(offset, len)) return fail(std::move(done), EIO, "write", offset);
    Req* r = start(std::move(done), iov, iovcnt, len, offset);
    int fd = file_.is_aligned(offset, iov, iovcnt) ? file_.data_fd() : file_.meta_fd();
    engine_->writev(fd, offset, iov, iovcnt, [this, r](int64_t res) {
      if (res >= 0 && static_cast<uint64_t>(res) < r->len) res = -ENOSPC;
      finish(r, res, "write");
    });
  }

  void flush(Completion done) override {
    Req* r = start(std::move(done), nullptr, 0, 0, 0);
    if (file_.cache() == CacheMode::kUnsafe || read_only()) {
      engine_->complete_later([this, r](int64_t res) { finish(r, res, "flush"); }, 0);
      return;
    }
    engine_->fsync(file_.data_fd(), true, [this, r](int64_t res) { finish(r, res, "flush"); });
  }

  void discard(uint64_t offset, uint64_t len, Completion done) override {
    if (read_only()) return fail(std::move(done), EACCES, "discard", offset);
    if (!in_range(offset, len)) return fail(std::move(done), EIO, "discard", offset);
    Req* r = start(std::move(done), nullptr, 0, len, offset);
    // Discard is advisory: a file system that cannot punch holes just keeps the data.
    engine_->fallocate(file_.data_fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len,
                       [this, r](int64_t) { finish(r, 0, "discard"); });
  }

  void write_zeroes(uint64_t offset, uint64_t len, bool may_unmap, Completion done) override {
    if (read_only()) return fail(std::move(done), EACCES, "write_zeroes", offset);
    if (!in_range(offset, len)) return fail(std::move(done), EIO, "write_zeroes", offset);
    Req* r = start(std::move(done), nullptr, 0, len, offset);
    int mode = may_unmap ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) : FALLOC_FL_ZERO_RANGE;
    engine_->fallocate(file_.data_fd(), mode, offset, len, [this, r](int64_t res) {
      if (res == -EOPNOTSUPP || res == -EINVAL) res = write_zero_buffer(r->offset, r->len);
      finish(r, res, "write_zeroes");
    });
  }

  Result<> close() override {
    if (closed_) return {};
    closed_ = true;
    while (engine_->in_flight() > 0) engine_->poll(true);
    return {};
  }

  Result<BlockStatus> status(uint64_t offset, uint64_t length) override {
    BlockStatus st;
    st.allocated = true;
    st.file = filename_;
    if (offset >= size_) return st;
    length = std::min(length, size_ - offset);
    // SEEK_DATA/SEEK_HOLE tell holes (read as zero) from data, as QEMU's file driver does.
    off_t data = ::lseek(file_.meta_fd(), static_cast<off_t>(offset), SEEK_DATA);
    if (data < 0 && errno == ENXIO) data = static_cast<off_t>(size_);
    if (data < 0) {  // no SEEK_DATA support: everything is data
      st.data = true;
      st.length = length;
      st.host_offset = offset;
      return st;
    }
    if (static_cast<uint64_t>(data) > offset) {
      st.zero = true;
      st.host_offset = offset;  // a hole still maps 1:1 onto the file (QEMU prints its offset)
      st.length = std::min<uint64_t>(length, static_cast<uint64_t>(data) - offset);
      return st;
    }
    off_t hole = ::lseek(file_.meta_fd(), static_cast<off_t>(offset), SEEK_HOLE);
    uint64_t end = hole < 0 ? size_ : std::min<uint64_t>(size_, static_cast<uint64_t>(hole));
    st.data = true;
    st.length = std::min(length, end - offset);
    st.host_offset = offset;
    return st;
  }

  Result<ImageInfo> info() override {
    ImageInfo info;
    info.filename = filename_;
    info.format = "raw";
    info.virtual_size = size_;
    info.actual_size = CORVID_TRY(file_.allocated_bytes());
    return info;
  }

  Result<> pread_sync(uint64_t offset, void* buf, size_t len) override {
    return file_.pread(buf, len, offset);
  }

  Result<> resize(uint64_t new_size, bool shrink) override {
    if (read_only()) return make_error(EACCES, "Image is read-only");
    if (new_size < size_ && !shrink)
      return make_error(EINVAL, "Use the --shrink option to perform a shrink operation.");
    CORVID_TRY_VOID(file_.truncate(new_size));
    size_ = new_size;
    return {};
  }

 private:
  struct Req {
    Completion done;
    const iovec* iov = nullptr;
    int iovcnt = 0;
    uint64_t len = 0, offset = 0;
  };

  Req* start(Completion done, const iovec* iov, int iovcnt, uint64_t len, uint64_t offset) {
    Req* r = pool_.get();
    r->done = std::move(done);
    r->iov = iov;
    r->iovcnt = iovcnt;
    r->len = len;
    r->offset = offset;
    return r;
  }
  void finish(Req* r, int64_t res, const char* what) {
    Completion done = std::move(r->done);
    uint64_t offset = r->offset;
    r->done = nullptr;
    pool_.put(r);
    done(to_result(res, what, offset));
  }
  void fail(Completion done, int err, const char* what, uint64_t offset) {
    Req* r = start(std::move(done), nullptr, 0, 0, offset);
    engine_->complete_later([this, r, what](int64_t res) { finish(r, res, what); }, -err);
  }
  int64_t write_zero_buffer(uint64_t offset, uint64_t len) {
    static const char zeros[65536] = {};
    while (len > 0) {
      size_t n = std::min<uint64_t>(len, sizeof zeros);
      if (!file_.pwrite(zeros, n, offset)) return -EIO;
      offset += n;
      len -= n;
    }
    return 0;
  }

  ImageFile file_;
  uint64_t size_;
  bool closed_ = false;
  RequestPool<Req> pool_;
};

}  // namespace

Result<std::unique_ptr<ImageDriver>> open_raw(const std::string& path, const OpenOptions& options,
                                              IoEngine* engine, std::unique_ptr<IoEngine> owned) {
  auto file = CORVID_TRY(ImageFile::open(path, options.read_only, options.cache));
  // QEMU counts whole sectors: a 196616-byte file is a 197120-byte disk (zeros past EOF).
  uint64_t size = (CORVID_TRY(file.size()) + 511) & ~uint64_t{511};
  return std::unique_ptr<ImageDriver>(
      new RawDevice(std::move(file), size, engine, std::move(owned)));
}

}  // namespace corvid::block
