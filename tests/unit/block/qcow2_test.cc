#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "base/endian.h"
#include "block/check.h"
#include "block/image.h"
#include "block/io_engine.h"
#include "block/sync_io.h"
#include "test_util.h"

namespace corvid::block {
namespace {

using testing::TempDir;

void create(const std::string& path, uint64_t size, std::map<std::string, std::string> opts = {}) {
  CreateOptions co;
  co.format = "qcow2";
  co.size = size;
  co.options = std::move(opts);
  auto r = create_image(path, co);
  ASSERT_TRUE(r) << r.error().message;
}

std::unique_ptr<BlockDevice> open_rw(const std::string& path, bool read_only = false) {
  OpenOptions oo;
  oo.read_only = read_only;
  auto d = open_image(path, oo);
  EXPECT_TRUE(d) << d.error().message;
  return d ? std::move(*d) : nullptr;
}

void poke(const std::string& path, uint64_t off, const void* data, size_t len) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, data, len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
  ::close(fd);
}

uint64_t peek64(const std::string& path, uint64_t off) {
  int fd = ::open(path.c_str(), O_RDONLY);
  uint8_t b[8] = {};
  EXPECT_EQ(::pread(fd, b, 8, static_cast<off_t>(off)), 8);
  ::close(fd);
  return load_be64(b);
}

TEST(Qcow2Io, ManyRequestsInFlightReadBackExactly) {
  TempDir dir;
  std::string path = dir.file("a.qcow2");
  create(path, 64 << 20, {{"cluster_size", "4096"}});
  auto dev = open_rw(path);
  ASSERT_TRUE(dev);
  // 256 concurrent writes of different sizes and offsets (allocating and in place), then reads.
  std::mt19937 rng(7);
  constexpr int kN = 256;
  std::vector<std::vector<uint8_t>> data(kN);
  std::vector<iovec> iov(kN);
  std::vector<uint64_t> off(kN);
  int done = 0, failed = 0;
  for (int i = 0; i < kN; ++i) {
    size_t len = 512 * (1 + rng() % 24);
    off[i] = (uint64_t(i) * (64 << 10)) + 512 * (rng() % 64);
    data[i].assign(len, static_cast<uint8_t>(i + 1));
    iov[i] = {data[i].data(), len};
    (*dev).write(off[i], &iov[i], 1, [&](Result<> r) {
      failed += !r;
      ++done;
    });
  }
  while (done < kN) dev->io_engine()->poll(true);
  EXPECT_EQ(failed, 0);
  std::vector<std::vector<uint8_t>> back(kN);
  done = 0;
  for (int i = 0; i < kN; ++i) {
    back[i].assign(data[i].size(), 0xee);
    iov[i] = {back[i].data(), back[i].size()};
    dev->read(off[i], &iov[i], 1, [&](Result<> r) {
      failed += !r;
      ++done;
    });
  }
  while (done < kN) dev->io_engine()->poll(true);
  EXPECT_EQ(failed, 0);
  for (int i = 0; i < kN; ++i) EXPECT_EQ(back[i], data[i]) << "request " << i;
  ASSERT_TRUE(dev->close());
  auto check = check_image(path, "qcow2", RepairMode::kNone, stderr);
  ASSERT_TRUE(check);
  EXPECT_EQ(check->corruptions, 0);
  EXPECT_EQ(check->leaks, 0);
}

TEST(Qcow2Io, PartialWritesCopyFromTheBackingFile) {
  TempDir dir;
  std::string base = dir.file("base.raw"), top = dir.file("top.qcow2");
  CreateOptions co;
  co.size = 1 << 20;
  ASSERT_TRUE(create_image(base, co));
  {
    auto b = open_rw(base);
    std::vector<uint8_t> pat(1 << 20, 0xaa);
    ASSERT_TRUE(write_sync(*b, 0, pat.data(), pat.size()));
  }
  create(top, 2 << 20, {{"backing_file", "base.raw"}, {"backing_fmt", "raw"}});
  auto dev = open_rw(top);
  std::vector<uint8_t> w(100, 0xbb);
  ASSERT_TRUE(write_sync(*dev, 70000, w.data(), w.size()));
  std::vector<uint8_t> r(2 << 20);
  ASSERT_TRUE(read_sync(*dev, 0, r.data(), r.size()));
  for (size_t i = 0; i < r.size(); ++i) {
    uint8_t want = i >= (1u << 20) ? 0 : (i >= 70000 && i < 70100) ? 0xbb : 0xaa;
    ASSERT_EQ(r[i], want) << "offset " << i;
  }
  auto st = block_status(*dev, 0, 1 << 20);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->depth, 1);  // cluster 0 comes from the backing file
  st = block_status(*dev, 65536, 65536);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->depth, 0);
  EXPECT_TRUE(st->data);
}

TEST(Qcow2Io, ZeroesAndDiscardReadAsZero) {
  TempDir dir;
  std::string path = dir.file("z.qcow2");
  create(path, 4 << 20);
  auto dev = open_rw(path);
  std::vector<uint8_t> pat(1 << 20, 0x5a);
  ASSERT_TRUE(write_sync(*dev, 0, pat.data(), pat.size()));
  ASSERT_TRUE(write_zeroes_sync(*dev, 1000, 200000, false));
  ASSERT_TRUE(discard_sync(*dev, 512 << 10, 128 << 10));
  std::vector<uint8_t> r(1 << 20);
  ASSERT_TRUE(read_sync(*dev, 0, r.data(), r.size()));
  for (size_t i = 0; i < r.size(); ++i) {
    bool zero = (i >= 1000 && i < 201000) || (i >= (512u << 10) && i < (640u << 10));
    ASSERT_EQ(r[i], zero ? 0 : 0x5a) << "offset " << i;
  }
  auto st = block_status(*dev, 65536, 65536);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->zero);
  EXPECT_TRUE(st->host_offset.has_value());  // zeroed in place: still allocated
}

TEST(Qcow2LazyRefcounts, DirtyImageIsRepairedOnReadWriteOpen) {
  TempDir dir;
  std::string path = dir.file("l.qcow2");
  create(path, 128 << 20, {{"lazy_refcounts", "on"}});
  pid_t pid = fork();
  if (pid == 0) {
    // writethrough, as qemu-io opens images: the L2 entry is on disk when the write completes
    // (under writeback it would be cached until a flush and lost with the process).
    OpenOptions oo;
    oo.cache = CacheMode::kWritethrough;
    auto dev = open_image(path, oo);
    char buf[512];
    std::memset(buf, 0x5a, sizeof buf);
    if (!dev || !write_sync(**dev, 0, buf, sizeof buf)) _exit(1);
    _exit(0);  // a crash: no close()
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(peek64(path, 72) & 1, 1u);  // dirty bit set and left set

  // Read-only: works, reports the dirty flag, writes nothing.
  struct stat before, after;
  ::stat(path.c_str(), &before);
  {
    auto ro = open_rw(path, true);
    char buf[512];
    ASSERT_TRUE(read_sync(*ro, 0, buf, sizeof buf));
    EXPECT_EQ(buf[0], 0x5a);
    auto info = query_info(*ro, path);
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->dirty_flag);
  }
  ::stat(path.c_str(), &after);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  EXPECT_EQ(peek64(path, 72) & 1, 1u);

  auto check = check_image(path, "qcow2", RepairMode::kNone, stderr);
  ASSERT_TRUE(check);
  EXPECT_EQ(check->corruptions, 2);  // refcount 0 of the data cluster + its COPIED flag

  {
    auto rw = open_rw(path);
    ASSERT_TRUE(rw);
  }  // the open repairs
  EXPECT_EQ(peek64(path, 72) & 1, 0u);
  check = check_image(path, "qcow2", RepairMode::kNone, stderr);
  ASSERT_TRUE(check);
  EXPECT_EQ(check->corruptions, 0);
  EXPECT_EQ(check->leaks, 0);
}

TEST(Qcow2LazyRefcounts, CleanCloseClearsTheDirtyBitAndNonLazyNeverSetsIt) {
  TempDir dir;
  for (bool lazy : {true, false}) {
    std::string path = dir.file(lazy ? "lazy.qcow2" : "plain.qcow2");
    create(path, 1 << 20, {{"lazy_refcounts", lazy ? "on" : "off"}});
    auto dev = open_rw(path);
    char buf[4096] = {1};
    ASSERT_TRUE(write_sync(*dev, 0, buf, sizeof buf));
    EXPECT_EQ(peek64(path, 72) & 1, lazy ? 1u : 0u);
    ASSERT_TRUE(dev->close());
    EXPECT_EQ(peek64(path, 72) & 1, 0u);
  }
}

TEST(Qcow2Corruption, InvalidL2EntryFailsWithEioAndMarksCorrupt) {
  TempDir dir;
  std::string path = dir.file("c.qcow2");
  create(path, 1 << 20);
  {
    auto dev = open_rw(path);
    char buf[512] = {1};
    ASSERT_TRUE(write_sync(*dev, 0, buf, sizeof buf));
  }
  uint8_t bad[8];
  store_be64(bad, (1ull << 63) | 0x50200);  // data cluster offset not cluster aligned
  poke(path, 0x40000, bad, 8);
  {
    auto dev = open_rw(path);
    char buf[512];
    auto r = read_sync(*dev, 0, buf, sizeof buf);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EIO);
    EXPECT_NE(r.error().message.find("0x50200"), std::string::npos) << r.error().message;
    r = read_sync(*dev, 0, buf, sizeof buf);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ENOMEDIUM);
  }
  EXPECT_EQ(peek64(path, 72) & 2, 2u);
  auto rw = open_image(path, OpenOptions{});
  ASSERT_FALSE(rw);
  EXPECT_EQ(rw.error().code, EACCES);
  EXPECT_EQ(rw.error().message, "qcow2: Image is corrupt; cannot be opened read/write");
  EXPECT_TRUE(open_rw(path, true));
}

TEST(Qcow2Corruption, WritesOverMetadataArePrevented) {
  TempDir dir;
  std::string path = dir.file("o.qcow2");
  create(path, 1 << 20);
  {
    auto dev = open_rw(path);
    char buf[512] = {1};
    ASSERT_TRUE(write_sync(*dev, 0, buf, sizeof buf));
  }
  uint8_t bad[8];
  store_be64(bad, (1ull << 63) | 0x10000);  // data cluster "is" the refcount table
  poke(path, 0x40000, bad, 8);
  auto dev = open_rw(path);
  char buf[512] = {2};
  auto r = write_sync(*dev, 0, buf, sizeof buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_NE(r.error().message.find("overlaps with refcount table"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(peek64(path, 0x10000), 0x20000u);  // refcount table untouched
}

TEST(Qcow2Check, LeakIsFoundAndRepaired) {
  TempDir dir;
  std::string path = dir.file("k.qcow2");
  create(path, 1 << 20);
  uint8_t two[2] = {0, 2};
  poke(path, 0x20000, two, 2);  // refcount of cluster 0 = 2
  auto r = check_image(path, "qcow2", RepairMode::kNone, stderr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->leaks, 1);
  EXPECT_EQ(r->corruptions, 0);
  r = check_image(path, "qcow2", RepairMode::kLeaks, stderr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->leaks_fixed, 1);
  r = check_image(path, "qcow2", RepairMode::kNone, stderr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->leaks, 0);
  EXPECT_EQ(r->image_end_offset, 0x40000);
}

TEST(Qcow2Check, RawImagesHaveNoCheck) {
  TempDir dir;
  CreateOptions co;
  co.size = 4096;
  ASSERT_TRUE(create_image(dir.file("r.raw"), co));
  auto r = check_image(dir.file("r.raw"), "", RepairMode::kNone, stderr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOTSUP);
}

TEST(Qcow2Snapshots, ApplyRestoresDataAndDeleteFreesIt) {
  TempDir dir;
  std::string path = dir.file("s.qcow2");
  create(path, 1 << 20);
  auto dev = open_rw(path);
  std::vector<uint8_t> a(65536, 1), b(65536, 2), r(65536);
  ASSERT_TRUE(write_sync(*dev, 0, a.data(), a.size()));
  ASSERT_TRUE(create_snapshot(*dev, "one"));
  ASSERT_TRUE(write_sync(*dev, 0, b.data(), b.size()));
  ASSERT_TRUE(read_sync(*dev, 0, r.data(), r.size()));
  EXPECT_EQ(r, b);
  auto info = query_info(*dev, path);
  ASSERT_EQ(info->snapshots.size(), 1u);
  EXPECT_EQ(info->snapshots[0].id, "1");
  EXPECT_EQ(info->snapshots[0].name, "one");
  ASSERT_TRUE(apply_snapshot(*dev, "one"));
  ASSERT_TRUE(read_sync(*dev, 0, r.data(), r.size()));
  EXPECT_EQ(r, a);
  auto missing = apply_snapshot(*dev, "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  ASSERT_TRUE(delete_snapshot(*dev, "1"));
  ASSERT_TRUE(dev->close());
  auto c = check_image(path, "qcow2", RepairMode::kNone, stderr);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->corruptions + c->leaks, 0);
}

TEST(Qcow2Create, RejectsBadOptionsWithQemuText) {
  TempDir dir;
  CreateOptions co;
  co.format = "qcow2";
  co.size = 1 << 20;
  auto expect = [&](std::map<std::string, std::string> o, const std::string& msg) {
    co.options = std::move(o);
    auto r = create_image(dir.file("x.qcow2"), co);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, msg);
  };
  expect({{"cluster_size", "1000"}}, "Cluster size must be a power of two between 512 and 2048k");
  expect({{"refcount_bits", "3"}},
         "Refcount width must be a power of two and may not exceed 64 bits");
  expect({{"compat", "0.9"}}, "Parameter 'version' does not accept value '0.9'");
  expect({{"compat", "0.10"}, {"lazy_refcounts", "on"}},
         "Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or "
         "greater)");
  expect({{"foo", "1"}}, "Invalid parameter 'foo'");
  expect({{"backing_fmt", "qcow2"}}, "Backing format cannot be used without backing file");
}

// Broken images give an error or a failed request, never a crash or a hang.
TEST(Qcow2BadInput, MutatedImagesFailCleanly) {
  TempDir dir;
  std::string good = dir.file("good.qcow2");
  create(good, 8 << 20, {{"cluster_size", "4096"}});
  {
    auto dev = open_rw(good);
    std::vector<uint8_t> pat(256 << 10, 0x33);
    ASSERT_TRUE(write_sync(*dev, 0, pat.data(), pat.size()));
    ASSERT_TRUE(create_snapshot(*dev, "s"));
  }
  int fd = ::open(good.c_str(), O_RDONLY);
  struct stat st;
  ::fstat(fd, &st);
  std::vector<uint8_t> image(static_cast<size_t>(st.st_size));
  ASSERT_EQ(::pread(fd, image.data(), image.size(), 0), st.st_size);
  ::close(fd);
  std::mt19937 rng(1234);
  std::string path = dir.file("bad.qcow2");
  for (int round = 0; round < 300; ++round) {
    std::vector<uint8_t> m = image;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips; ++i) {
      // Aim at metadata: the header, the tables in the first clusters, or anywhere.
      size_t at = rng() % 3 == 0 ? rng() % 128 : rng() % 2 ? rng() % (64 << 10) : rng() % m.size();
      m[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
    }
    if (round % 10 == 0) m.resize(rng() % m.size());  // truncated files too
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_EQ(::write(fd, m.data(), m.size()), static_cast<ssize_t>(m.size()));
    ::close(fd);
    OpenOptions oo;
    oo.read_only = round % 2;
    auto dev = open_image(path, oo);
    if (!dev) {
      EXPECT_FALSE(dev.error().message.empty());
      continue;
    }
    std::vector<uint8_t> buf(64 << 10);
    for (uint64_t off = 0; off < std::min<uint64_t>((*dev)->size(), 1 << 20); off += buf.size())
      (void)read_sync(**dev, off, buf.data(), std::min<uint64_t>(buf.size(), (*dev)->size() - off));
    if (!oo.read_only) (void)write_sync(**dev, 4096, buf.data(), 8192);
    (void)(*dev)->close();
  }
}

}  // namespace
}  // namespace corvid::block
