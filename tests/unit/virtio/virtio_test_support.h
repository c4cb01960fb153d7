// Test doubles for the virtio tests: guest RAM with an I/O loop, a recording interrupt sink, an
// in-memory disk, and the driver side of a split virtqueue written straight into guest memory.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "base/event_loop.h"
#include "block/block_device.h"
#include "hw/core/guest_memory.h"
#include "hw/core/interrupts.h"
#include "virtio/device.h"
#include "virtio/mmio_transport.h"

namespace corvid::virtio::testing {

class RecordingSink : public hw::InterruptSink {
 public:
  void set_irq(uint32_t gsi, bool level) override {
    irq_events.push_back({gsi, level});
    levels[gsi] = level;
  }
  void signal_msi(uint64_t address, uint32_t data) override { msis.push_back({address, data}); }
  bool level(uint32_t gsi) const {
    auto it = levels.find(gsi);
    return it != levels.end() && it->second;
  }
  std::vector<std::pair<uint32_t, bool>> irq_events;
  std::map<uint32_t, bool> levels;
  std::vector<std::pair<uint64_t, uint32_t>> msis;
};

// An in-memory disk. With `deferred`, completions wait for complete_pending().
class MemDisk : public block::BlockDevice {
 public:
  explicit MemDisk(uint64_t size, bool read_only = false) : data(size), ro(read_only) {}
  uint64_t size() const override { return data.size(); }
  bool read_only() const override { return ro; }
  std::string format_name() const override { return "mem"; }
  void read(uint64_t offset, const iovec* iov, int iovcnt, block::Completion done) override {
    for (int i = 0; i < iovcnt; ++i) {
      std::memcpy(iov[i].iov_base, data.data() + offset, iov[i].iov_len);
      offset += iov[i].iov_len;
    }
    finish(std::move(done));
  }
  void write(uint64_t offset, const iovec* iov, int iovcnt, block::Completion done) override {
    for (int i = 0; i < iovcnt; ++i) {
      std::memcpy(data.data() + offset, iov[i].iov_base, iov[i].iov_len);
      offset += iov[i].iov_len;
    }
    ++writes;
    finish(std::move(done));
  }
  void flush(block::Completion done) override {
    ++flushes;
    finish(std::move(done));
  }
  void discard(uint64_t offset, uint64_t len, block::Completion done) override {
    discards.push_back({offset, len});
    finish(std::move(done));
  }
  void write_zeroes(uint64_t offset, uint64_t len, bool may_unmap,
                    block::Completion done) override {
    std::memset(data.data() + offset, 0, len);
    zeroes.push_back({offset, len});
    last_may_unmap = may_unmap;
    finish(std::move(done));
  }
  Result<> close() override {
    closed = true;
    return {};
  }

  void complete_pending() {
    auto work = std::move(pending);
    pending.clear();
    for (auto& fn : work) fn();
  }

  std::vector<uint8_t> data;
  bool ro;
  bool deferred = false;
  bool closed = false;
  bool fail_next = false;
  int writes = 0, flushes = 0;
  bool last_may_unmap = false;
  std::vector<std::pair<uint64_t, uint64_t>> discards, zeroes;
  std::vector<std::function<void()>> pending;

 private:
  void finish(block::Completion done) {
    Result<> r = {};
    if (fail_next) {
      fail_next = false;
      r = make_error(EIO, "injected failure");
    }
    if (deferred) {
      pending.push_back([done = std::move(done), r] { done(r); });
    } else {
      done(r);
    }
  }
};

// 4 MiB of guest RAM at 0 and an event loop the test drives by hand.
struct TestVm {
  TestVm() {
    EXPECT_TRUE(memory.add_ram(0, 4 << 20, false).has_value());
    loop = std::move(*EventLoop::create());
  }
  DeviceServices services() { return {&memory, &sink, loop.get(), {}, {}}; }
  // Runs what the kicks and completions queued (the I/O thread's work).
  void run_io() {
    for (int i = 0; i < 8; ++i) {
      auto n = loop->run_once(0);
      if (!n || *n == 0) break;
    }
  }
  hw::GuestMemory memory;
  RecordingSink sink;
  std::unique_ptr<EventLoop> loop;
};

// The driver's side of one split virtqueue (§2.7), laid out at `base`.
class DriverRing {
 public:
  DriverRing(hw::GuestMemory& memory, uint64_t base, uint16_t size)
      : mem_(memory),
        size_(size),
        desc_(base),
        avail_(base + 16ull * size),
        used_((base + 16ull * size + 6 + 2ull * size + 3) & ~3ull) {
    EXPECT_TRUE(mem_.fill(base, 0, used_ + 6 + 8ull * size - base).has_value());
  }
  uint16_t size() const { return size_; }
  uint64_t desc() const { return desc_; }
  uint64_t avail() const { return avail_; }
  uint64_t used() const { return used_; }

  void set_table_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                      uint16_t next = 0) {
    EXPECT_TRUE(mem_.write_le64(table + 16ull * i, addr).has_value());
    EXPECT_TRUE(mem_.write_le32(table + 16ull * i + 8, len).has_value());
    EXPECT_TRUE(mem_.write_le16(table + 16ull * i + 12, flags).has_value());
    EXPECT_TRUE(mem_.write_le16(table + 16ull * i + 14, next).has_value());
  }
  void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    set_table_desc(desc_, i, addr, len, flags, next);
  }
  void make_available(uint16_t head) {
    EXPECT_TRUE(mem_.write_le16(avail_ + 4 + 2ull * (avail_idx_ % size_), head).has_value());
    ++avail_idx_;
    EXPECT_TRUE(mem_.write_le16(avail_ + 2, avail_idx_).has_value());
  }
  void set_avail_idx(uint16_t idx) {
    avail_idx_ = idx;
    EXPECT_TRUE(mem_.write_le16(avail_ + 2, idx).has_value());
  }
  void set_avail_flags(uint16_t flags) { EXPECT_TRUE(mem_.write_le16(avail_, flags).has_value()); }
  void set_used_event(uint16_t v) {
    EXPECT_TRUE(mem_.write_le16(avail_ + 4 + 2ull * size_, v).has_value());
  }
  uint16_t used_idx() const { return *mem_.read_le16(used_ + 2); }
  uint16_t used_flags() const { return *mem_.read_le16(used_); }
  uint16_t avail_event() const { return *mem_.read_le16(used_ + 4 + 8ull * size_); }
  std::pair<uint32_t, uint32_t> used_elem(uint16_t i) const {
    uint64_t at = used_ + 4 + 8ull * (i % size_);
    return {*mem_.read_le32(at), *mem_.read_le32(at + 4)};
  }

 private:
  hw::GuestMemory& mem_;
  uint16_t size_;
  uint64_t desc_, avail_, used_;
  uint16_t avail_idx_ = 0;
};

// Drives a virtio-mmio window the way a driver would (§4.2.3).
class MmioDriver {
 public:
  explicit MmioDriver(MmioTransport& t) : t_(t) {}
  uint32_t read(uint64_t off) { return static_cast<uint32_t>(t_.io_read(off, 4)); }
  void write(uint64_t off, uint32_t v) { t_.io_write(off, 4, v); }
  // §3.1.1 steps 1-6; true when the device kept FEATURES_OK.
  bool negotiate(uint64_t features) {
    write(0x70, 0);
    write(0x70, kStatusAcknowledge);
    write(0x70, kStatusAcknowledge | kStatusDriver);
    write(0x24, 0);
    write(0x20, static_cast<uint32_t>(features));
    write(0x24, 1);
    write(0x20, static_cast<uint32_t>(features >> 32));
    write(0x70, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    return (read(0x70) & kStatusFeaturesOk) != 0;
  }
  void setup_queue(unsigned q, const DriverRing& r) {
    write(0x30, q);
    write(0x38, r.size());
    write(0x80, static_cast<uint32_t>(r.desc()));
    write(0x84, static_cast<uint32_t>(r.desc() >> 32));
    write(0x90, static_cast<uint32_t>(r.avail()));
    write(0x94, static_cast<uint32_t>(r.avail() >> 32));
    write(0xa0, static_cast<uint32_t>(r.used()));
    write(0xa4, static_cast<uint32_t>(r.used() >> 32));
    write(0x44, 1);
  }
  void driver_ok() { write(0x70, read(0x70) | kStatusDriverOk); }
  void notify(unsigned q) { write(0x50, q); }
  uint32_t status() { return read(0x70); }

 private:
  MmioTransport& t_;
};

}  // namespace corvid::virtio::testing
