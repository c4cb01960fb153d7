// qcow2 open (QEMU 7.2 qcow2_do_open order and messages), close, header updates, the dirty
// and corrupt bits, and the info/status queries.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>

#include "base/endian.h"
#include "block/check.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {

struct Device::OpenState {
  std::set<std::pair<dev_t, ino_t>> files;
  int depth = 0;
};

namespace {

constexpr int kMaxChainDepth = 256;

// QEMU's validate_table_offset, with the messages qcow2_do_open gives for each table.
Result<> validate_table(uint64_t offset, uint64_t entries, uint64_t entry_len,
                        uint64_t cluster_size, const char* what) {
  uint64_t size = entries * entry_len;
  if (entries > INT64_MAX / entry_len || INT64_MAX - size < offset || (offset & (cluster_size - 1)))
    return errorf(EINVAL, "{} offset invalid", what);
  return {};
}

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

}  // namespace

std::string resolve_backing_path(const std::string& image, const std::string& backing) {
  if (backing.empty() || backing[0] == '/' || backing.find("://") != std::string::npos)
    return backing;
  return dirname_of(image) + backing;
}

Device::Device(ImageFile file, Header header, IoEngine* engine, std::unique_ptr<IoEngine> owned)
    : ImageDriver(file.path(), engine, std::move(owned)),
      file_(std::move(file)),
      header_(std::move(header)) {
  file_.attach(engine);
}

Device::~Device() {
  (void)close();
}

uint64_t Device::file_size() const {
  auto s = file_.size();
  return s ? *s : 0;
}

Result<std::unique_ptr<ImageDriver>> Device::open(const std::string& path,
                                                  const OpenOptions& options, IoEngine* engine,
                                                  std::unique_ptr<IoEngine> owned, OpenState* chain,
                                                  bool check_mode) {
  auto file = CORVID_TRY(ImageFile::open(path, options.read_only, options.cache));
  std::vector<uint8_t> buf(65536);
  CORVID_TRY_VOID(file.pread(buf.data(), buf.size(), 0));
  size_t need = 0;
  auto header = parse_header(buf.data(), buf.size(), &need);
  if (!header && need) {
    buf.resize(need);
    CORVID_TRY_VOID(file.pread(buf.data(), buf.size(), 0));
    header = parse_header(buf.data(), buf.size(), &need);
  }
  if (!header) return tl::unexpected(header.error());
  OpenState local;
  if (chain == nullptr) chain = &local;
  std::unique_ptr<Device> dev(
      new Device(std::move(file), std::move(*header), engine, std::move(owned)));
  if (auto r = dev->load(options, chain, check_mode); !r) {
    dev->closed_ = true;  // a half-loaded image writes nothing back
    return tl::unexpected(r.error());
  }
  return std::unique_ptr<ImageDriver>(std::move(dev));
}

Result<> Device::load(const OpenOptions& options, OpenState* chain, bool check_mode) {
  const Header& h = header_;
  check_mode_ = check_mode;
  cluster_size_ = h.cluster_size();
  l2_bits_ = h.cluster_bits - 3;
  l2_entries_ = cluster_size_ / 8;
  refblock_bits_ = h.cluster_bits + 3 - h.refcount_order;
  refblock_entries_ = 1ull << refblock_bits_;
  csize_shift_ = 62 - (h.cluster_bits - 8);
  csize_mask_ = (1ull << (h.cluster_bits - 8)) - 1;
  coffset_mask_ = (1ull << csize_shift_) - 1;

  if (h.crypt_method != 0) {
    if (h.crypt_method > 2)
      return errorf(EINVAL, "Unsupported encryption method: {}", h.crypt_method);
    return make_error(ENOTSUP, "Encrypted qcow2 images are not supported by corvid");
  }
  if (h.incompatible_features & kIncompatDataFile)
    return make_error(ENOTSUP,
                      "qcow2 images with an external data file are not supported by corvid");
  if (h.incompatible_features & kIncompatExtendedL2)
    return make_error(ENOTSUP, "qcow2 images with extended L2 entries are not supported by corvid");
  if ((h.incompatible_features & kIncompatCorrupt) && !file_.read_only() && !check_mode)
    return make_error(EACCES, "qcow2: Image is corrupt; cannot be opened read/write");

  if (h.refcount_table_clusters == 0 && !check_mode)
    return make_error(EINVAL, "Image does not contain a reference count table");
  if (uint64_t{h.refcount_table_clusters} > kMaxReftableBytes / cluster_size_)
    return make_error(EINVAL, "Reference count table too large");
  CORVID_TRY_VOID(validate_table(h.refcount_table_offset, h.refcount_table_clusters, cluster_size_,
                                 cluster_size_, "Reference count table"));
  if (!check_mode) {
    if (h.nb_snapshots > kMaxSnapshots) return make_error(EINVAL, "Snapshot table too large");
    CORVID_TRY_VOID(
        validate_table(h.snapshots_offset, h.nb_snapshots, 40, cluster_size_, "Snapshot table"));
  }
  if (h.l1_size > kMaxL1Bytes / 8) return make_error(EFBIG, "Active L1 table too large");
  uint64_t l1_cover = cluster_size_ * l2_entries_;
  uint64_t needed_l1 = h.size / l1_cover + (h.size % l1_cover != 0);
  if (needed_l1 > INT_MAX) return make_error(EFBIG, "Image is too big");
  if (h.l1_size < needed_l1) return make_error(EINVAL, "L1 table is too small");
  CORVID_TRY_VOID(
      validate_table(h.l1_table_offset, h.l1_size, 8, cluster_size_, "Active L1 table"));

  std::vector<uint8_t> raw(uint64_t{h.l1_size} * 8);
  CORVID_TRY_VOID(file_.pread(raw.data(), raw.size(), h.l1_table_offset));
  l1_.resize(h.l1_size);
  for (size_t i = 0; i < l1_.size(); ++i) l1_[i] = load_be64(&raw[i * 8]);
  raw.assign(uint64_t{h.refcount_table_clusters} * cluster_size_, 0);
  CORVID_TRY_VOID(file_.pread(raw.data(), raw.size(), h.refcount_table_offset));
  reftable_.resize(raw.size() / 8);
  for (size_t i = 0; i < reftable_.size(); ++i) reftable_[i] = load_be64(&raw[i * 8]);

  // Bounded caches: 32 MiB of L2 tables and 8 MiB of refcount blocks at most.
  size_t l2_tables = std::clamp<size_t>((32u << 20) / cluster_size_, 16, 8192);
  size_t rb_tables = std::clamp<size_t>((8u << 20) / cluster_size_, 16, 4096);
  l2_cache_ = std::make_unique<TableCache>(cluster_size_, l2_tables);
  rb_cache_ = std::make_unique<TableCache>(cluster_size_, rb_tables);
  l2_cache_->set_write_barrier([this] { return l2_write_barrier(); });
  // Without O_DSYNC, L2 and refcount updates are cached and written back at flush (or
  // eviction) in dependency order; with it every metadata write is durable in issue order.
  meta_write_back_ = !file_.read_only() && file_.cache() != CacheMode::kWritethrough &&
                     file_.cache() != CacheMode::kDirectSync;
  lazy_refcounts_ = options.lazy_refcounts.value_or(h.compatible_features & kCompatLazyRefcounts);
  if (lazy_refcounts_ && h.version < 3)
    return make_error(
        EINVAL, "Lazy refcounts require a qcow2 image with at least qemu 1.1 compatibility level");

  if (!check_mode) CORVID_TRY_VOID(read_snapshots());

  struct stat st;
  if (::fstat(file_.meta_fd(), &st) == 0) {
    if (!chain->files.insert({st.st_dev, st.st_ino}).second)
      return errorf(ELOOP, "Backing file '{}' creates an infinite loop.", filename_);
  }
  if (!header_.backing_file.empty() && !options.no_backing)
    CORVID_TRY_VOID(open_backing(options, chain));

  if (!file_.read_only()) {
    // Clear autoclear bits we do not maintain (unknown ones, and bitmaps: we do not update them).
    if (header_.autoclear_features) {
      header_.autoclear_features = 0;
      CORVID_TRY_VOID(rewrite_header());
    }
    if ((header_.incompatible_features & kIncompatDirty) && !check_mode) {
      // Mandatory repair of a dirty image before any other I/O (QEMU qcow2_do_open).
      auto result = check(RepairMode::kAll);
      if (!result || result->check_errors) {
        return errorf(EIO, "Could not repair dirty image: {}",
                      result ? std::string(std::strerror(EIO)) : result.error().message);
      }
    }
  }
  return {};
}

Result<> Device::open_backing(const OpenOptions& options, OpenState* chain) {
  if (++chain->depth > kMaxChainDepth) return make_error(ELOOP, "Backing chain is too long");
  std::string path = resolve_backing_path(filename_, header_.backing_file);
  OpenOptions bo = options;
  bo.read_only = true;
  bo.format = options.backing_format.empty() ? header_.backing_format : options.backing_format;
  bo.backing_format.clear();
  auto fail = [](const Error& e) {
    return errorf(e.code, "Could not open backing file: {}", e.message);
  };
  if (bo.format.empty()) {
    uint8_t magic[4] = {};
    auto f = ImageFile::open(path, true, CacheMode::kWriteback);
    if (!f) return fail(f.error());
    (void)f->pread(magic, 4, 0);
    bo.format = load_be32(magic) == kMagic ? "qcow2" : "raw";
  }
  Result<std::unique_ptr<ImageDriver>> b;
  if (bo.format == "qcow2") {
    b = Device::open(path, bo, engine_, nullptr, chain, false);
  } else if (bo.format == "raw") {
    b = open_raw(path, bo, engine_, nullptr);
  } else {
    return fail(Error{EINVAL, fmt::format("Unknown driver '{}'", bo.format)});
  }
  if (!b) return fail(b.error());
  backing_ = std::move(*b);
  return {};
}

Result<> Device::rewrite_header() {
  auto cluster = CORVID_TRY(serialize_header(header_));
  CORVID_TRY_VOID(file_.pwrite(cluster.data(), cluster.size(), 0));
  return file_.sync();
}

Result<> Device::mark_dirty() {
  if (header_.incompatible_features & kIncompatDirty) return {};
  // Only the feature word, made durable before the first allocating write (qcow2_mark_dirty).
  uint8_t be[8];
  store_be64(be, header_.incompatible_features | kIncompatDirty);
  CORVID_TRY_VOID(file_.pwrite(be, 8, kOffsetIncompatible));
  CORVID_TRY_VOID(file_.sync());
  header_.incompatible_features |= kIncompatDirty;
  return {};
}

Result<> Device::mark_clean() {
  if (!(header_.incompatible_features & kIncompatDirty)) return {};
  CORVID_TRY_VOID(l2_cache_->flush(file_));
  CORVID_TRY_VOID(flush_refblocks());
  CORVID_TRY_VOID(file_.sync());
  header_.incompatible_features &= ~kIncompatDirty;
  return rewrite_header();
}

Result<> Device::flush_metadata() {
  // L2 tables after their barrier; refcount blocks only while they must be accurate.
  if (!l2_cache_ || !rb_cache_) return {};
  CORVID_TRY_VOID(l2_cache_->flush(file_));
  if (!refcounts_deferred()) CORVID_TRY_VOID(flush_refblocks());
  return {};
}

Result<> Device::l2_write_barrier() {
  // qcow2_cache_set_dependency(l2, refblock) + the flush QEMU's L2 write-back waits for: the
  // refcounts of newly used clusters, and the guest data written into them, are durable
  // before any L2 entry that maps them.
  if (!refcounts_deferred()) CORVID_TRY_VOID(flush_refblocks());
  return file_.sync();
}

Error Device::corruption(const std::string& message) {
  bool fatal = !file_.read_only();
  if (!broken_) {
    if (fatal) {
      std::fprintf(
          stderr,
          "qcow2: Marking image as corrupt: %s; further corruption events will be suppressed\n",
          message.c_str());
      header_.incompatible_features |= kIncompatCorrupt;
      (void)rewrite_header();
      broken_ = true;
    } else if (!corrupt_reported_) {
      std::fprintf(
          stderr,
          "qcow2: Image is corrupt: %s; further non-fatal corruption events will be suppressed\n",
          message.c_str());
      corrupt_reported_ = true;
    }
  }
  return Error{EIO, message};
}

Result<> Device::close() {
  if (closed_) return {};
  while (engine_->in_flight() > 0) engine_->poll(true);
  closed_ = true;
  Result<> r;
  if (!file_.read_only() && !broken_) {
    r = flush_metadata();
    if (r) r = flush_refblocks();
    if (r && lazy_refcounts_ && !check_mode_) r = mark_clean();
    if (r) r = file_.sync();
  }
  if (backing_) (void)backing_->close();
  return r;
}

int Device::bottom_depth() const {
  return backing_ ? 1 + backing_->bottom_depth() : 0;
}

Result<ImageInfo> Device::info() {
  ImageInfo info;
  info.filename = filename_;
  info.format = "qcow2";
  info.virtual_size = header_.size;
  info.actual_size = CORVID_TRY(file_.allocated_bytes());
  info.cluster_size = cluster_size_;
  info.backing_filename = header_.backing_file;
  if (!header_.backing_file.empty())
    info.full_backing_filename = resolve_backing_path(filename_, header_.backing_file);
  info.backing_format = header_.backing_format;
  info.dirty_flag = header_.incompatible_features & kIncompatDirty;
  for (const auto& s : snapshots_) {
    SnapshotInfo si;
    si.id = s.id;
    si.name = s.name;
    si.vm_state_size = s.vm_state_size;
    si.date_sec = s.date_sec;
    si.date_nsec = s.date_nsec;
    si.vm_clock_nsec = s.vm_clock_nsec;
    si.icount_valid = s.icount != ~0ull;
    info.snapshots.push_back(si);
  }
  info.compat = header_.version == 2 ? "0.10" : "1.1";
  info.lazy_refcounts = header_.compatible_features & kCompatLazyRefcounts;
  info.corrupt = header_.incompatible_features & kIncompatCorrupt;
  info.extended_l2 = header_.incompatible_features & kIncompatExtendedL2;
  info.refcount_bits = 1 << header_.refcount_order;
  info.compression_type = header_.compression_type == 1 ? "zstd" : "zlib";
  return info;
}

Result<BlockStatus> Device::status(uint64_t offset, uint64_t length) {
  BlockStatus st;
  st.file = filename_;
  if (offset >= header_.size) return st;
  length = std::min(length, header_.size - offset);
  Extent x = CORVID_TRY(map(offset, length));
  st.length = x.length;
  switch (x.type) {
    case ClusterType::kNormal: {
      st.data = st.allocated = true;
      st.host_offset = x.host_offset;
      // Like QEMU, ask the file whether the data is a hole (preallocated metadata): then it
      // reads as zeros; the run ends where the file's data/hole state changes.
      off_t data = ::lseek(file_.meta_fd(), static_cast<off_t>(x.host_offset), SEEK_DATA);
      if (data < 0 && errno == ENXIO) {
        st.zero = true;
      } else if (data > static_cast<off_t>(x.host_offset)) {
        st.zero = true;
        st.length = std::min<uint64_t>(st.length, static_cast<uint64_t>(data) - x.host_offset);
      } else if (data >= 0) {
        off_t hole = ::lseek(file_.meta_fd(), static_cast<off_t>(x.host_offset), SEEK_HOLE);
        if (hole > static_cast<off_t>(x.host_offset))
          st.length = std::min<uint64_t>(st.length, static_cast<uint64_t>(hole) - x.host_offset);
      }
      break;
    }
    case ClusterType::kZeroAlloc:
      st.zero = st.allocated = true;
      st.host_offset = x.host_offset;
      break;
    case ClusterType::kZeroPlain:
      st.zero = st.allocated = true;
      break;
    case ClusterType::kCompressed:
      st.data = st.allocated = st.compressed = true;
      break;
    case ClusterType::kUnallocated:
      if (backing_ && offset < backing_->size()) {
        uint64_t n = std::min(x.length, backing_->size() - offset);
        BlockStatus b = CORVID_TRY(backing_->status(offset, n));
        b.depth += 1;
        return b;
      }
      // Unallocated everywhere: reported at the bottom of the chain, as QEMU does; past the
      // end of the backing file it is this layer's.
      st.zero = true;
      if (backing_ && offset < backing_->size()) st.depth = bottom_depth();
      break;
  }
  return st;
}

}  // namespace corvid::block::qcow2

namespace corvid::block {

Result<std::unique_ptr<ImageDriver>> open_qcow2(const std::string& path, const OpenOptions& options,
                                                IoEngine* engine, std::unique_ptr<IoEngine> owned) {
  return qcow2::Device::open(path, options, engine, std::move(owned), nullptr, options.check);
}

Result<> create_qcow2(const std::string& path, const CreateOptions& options) {
  return qcow2::create(path, options);
}

}  // namespace corvid::block
