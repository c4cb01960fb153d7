// blkdrv: a small driver over corvid's block library for the interop tests (until corvid-img
// and corvid-io cover everything): each invocation opens one image and runs operations.
//   blkdrv create FMT PATH SIZE [key=val,...]
//   blkdrv [-r] [-n] [-t cache] [-i aio] IMAGE OP ARGS... [-- OP ARGS...]
// OPs: write OFF LEN PATTERN | read OFF LEN PATTERN | zero OFF LEN [unmap] | discard OFF LEN |
//      compress OFF LEN PATTERN | flush | check none|leaks|all | snap create|apply|delete NAME |
//      snaps | resize SIZE [shrink] | map | info | dump FILE | kill (exit without closing)
#include <fcntl.h>
#include <unistd.h>

#include <time.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "base/size.h"
#include "block/check.h"
#include "block/image.h"
#include "block/io_engine.h"
#include "block/qcow2.h"
#include "block/sync_io.h"

using namespace corvid;
using namespace corvid::block;

namespace {

uint64_t num(const std::string& s) {
  auto v = parse_size(s);
  if (!v) {
    std::fprintf(stderr, "bad number %s\n", s.c_str());
    std::exit(2);
  }
  return *v;
}

int run_op(BlockDevice& dev, const std::vector<std::string>& a) {
  const std::string& op = a[0];
  auto need = [&](size_t n) {
    if (a.size() < n + 1) {
      std::fprintf(stderr, "%s: missing arguments\n", op.c_str());
      std::exit(2);
    }
  };
  auto fail = [&](const Error& e) {
    std::printf("%s failed: %s\n", op.c_str(), e.message.c_str());
    return 1;
  };
  if (op == "write" || op == "read" || op == "compress") {
    need(3);
    uint64_t off = num(a[1]), len = num(a[2]);
    int pat = static_cast<int>(std::strtol(a[3].c_str(), nullptr, 0));
    std::vector<uint8_t> buf(len, static_cast<uint8_t>(pat));
    if (op == "write") {
      if (auto r = write_sync(dev, off, buf.data(), len); !r) return fail(r.error());
    } else if (op == "compress") {
      auto* q = dynamic_cast<qcow2::Device*>(&dev);
      uint64_t cs = q->header().cluster_size();
      for (uint64_t o = 0; o < len; o += cs) {
        if (auto r = q->write_compressed(off + o, buf.data() + o, std::min(cs, len - o)); !r)
          return fail(r.error());
      }
    } else {
      std::fill(buf.begin(), buf.end(), static_cast<uint8_t>(~pat));
      if (auto r = read_sync(dev, off, buf.data(), len); !r) return fail(r.error());
      for (uint64_t i = 0; i < len; ++i) {
        if (buf[i] != static_cast<uint8_t>(pat)) {
          std::printf("Pattern verification failed at offset %" PRIu64 "\n", off + i);
          return 1;
        }
      }
    }
    std::printf("%s %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\n", op.c_str(), len, len,
                off);
  } else if (op == "zero") {
    need(2);
    if (auto r = write_zeroes_sync(dev, num(a[1]), num(a[2]), a.size() > 3); !r)
      return fail(r.error());
  } else if (op == "discard") {
    need(2);
    if (auto r = discard_sync(dev, num(a[1]), num(a[2])); !r) return fail(r.error());
  } else if (op == "flush") {
    if (auto r = flush_sync(dev); !r) return fail(r.error());
  } else if (op == "check") {
    need(1);
    RepairMode m = a[1] == "all"     ? RepairMode::kAll
                   : a[1] == "leaks" ? RepairMode::kLeaks
                                     : RepairMode::kNone;
    auto r = check_image(dev, m);
    if (!r) return fail(r.error());
    // qemu-img's flow: after a repair, a second pass reports the state.
    if (m != RepairMode::kNone && (r->corruptions_fixed || r->leaks_fixed)) {
      auto again = check_image(dev, RepairMode::kNone);
      if (!again) return fail(again.error());
      again->corruptions_fixed = r->corruptions_fixed;
      again->leaks_fixed = r->leaks_fixed;
      r = again;
    }
    std::printf("corruptions=%" PRId64 " leaks=%" PRId64 " check_errors=%" PRId64
                " corruptions_fixed=%" PRId64 " leaks_fixed=%" PRId64 " end=%" PRId64
                " allocated=%" PRId64 "/%" PRId64 "\n",
                r->corruptions, r->leaks, r->check_errors, r->corruptions_fixed, r->leaks_fixed,
                r->image_end_offset, r->allocated_clusters, r->total_clusters);
  } else if (op == "snap") {
    need(2);
    auto* q = dynamic_cast<qcow2::Device*>(&dev);
    Result<> r = a[1] == "create"  ? q->snapshot_create(a[2])
                 : a[1] == "apply" ? q->snapshot_apply(a[2])
                                   : q->snapshot_delete(a[2]);
    if (!r) return fail(r.error());
  } else if (op == "snaps") {
    auto* q = dynamic_cast<qcow2::Device*>(&dev);
    for (const auto& s : q->snapshots()) std::printf("%s %s\n", s.id.c_str(), s.name.c_str());
  } else if (op == "amend") {
    need(1);
    std::map<std::string, std::string> opts;
    std::string all = a[1];
    for (size_t pos = 0; pos <= all.size();) {
      size_t comma = all.find(',', pos);
      std::string kv =
          all.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      auto eq = kv.find('=');
      if (!kv.empty()) opts[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (auto r = amend_image(dev, opts); !r) return fail(r.error());
  } else if (op == "resize") {
    need(1);
    if (auto r = resize_image(dev, num(a[1]), a.size() > 2); !r) return fail(r.error());
  } else if (op == "map") {
    for (uint64_t off = 0; off < dev.size();) {
      auto st = block_status(dev, off, dev.size() - off);
      if (!st) return fail(st.error());
      std::printf("%" PRIu64 " %" PRIu64 " data=%d zero=%d alloc=%d depth=%d off=%" PRId64
                  " comp=%d\n",
                  off, st->length, st->data, st->zero, st->allocated, st->depth,
                  st->host_offset ? static_cast<int64_t>(*st->host_offset) : -1, st->compressed);
      off += st->length;
    }
  } else if (op == "info") {
    auto i = query_info(dev, "x");
    if (!i) return fail(i.error());
    std::printf("format=%s size=%" PRIu64 " dirty=%d corrupt=%d compat=%s backing=%s\n",
                i->format.c_str(), i->virtual_size, i->dirty_flag, i->corrupt, i->compat.c_str(),
                i->backing_filename.c_str());
  } else if (op == "dump") {
    need(1);
    FILE* f = std::fopen(a[1].c_str(), "wb");
    std::vector<uint8_t> buf(1 << 20);
    for (uint64_t off = 0; off < dev.size(); off += buf.size()) {
      uint64_t n = std::min<uint64_t>(buf.size(), dev.size() - off);
      if (auto r = read_sync(dev, off, buf.data(), n); !r) return fail(r.error());
      std::fwrite(buf.data(), 1, n, f);
    }
    std::fclose(f);
  } else if (op == "bench") {
    // bench r|w BS DEPTH COUNT: qemu-img bench's sequential pattern, timed.
    need(4);
    bool wr = a[1] == "w";
    uint64_t bs = num(a[2]), depth = num(a[3]), count = num(a[4]);
    std::vector<uint8_t*> bufs(depth);
    std::vector<iovec> iovs(depth);
    for (uint64_t i = 0; i < depth; ++i) {
      bufs[i] = static_cast<uint8_t*>(std::aligned_alloc(4096, bs));
      std::memset(bufs[i], 0, bs);
      iovs[i] = {bufs[i], bs};
    }
    uint64_t issued = 0, done = 0, off = 0;
    int errors = 0;
    IoEngine* eng = dev.io_engine();
    std::function<void(uint64_t)> issue = [&](uint64_t slot) {
      uint64_t o = off;
      off = (off + bs) % (dev.size() - dev.size() % bs);
      ++issued;
      auto cb = [&, slot](Result<> r) {
        if (!r) ++errors;
        ++done;
        if (issued < count) issue(slot);
      };
      if (wr) {
        dev.write(o, &iovs[slot], 1, cb);
      } else {
        dev.read(o, &iovs[slot], 1, cb);
      }
    };
    timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0; i < depth && issued < count; ++i) issue(i);
    while (done < count) eng->poll(true);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    std::printf("%s bs=%" PRIu64 " depth=%" PRIu64 " count=%" PRIu64
                ": %.3f s, %.0f IOPS, errors=%d\n",
                wr ? "write" : "read", bs, depth, count, sec, count / sec, errors);
    for (auto* b : bufs) std::free(b);
  } else if (op == "torture") {
    // torture LOG SEED SPAN: random 512-aligned writes of random size below SPAN with a flush
    // every few writes, forever (the test SIGKILLs it). The log gets "W seq off len" before a
    // write is issued and "F seq" once a flush covering writes <= seq has completed.
    need(3);
    FILE* log = std::fopen(a[1].c_str(), "a");
    uint64_t seed = num(a[2]), span = num(a[3]);
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> buf(256 << 10);
    for (uint64_t seq = 1;; ++seq) {
      uint64_t len = 512 * (1 + rng() % 512);
      uint64_t off = 512 * (rng() % ((span - len) / 512));
      std::memset(buf.data(), static_cast<int>(seq % 251 + 1), len);
      std::fprintf(log, "W %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", seq, off, len);
      std::fflush(log);
      if (auto r = write_sync(dev, off, buf.data(), len); !r) return fail(r.error());
      if (seq % 4 == 0) {
        if (auto r = flush_sync(dev); !r) return fail(r.error());
        std::fprintf(log, "F %" PRIu64 "\n", seq);
        std::fflush(log);
      }
    }
  } else if (op == "kill") {
    std::fflush(stdout);
    _exit(0);
  } else {
    std::fprintf(stderr, "unknown op %s\n", op.c_str());
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 4 && args[0] == "create") {
    CreateOptions co;
    co.format = args[1];
    co.size = num(args[3]);
    if (args.size() > 4) {
      std::string opts = args[4];
      size_t pos = 0;
      while (pos < opts.size()) {
        size_t comma = opts.find(',', pos);
        std::string kv =
            opts.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        auto eq = kv.find('=');
        co.options[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    }
    auto r = create_image(args[2], co);
    if (!r) {
      std::fprintf(stderr, "blkdrv: %s: %s\n", args[2].c_str(), r.error().message.c_str());
      return 1;
    }
    return 0;
  }
  OpenOptions oo;
  size_t i = 0;
  for (; i < args.size() && args[i][0] == '-'; ++i) {
    if (args[i] == "-r")
      oo.read_only = true;
    else if (args[i] == "-c")
      oo.check = true;
    else if (args[i] == "-t") {
      std::string m = args[++i];
      oo.cache = m == "none"           ? CacheMode::kNone
                 : m == "writethrough" ? CacheMode::kWritethrough
                 : m == "directsync"   ? CacheMode::kDirectSync
                 : m == "unsafe"       ? CacheMode::kUnsafe
                                       : CacheMode::kWriteback;
    } else if (args[i] == "-i") {
      oo.aio = args[++i] == "threads" ? AioMode::kThreads : AioMode::kIoUring;
    } else if (args[i] == "-f") {
      oo.format = args[++i];
    }
  }
  if (i >= args.size()) {
    std::fprintf(
        stderr,
        "usage: blkdrv [-r] [-c] [-t cache] [-i aio] [-f fmt] IMAGE OP ARGS [-- OP ARGS]\n");
    return 2;
  }
  std::string path = args[i++];
  auto dev = open_image(path, oo);
  if (!dev) {
    std::printf("can't open device %s: %s\n", path.c_str(), dev.error().message.c_str());
    return 1;
  }
  int rc = 0;
  std::vector<std::string> op;
  for (; i <= args.size(); ++i) {
    if (i == args.size() || args[i] == "--") {
      if (!op.empty()) rc |= run_op(**dev, op);
      op.clear();
    } else {
      op.push_back(args[i]);
    }
  }
  if (auto r = (*dev)->close(); !r) {
    std::printf("close failed: %s\n", r.error().message.c_str());
    rc = 1;
  }
  return rc;
}
