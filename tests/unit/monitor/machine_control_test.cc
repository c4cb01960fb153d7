#include "monitor/machine_control.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

namespace corvid::monitor {
namespace {

struct RecordingSink : VmEventSink {
  void vm_event(const VmEvent& e) override {
    static constexpr const char* kNames[] = {"STOP", "RESUME", "RESET", "POWERDOWN", "SHUTDOWN"};
    events.push_back(
        fmt::format("{} guest={} {}", kNames[static_cast<int>(e.kind)], e.guest, e.reason));
  }
  std::vector<std::string> events;
};

using V = std::vector<std::string>;
using Kind = hw::RunResult::Kind;

TEST(MachineControl, EventsForWhatTheGuestOrASignalDid) {
  MachineControl c(config::VmConfig{});
  RecordingSink sink;
  c.set_event_sink(&sink);
  c.report({Kind::kReset}, /*rebooting=*/true);
  c.report({Kind::kPowerOff}, false);
  EXPECT_EQ(sink.events, (V{"RESET guest=true guest-reset", "SHUTDOWN guest=true guest-shutdown"}));
  sink.events.clear();
  c.report({Kind::kQuit, 15}, false);
  EXPECT_EQ(sink.events, (V{"SHUTDOWN guest=false host-signal"}));
  EXPECT_EQ(c.run_state(), RunState::kShutdown);
}

TEST(MachineControl, NoDuplicateEventsForMonitorCommands) {
  MachineControl c(config::VmConfig{});
  RecordingSink sink;
  c.set_event_sink(&sink);
  EXPECT_EQ(c.run_state(), RunState::kPrelaunch);
  EXPECT_EQ(c.pause().error().message, "the VM is not running");
  EXPECT_EQ(c.powerdown().error().message, "the VM is not running");
  c.quit();  // between boots: remembered for the next machine
  EXPECT_TRUE(c.quit_requested_by_monitor());
  c.report({Kind::kQuit, 0}, false);
  EXPECT_TRUE(sink.events.empty());
}

TEST(MachineControl, ConsoleQuitEmitsShutdownOnceLikeQmpQuit) {
  MachineControl c(config::VmConfig{});
  RecordingSink sink;
  c.set_event_sink(&sink);
  c.console_quit();
  EXPECT_TRUE(c.quit_requested_by_monitor());
  c.report({Kind::kQuit, 0}, false);
  EXPECT_EQ(sink.events, (V{"SHUTDOWN guest=false host-qmp-quit"}));
}

TEST(MachineControl, GuestResetWithOnRebootDestroyEndsInShutdown) {
  MachineControl c(config::VmConfig{});
  RecordingSink sink;
  c.set_event_sink(&sink);
  c.report({Kind::kReset}, /*rebooting=*/false);
  EXPECT_EQ(sink.events, (V{"RESET guest=true guest-reset", "SHUTDOWN guest=true guest-reset"}));
}

TEST(DescribeDrive, ReadsQcow2HeaderAndRawSize) {
  std::string dir = "/tmp/corvid-describe-" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir +
                         " && qemu-img create -q -f qcow2 -o lazy_refcounts=on,cluster_size=4096 " +
                         dir + "/a.qcow2 32M && truncate -s 3M " + dir + "/b.raw")
                            .c_str()),
            0);
  BlockInfo q = describe_drive({.id = "vda", .file = dir + "/a.qcow2", .cache = "none"}, 0);
  EXPECT_EQ(q.device, "vda");
  EXPECT_EQ(q.node_name, "#block0");
  EXPECT_EQ(q.qdev, "/machine/peripheral-anon/device[0]");
  EXPECT_EQ(q.format, "qcow2");  // probed
  EXPECT_EQ(q.virtual_size, 32u << 20);
  EXPECT_EQ(q.cluster_size, 4096u);
  EXPECT_TRUE(q.lazy_refcounts);
  EXPECT_FALSE(q.dirty);
  // Incompatible feature bit 0 (byte 79 of the header): what a crash with lazy refcounts leaves.
  ASSERT_EQ(std::system(
                ("printf '\\001' | dd of=" + dir + "/a.qcow2 bs=1 seek=79 conv=notrunc status=none")
                    .c_str()),
            0);
  EXPECT_TRUE(describe_drive({.file = dir + "/a.qcow2"}, 0).dirty);
  EXPECT_EQ(q.cache, "none");
  BlockInfo r = describe_drive({.file = dir + "/b.raw", .format = "raw", .read_only = true}, 1);
  EXPECT_EQ(r.device, "virtio1");
  EXPECT_EQ(r.format, "raw");
  EXPECT_EQ(r.virtual_size, 3u << 20);
  EXPECT_EQ(r.cluster_size, 0u);
  EXPECT_TRUE(r.read_only);
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace corvid::monitor

namespace corvid::monitor {
namespace {

TEST(MachineControl, BlockDevicesCarryEachDrivesCounters) {
  config::VmConfig cfg;
  cfg.drives.push_back({.id = "vda", .file = "/nonexistent/a.qcow2"});
  cfg.drives.push_back({.id = "vdb", .file = "/nonexistent/b.raw"});
  MachineControl c(cfg);
  ASSERT_NE(c.drive_stats(0), nullptr);
  ASSERT_NE(c.drive_stats(1), nullptr);
  EXPECT_NE(c.drive_stats(0), c.drive_stats(1));
  EXPECT_EQ(c.drive_stats(2), nullptr);

  // What a counting device records on completion (block/stats.h).
  const uint64_t start = block::IoStats::now_ns();
  c.drive_stats(1)->account_done(block::IoKind::kWrite, 4096, start, false);
  c.drive_stats(1)->account_write_end(8192);
  c.drive_stats(1)->account_done(block::IoKind::kFlush, 0, start, false);
  c.drive_stats(1)->account_done(block::IoKind::kRead, 512, start, true);
  c.drive_stats(1)->account_invalid(block::IoKind::kUnmap);

  auto blocks = c.block_devices();
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].stats.wr_operations, 0u);
  EXPECT_FALSE(blocks[0].stats.idle_time_ns.has_value());
  const BlockStats& s = blocks[1].stats;
  EXPECT_EQ(s.wr_bytes, 4096u);
  EXPECT_EQ(s.wr_operations, 1u);
  EXPECT_EQ(s.flush_operations, 1u);
  EXPECT_EQ(s.rd_operations, 0u);
  EXPECT_EQ(s.failed_rd_operations, 1u);
  EXPECT_EQ(s.invalid_unmap_operations, 1u);
  EXPECT_EQ(s.wr_highest_offset, 8192u);
  EXPECT_TRUE(s.idle_time_ns.has_value());
}

}  // namespace
}  // namespace corvid::monitor
