// One simulated power cut (issue 4 item 7), shared by block_test and the interop/bench
// runner: a writer does random-size writes at random offsets with flushes at random intervals
// through a PowerLossEngine; the power goes out at the chosen request (or after the last
// write, without a close). Then the image is checked as it was left (qcow2 without lazy
// refcounts: no corruption; leaks allowed), reopened read/write (a dirty lazy image is
// repaired by the open), and every byte must hold either the value of the last write
// acknowledged by a completed flush or the value of a later (unacknowledged) write covering
// it. After a clean close the check must find no corruption, and no leak on a lazy image.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "block/check.h"
#include "block/image.h"
#include "block/io_engine.h"
#include "block/power_loss.h"
#include "block/sync_io.h"

namespace corvid::block::testing {

struct PowerLossConfig {
  std::string name;
  std::string format;  // "raw" or "qcow2"
  bool lazy = false;
  uint64_t size = 16 << 20;
  uint64_t cluster_size = 4096;
  int writes = 48;  // writes per run (the cut usually comes first)
  uint64_t max_write = 96 << 10;
};

inline void PrintTo(const PowerLossConfig& c, std::ostream* os) {
  *os << c.name;
}

struct CutReport {
  std::string failure;  // empty: verified
  int64_t acked_writes = 0, unacked_writes = 0;
  int64_t leaks_before = 0, leaks_after = 0;
  bool dirty = false;  // a lazy image was left dirty (and repaired by the reopen)
  PowerLossStats stats;
};

// The byte a write with sequence number seq leaves at file offset at: differs between
// neighbouring writes and along a write, so misplaced or stale data shows.
inline uint8_t pattern_byte(uint64_t seq, uint64_t at) {
  return static_cast<uint8_t>((seq * 167) ^ (at >> 9) * 29 ^ at);
}

inline Result<> create_for(const PowerLossConfig& c, const std::string& path) {
  CreateOptions co;
  co.format = c.format;
  co.size = c.size;
  if (c.format == "qcow2")
    co.options = {{"cluster_size", std::to_string(c.cluster_size)},
                  {"lazy_refcounts", c.lazy ? "on" : "off"}};
  return create_image(path, co);
}

// Runs a check pass with its diagnostics kept for the failure message.
inline Result<CheckResult> check_quietly(const std::string& path, std::string* diagnostics) {
  std::FILE* f = std::tmpfile();
  auto r = check_image(path, "qcow2", RepairMode::kNone, f ? f : stderr);
  if (f) {
    std::rewind(f);
    char line[256];
    while (std::fgets(line, sizeof line, f) && diagnostics->size() < 4096) *diagnostics += line;
    std::fclose(f);
  }
  return r;
}

// Incompatible feature bit 0 (dirty) as the file holds it.
inline bool dirty_bit(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  uint8_t b[8] = {};
  if (f) {
    if (std::fseek(f, 72, SEEK_SET) == 0 && std::fread(b, 1, 8, f) != 8) b[7] = 0;
    std::fclose(f);
  }
  return b[7] & 1;
}

// A second opinion on the image (the interop runner asks qemu-img check): called after the
// cut and after the reopen with the stage and whether leaks are acceptable there; returns a
// failure message or "".
using ExtraCheck = std::function<std::string(const std::string& stage, bool leaks_ok)>;

inline CutReport run_cut(const PowerLossConfig& c, const std::string& path, uint64_t seed,
                         int64_t cut_at, const ExtraCheck& extra = {}) {
  CutReport rep;
  auto fail = [&](std::string why) {
    if (rep.failure.empty()) rep.failure = std::move(why);
    return rep;
  };
  if (auto r = create_for(c, path); !r) return fail("create: " + r.error().message);

  struct W {
    uint64_t seq, off, len;
  };
  std::vector<uint8_t> durable(c.size, 0);  // content acknowledged by a completed flush
  std::vector<W> pending;                   // writes since the last completed flush
  {
    PowerLossOptions po;
    po.seed = seed;
    po.cut_at = cut_at;
    auto inner = IoEngine::create(AioMode::kIoUring);
    if (!inner) return fail("engine: " + inner.error().message);
    PowerLossEngine engine(std::move(*inner), po);
    OpenOptions oo;
    oo.format = c.format;
    auto dev = open_image(path, oo, &engine);
    if (dev) {
      std::mt19937_64 rng(seed * 7919 + 1);
      std::vector<uint8_t> buf;
      int until_flush = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < c.writes; ++i) {
        uint64_t seq = static_cast<uint64_t>(i) + 1;
        uint64_t len = 1 + rng() % c.max_write;
        if (rng() % 3 == 0) len = (len + 511) & ~uint64_t{511};
        uint64_t off = rng() % (c.size - len);
        buf.resize(len);
        for (uint64_t b = 0; b < len; ++b) buf[b] = pattern_byte(seq, off + b);
        pending.push_back({seq, off, len});  // may land even if it fails part-way
        if (!write_sync(**dev, off, buf.data(), len)) break;
        if (--until_flush == 0) {
          until_flush = 1 + static_cast<int>(rng() % 6);
          if (!flush_sync(**dev)) break;
          for (const W& w : pending) {
            for (uint64_t b = 0; b < w.len; ++b)
              durable[w.off + b] = pattern_byte(w.seq, w.off + b);
          }
          rep.acked_writes += static_cast<int64_t>(pending.size());
          pending.clear();
        }
      }
      engine.cut();  // no close: the power goes before anything else is written
      dev->reset();
    } else {
      engine.cut();
    }
    rep.stats = engine.stats();
  }
  rep.unacked_writes = static_cast<int64_t>(pending.size());

  bool dirty = false;
  if (c.format == "qcow2") {
    dirty = rep.dirty = dirty_bit(path);
    std::string diag;
    auto ck = check_quietly(path, &diag);
    if (!ck) return fail("check after the cut: " + ck.error().message);
    if (!c.lazy && (ck->corruptions || ck->check_errors))
      return fail(fmt::format("check after the cut: {} corruptions, {} check errors\n{}",
                              ck->corruptions, ck->check_errors, diag));
    rep.leaks_before = ck->leaks;
    if (extra && !c.lazy) {
      if (std::string e = extra("after the cut", true); !e.empty()) return fail(e);
    }
  }

  OpenOptions oo;
  oo.format = c.format;
  auto dev = open_image(path, oo);
  if (!dev) return fail("reopen: " + dev.error().message);
  std::vector<uint8_t> got(c.size);
  if (auto r = read_sync(**dev, 0, got.data(), got.size()); !r)
    return fail("read back: " + r.error().message);
  // Per byte: the durable value, or the value of any unacknowledged write covering it.
  for (uint64_t at = 0; at < c.size; ++at) {
    if (got[at] == durable[at]) continue;
    bool explained = false;
    for (const W& w : pending) {
      if (at >= w.off && at < w.off + w.len && got[at] == pattern_byte(w.seq, at)) {
        explained = true;
        break;
      }
    }
    if (!explained)
      return fail(
          fmt::format("byte {:#x} reads {:#04x}, flushed value {:#04x}", at, got[at], durable[at]));
  }
  if (auto r = (*dev)->close(); !r) return fail("close: " + r.error().message);
  dev->reset();
  if (c.format == "qcow2") {
    std::string diag;
    auto ck = check_quietly(path, &diag);
    if (!ck) return fail("check after reopen: " + ck.error().message);
    if (ck->corruptions || ck->check_errors)
      return fail(fmt::format("check after reopen: {} corruptions, {} check errors\n{}",
                              ck->corruptions, ck->check_errors, diag));
    rep.leaks_after = ck->leaks;
    // The repair of a dirty image leaves no leak. Otherwise a leak is what QEMU's ordering
    // leaves too: refcounts are durable before the L2/L1 entries that use them.
    if (dirty && ck->leaks)
      return fail(fmt::format("{} leaks after the repair\n{}", ck->leaks, diag));
    if (extra) {
      if (std::string e = extra("after reopen", !dirty); !e.empty()) return fail(e);
    }
  }
  return rep;
}

}  // namespace corvid::block::testing
