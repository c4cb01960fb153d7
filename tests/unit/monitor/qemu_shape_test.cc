// Every reply corvid's QMP server gives is compared with the reply the real QEMU 7.2 gives to
// the same request: the same keys with the same JSON types (values that legitimately differ,
// such as thread ids, sizes and timestamps, are not compared), the same events, and identical
// error objects.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

#include "fake_vm.h"
#include "monitor/json_stream.h"
#include "monitor/qmp_server.h"
#include "qmp_test_client.h"

extern char** environ;

namespace corvid::monitor {
namespace {

// Keys QEMU's schema marks optional that corvid leaves out (qapi/block-core.json: ImageInfo's
// format-specific, BlockStats' parent: corvid has no separate protocol node).
const std::set<std::string> kOptionalInQemu = {"format-specific", "parent"};

std::string type_of(const Json& v) {
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number()) return "number";
  return "null";
}

// Differences between QEMU's value and corvid's, by path; empty when the shapes agree.
void compare(const Json& qemu, const Json& ours, const std::string& path,
             std::vector<std::string>& diffs) {
  if (type_of(qemu) != type_of(ours)) {
    diffs.push_back(path + ": qemu " + type_of(qemu) + ", corvid " + type_of(ours));
    return;
  }
  if (qemu.is_object()) {
    for (auto it = qemu.begin(); it != qemu.end(); ++it) {
      if (!ours.contains(it.key())) {
        if (!kOptionalInQemu.count(it.key()))
          diffs.push_back(path + "." + it.key() + ": missing in corvid");
        continue;
      }
      compare(it.value(), ours[it.key()], path + "." + it.key(), diffs);
    }
    for (auto it = ours.begin(); it != ours.end(); ++it)
      if (!qemu.contains(it.key())) diffs.push_back(path + "." + it.key() + ": not in qemu");
    // Error objects and event names are compared by value.
    if (path.size() >= 6 && path.substr(path.size() - 6) == ".error" && qemu != ours)
      diffs.push_back(path + ": qemu " + qemu.dump() + ", corvid " + ours.dump());
    if (qemu.contains("event") && qemu["event"] != ours["event"])
      diffs.push_back(path + ".event: qemu " + qemu["event"].dump() + ", corvid " +
                      ours["event"].dump());
  } else if (qemu.is_array() && !qemu.empty()) {
    if (ours.empty())
      diffs.push_back(path + ": empty in corvid");
    else
      compare(qemu[0], ours[0], path + "[0]", diffs);
  }
}

struct Exchange {
  std::string request;
  std::vector<Json> lines;  // events, then the reply
};

std::vector<Exchange> run_script(const std::string& socket,
                                 const std::vector<std::string>& requests) {
  QmpTestClient c;
  std::vector<Exchange> out;
  if (!c.connect(socket)) return out;
  out.push_back({"(greeting)", {Json::parse(c.line().value_or("null"), nullptr, false)}});
  for (const auto& req : requests) {
    Exchange ex{req, {}};
    c.send(req + "\n");
    for (;;) {
      auto l = c.line(5000);
      if (!l) break;
      Json j = Json::parse(*l, nullptr, false);
      ex.lines.push_back(j);
      if (!j.contains("event")) break;
    }
    out.push_back(ex);
  }
  return out;
}

class QemuProcess {
 public:
  bool start(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return posix_spawnp(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) == 0;
  }
  ~QemuProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

TEST(QmpShapeAgainstQemu, EveryReplyHasQemusShape) {
  if (std::system("command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null") !=
      0)
    GTEST_SKIP() << "qemu-system-x86_64 or qemu-img is not installed";
  std::string dir = "/tmp/corvid-qmp-shape-" + std::to_string(::getpid());
  ASSERT_EQ(
      std::system(
          ("mkdir -p " + dir + " && qemu-img create -q -f qcow2 " + dir + "/d.qcow2 16M").c_str()),
      0);
  std::string image = dir + "/d.qcow2";
  std::string uuid = "12345678-1234-1234-1234-123456789abc";

  QemuProcess qemu;
  ASSERT_TRUE(qemu.start({"qemu-system-x86_64",
                          "-M",
                          "microvm",
                          "-accel",
                          "tcg",
                          "-display",
                          "none",
                          "-S",
                          "-nodefaults",
                          "-no-user-config",
                          "-name",
                          "fake",
                          "-uuid",
                          uuid,
                          "-drive",
                          "file=" + image + ",if=none,id=vda,format=qcow2",
                          "-device",
                          "virtio-blk-device,drive=vda",
                          "-qmp",
                          "unix:" + dir + "/qemu.sock,server,wait=off"}));

  FakeVm vm;
  vm.set_state(RunState::kPrelaunch);  // QEMU runs with -S
  vm.blocks_.push_back({.device = "vda",
                        .node_name = "#block0",
                        .qdev = "/machine/peripheral-anon/device[0]",
                        .file = image,
                        .format = "qcow2",
                        .virtual_size = 16 << 20,
                        .cluster_size = 65536});
  auto server = QmpServer::start({.socket_path = dir + "/corvid.sock"}, vm);
  ASSERT_TRUE(server) << server.error().to_string();

  const std::vector<std::string> script = {
      R"({"execute":"query-status","id":1})",
      R"({"execute":"qmp_capabilities","id":"neg"})",
      R"({"execute":"qmp_capabilities"})",
      R"({"execute":"query-version"})",
      R"({"execute":"query-status"})",
      R"({"execute":"query-name"})",
      R"({"execute":"query-uuid"})",
      R"({"execute":"query-kvm"})",
      R"({"execute":"query-cpus-fast"})",
      R"({"execute":"query-block"})",
      R"({"execute":"query-blockstats"})",
      R"({"execute":"nope","id":5})",
      R"([1])",
      R"({bad})",
      R"({"execute":1})",
      R"({"foo":1})",
      R"({"execute":"query-status","arguments":{"x":1}})",
      R"({"execute":"query-status","arguments":[]})",
      R"({"exec-oob":"query-name"})",
      R"({"execute":"human-monitor-command","arguments":{"command-line":"info status"}})",
      R"({"execute":"human-monitor-command","arguments":{"command-line":"info block"}})",
      R"({"execute":"human-monitor-command","arguments":{"command-line":"info foo"}})",
      R"({"execute":"human-monitor-command"})",
      R"({"execute":"human-monitor-command","arguments":{"command-line":7}})",
      R"({"execute":"cont","id":[1,2]})",
      R"({"execute":"query-status"})",
      R"({"execute":"cont"})",
      R"({"execute":"stop","id":{"a":1}})",
      R"({"execute":"stop"})",
      R"({"execute":"human-monitor-command","arguments":{"command-line":"info status"}})",
      R"({"execute":"system_reset"})",
      R"({"execute":"system_powerdown"})",
      R"({"execute":"query-target"})",
      R"({"execute":"query-current-machine"})",
      R"({"execute":"query-memory-size-summary"})",
      R"({"execute":"query-iothreads"})",
      R"({"execute":"query-migrate"})",
      R"({"execute":"query-display-options"})",
      R"({"execute":"query-commands"})",
  };
  auto theirs = run_script(dir + "/qemu.sock", script);
  auto ours = run_script(dir + "/corvid.sock", script);
  ASSERT_EQ(theirs.size(), script.size() + 1) << "QEMU did not answer the whole script";
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < theirs.size(); ++i) {
    SCOPED_TRACE(theirs[i].request);
    ASSERT_EQ(ours[i].lines.size(), theirs[i].lines.size());
    for (size_t k = 0; k < theirs[i].lines.size(); ++k) {
      std::vector<std::string> diffs;
      compare(theirs[i].lines[k], ours[i].lines[k], "$", diffs);
      EXPECT_TRUE(diffs.empty()) << ::testing::PrintToString(diffs)
                                 << "\nqemu:   " << theirs[i].lines[k].dump()
                                 << "\ncorvid: " << ours[i].lines[k].dump();
    }
  }
  // HMP text that does not depend on the host: identical.
  EXPECT_EQ(ours[20].lines.back(), theirs[20].lines.back());  // info status (prelaunch)
  EXPECT_EQ(ours[30].lines.back(), theirs[30].lines.back());  // info status (paused)
  // The machine-level queries at the end of the script answer exactly as QEMU's (no hotplugged
  // memory, no iothreads, no migration, no display), and every command corvid lists is QEMU's.
  const size_t n = theirs.size();
  for (size_t i = n - 7; i < n - 1; ++i) {
    if (theirs[i].request.find("memory-size") != std::string::npos) continue;  // sizes differ
    EXPECT_EQ(ours[i].lines.back(), theirs[i].lines.back()) << theirs[i].request;
  }
  std::set<std::string> qemu_commands;
  for (const auto& c : theirs[n - 1].lines.back()["return"]) qemu_commands.insert(c["name"]);
  EXPECT_TRUE(qemu_commands.count("qmp_capabilities"));
  for (const auto& c : ours[n - 1].lines.back()["return"])
    EXPECT_TRUE(qemu_commands.count(c["name"])) << c["name"] << " is not a QEMU 7.2 command";

  // query-blockstats once the drive has seen I/O: QEMU then adds idle_time_ns. QEMU's I/O comes
  // from its HMP qemu-io (aio_* requests are accounted like a device's); corvid's counters from
  // the block layer, here set by hand.
  const std::string neg = R"({"execute":"qmp_capabilities"})";
  const std::string stats = R"({"execute":"query-blockstats"})";
  const std::string quit = R"({"execute":"quit","id":9})";
  auto io = [](const char* cmd) {
    return std::string(
               R"({"execute":"human-monitor-command","arguments":{"command-line":"qemu-io vda \")") +
           cmd + R"(\""}})";
  };
  auto theirs_io =
      run_script(dir + "/qemu.sock", {neg, io("aio_write 0 4k"), io("aio_flush"), stats, quit});
  vm.blocks_[0].stats = {.wr_bytes = 4096,
                         .wr_operations = 1,
                         .flush_operations = 1,
                         .wr_total_time_ns = 1000,
                         .wr_highest_offset = 4096,
                         .idle_time_ns = 5000};
  auto ours_io = run_script(dir + "/corvid.sock", {neg, stats, quit});
  ASSERT_EQ(theirs_io.size(), 6u) << "QEMU did not answer the I/O script";
  ASSERT_EQ(ours_io.size(), 4u);
  const Json& qemu_stats = theirs_io[4].lines.back();
  ASSERT_TRUE(qemu_stats["return"][0]["stats"].contains("idle_time_ns")) << qemu_stats.dump();
  EXPECT_EQ(qemu_stats["return"][0]["stats"]["wr_operations"], 1) << qemu_stats.dump();
  for (auto [q, o] : {std::pair{4, 2}, std::pair{5, 3}}) {
    SCOPED_TRACE(theirs_io[q].request);
    ASSERT_EQ(ours_io[o].lines.size(), theirs_io[q].lines.size());
    for (size_t k = 0; k < theirs_io[q].lines.size(); ++k) {
      std::vector<std::string> diffs;
      compare(theirs_io[q].lines[k], ours_io[o].lines[k], "$", diffs);
      EXPECT_TRUE(diffs.empty()) << ::testing::PrintToString(diffs)
                                 << "\nqemu:   " << theirs_io[q].lines[k].dump()
                                 << "\ncorvid: " << ours_io[o].lines[k].dump();
    }
  }
  // Same keys in the same order as QEMU's.
  std::vector<std::string> qemu_keys, our_keys;
  for (auto it = qemu_stats["return"][0]["stats"].begin();
       it != qemu_stats["return"][0]["stats"].end(); ++it)
    qemu_keys.push_back(it.key());
  const Json& our_stats = ours_io[2].lines.back()["return"][0]["stats"];
  for (auto it = our_stats.begin(); it != our_stats.end(); ++it) our_keys.push_back(it.key());
  EXPECT_EQ(our_keys, qemu_keys);
  server->reset();
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace corvid::monitor
