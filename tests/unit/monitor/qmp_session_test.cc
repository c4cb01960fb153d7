#include "monitor/qmp_session.h"

#include <gtest/gtest.h>

#include "base/version.h"
#include "fake_vm.h"
#include "monitor/json_writer.h"

namespace corvid::monitor {
namespace {

// Replaces the digits after "seconds": and "microseconds": with S and U.
std::string mask_timestamp(std::string line) {
  for (auto [key, mask] : {std::pair{"\"seconds\": ", "S"}, std::pair{"\"microseconds\": ", "U"}}) {
    size_t p = line.find(key);
    if (p == std::string::npos) continue;
    p += std::string(key).size();
    size_t end = line.find_first_not_of("0123456789", p);
    if (end > p) line.replace(p, end - p, mask);
  }
  return line;
}

class QmpSessionTest : public ::testing::Test {
 protected:
  QmpSessionTest() : session_(vm_, [this](const Json& ev) { session_.deliver_event(ev); }) {}

  // Sends text, returns the reply lines (without "\r\n"), event timestamps masked.
  std::vector<std::string> send(std::string_view text) {
    session_.feed(text);
    std::vector<std::string> lines;
    std::string& out = session_.output();
    size_t pos;
    while ((pos = out.find("\r\n")) != std::string::npos) {
      lines.push_back(mask_timestamp(out.substr(0, pos)));
      out.erase(0, pos + 2);
    }
    EXPECT_TRUE(out.empty()) << "unterminated output: " << out;
    return lines;
  }
  void negotiate() { ASSERT_EQ(send("{\"execute\":\"qmp_capabilities\"}"), V{"{\"return\": {}}"}); }

  using V = std::vector<std::string>;
  FakeVm vm_;
  QmpSession session_;
};

TEST_F(QmpSessionTest, GreetingHasQemuShape) {
  EXPECT_EQ(to_qmp_text(QmpSession::greeting()),
            "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
            "\"package\": \"corvid " +
                std::string(corvid::version()) + "\"}, \"capabilities\": [\"oob\"]}}");
}

TEST_F(QmpSessionTest, CommandsBeforeNegotiationAreRefusedAsQemuDoes) {
  EXPECT_EQ(send("{\"execute\":\"query-status\",\"id\":1}"),
            V{"{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting "
              "capabilities "
              "negotiation with 'qmp_capabilities'\"}}"});
  EXPECT_TRUE(vm_.calls().empty());
  EXPECT_EQ(send("{\"execute\":\"qmp_capabilities\",\"id\":\"x\"}"),
            V{"{\"return\": {}, \"id\": \"x\"}"});
  EXPECT_EQ(
      send("{\"execute\":\"qmp_capabilities\"}"),
      V{"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation is "
        "already complete, command ignored\"}}"});
}

TEST_F(QmpSessionTest, IdOfAnyTypeIsEchoed) {
  negotiate();
  EXPECT_EQ(send("{\"execute\":\"query-name\",\"id\":[1,{\"a\":null}]}"),
            V{"{\"return\": {\"name\": \"fake\"}, \"id\": [1, {\"a\": null}]}"});
  EXPECT_EQ(send("{\"execute\":\"nope\",\"id\":5}"),
            V{"{\"id\": 5, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
              "nope has not "
              "been found\"}}"});
}

TEST_F(QmpSessionTest, MalformedInputGetsGenericErrorAndTheConnectionStaysUsable) {
  negotiate();
  EXPECT_EQ(send("[1,2]"), V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must "
                             "be a JSON object\"}}"});
  EXPECT_EQ(send("{\"execute\":1}"), V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP "
                                       "input member 'execute' must be a string\"}}"});
  EXPECT_EQ(send("{\"foo\":1}"), V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP "
                                   "input member 'foo' is unexpected\"}}"});
  EXPECT_EQ(send("{\"id\":2}"), V{"{\"id\": 2, \"error\": {\"class\": \"GenericError\", \"desc\": "
                                  "\"QMP input lacks member 'execute'\"}}"});
  EXPECT_EQ(send("{\"execute\":\"query-status\",\"arguments\":[]}"),
            V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'arguments' "
              "must be an object\"}}"});
  EXPECT_EQ(
      send("{\"execute\":\"query-status\",\"arguments\":{\"x\":1}}"),
      V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is unexpected\"}}"});
  EXPECT_EQ(send("{\"exec-oob\":\"query-name\"}"),
            V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'exec-oob' "
              "is unexpected\"}}"});
  EXPECT_EQ(send("{bad json\n}"), V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON "
                                    "parse error, invalid keyword 'bad'\"}}"});
  EXPECT_EQ(send("{\"execute\":\"query-name\"}"), V{"{\"return\": {\"name\": \"fake\"}}"});
}

TEST_F(QmpSessionTest, OobCapabilityAllowsExecOobButNoCommandSupportsIt) {
  EXPECT_EQ(send("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"x\"]}}"),
            V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'null' does not "
              "accept value 'x'\"}}"});
  EXPECT_FALSE(session_.negotiated());
  EXPECT_EQ(send("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}"),
            V{"{\"return\": {}}"});
  EXPECT_EQ(send("{\"exec-oob\":\"query-name\",\"id\":3}"),
            V{"{\"id\": 3, \"error\": {\"class\": \"GenericError\", \"desc\": \"The command "
              "query-name does not "
              "support OOB\"}}"});
}

TEST_F(QmpSessionTest, StopAndContEmitEventsBeforeTheReplyOnlyWhenTheStateChanges) {
  negotiate();
  EXPECT_EQ(send("{\"execute\":\"stop\"}"),
            (V{"{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"STOP\"}",
               "{\"return\": {}}"}));
  EXPECT_EQ(send("{\"execute\":\"query-status\"}"),
            V{"{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}}"});
  EXPECT_EQ(send("{\"execute\":\"stop\"}"), V{"{\"return\": {}}"});
  EXPECT_EQ(send("{\"execute\":\"cont\"}"),
            (V{"{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"RESUME\"}",
               "{\"return\": {}}"}));
  EXPECT_EQ(send("{\"execute\":\"cont\"}"), V{"{\"return\": {}}"});
  EXPECT_EQ(vm_.calls(), (V{"pause", "resume"}));
}

TEST_F(QmpSessionTest, ResetPowerdownAndQuitCarryQemusEventData) {
  negotiate();
  EXPECT_EQ(
      send("{\"execute\":\"system_reset\"}"),
      (V{"{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"RESET\", \"data\": "
         "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}}",
         "{\"return\": {}}"}));
  EXPECT_EQ(send("{\"execute\":\"system_powerdown\"}"),
            (V{"{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"POWERDOWN\"}",
               "{\"return\": {}}"}));
  EXPECT_FALSE(vm_.quit_requested);
  EXPECT_EQ(send("{\"execute\":\"quit\",\"id\":9}"),
            (V{"{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"SHUTDOWN\", "
               "\"data\": "
               "{\"guest\": false, \"reason\": \"host-qmp-quit\"}}",
               "{\"return\": {}, \"id\": 9}"}));
  EXPECT_TRUE(vm_.quit_requested);
  EXPECT_EQ(vm_.calls(), (V{"reset", "powerdown", "quit"}));
}

TEST_F(QmpSessionTest, FailedActionIsAGenericErrorWithoutAnEvent) {
  negotiate();
  vm_.fail_next_ = true;
  EXPECT_EQ(send("{\"execute\":\"stop\"}"),
            V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"pause failed\"}}"});
  vm_.set_state(RunState::kGuestPanicked);
  EXPECT_EQ(send("{\"execute\":\"cont\"}"), V{"{\"error\": {\"class\": \"GenericError\", \"desc\": "
                                              "\"Resetting the Virtual Machine is required\"}}"});
}

TEST_F(QmpSessionTest, QueriesReportTheVm) {
  negotiate();
  EXPECT_EQ(send("{\"execute\":\"query-uuid\"}"),
            V{"{\"return\": {\"UUID\": \"12345678-1234-1234-1234-123456789abc\"}}"});
  EXPECT_EQ(send("{\"execute\":\"query-kvm\"}"),
            V{"{\"return\": {\"enabled\": false, \"present\": true}}"});
  EXPECT_EQ(
      send("{\"execute\":\"query-cpus-fast\"}"),
      V{"{\"return\": [{\"thread-id\": 4242, \"props\": {\"core-id\": 0, \"thread-id\": 0, "
        "\"socket-id\": 0}, "
        "\"qom-path\": \"/machine/unattached/device[0]\", \"cpu-index\": 0, \"target\": "
        "\"x86_64\"}, "
        "{\"thread-id\": 4243, \"props\": {\"core-id\": 1, \"thread-id\": 0, \"socket-id\": 0}, "
        "\"qom-path\": \"/machine/unattached/device[1]\", \"cpu-index\": 1, \"target\": "
        "\"x86_64\"}]}"});
  vm_.name_.clear();
  vm_.uuid_.clear();
  EXPECT_EQ(send("{\"execute\":\"query-name\"}"), V{"{\"return\": {}}"});
  EXPECT_EQ(send("{\"execute\":\"query-uuid\"}"),
            V{"{\"return\": {\"UUID\": \"00000000-0000-0000-0000-000000000000\"}}"});
}

TEST_F(QmpSessionTest, HumanMonitorCommandInfoStatusAndBlock) {
  negotiate();
  vm_.blocks_.push_back({.device = "vda",
                         .node_name = "#block0",
                         .qdev = "/machine/peripheral-anon/device[0]",
                         .file = "/nonexistent/a.qcow2",
                         .format = "qcow2"});
  vm_.blocks_.push_back({.device = "vdb",
                         .node_name = "#block1",
                         .qdev = "/machine/peripheral-anon/device[1]",
                         .file = "/nonexistent/b.raw",
                         .format = "raw",
                         .cache = "none",
                         .read_only = true});
  auto hmp = [&](std::string line) {
    return send("{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"" + line +
                "\"}}");
  };
  EXPECT_EQ(hmp("info status"), V{"{\"return\": \"VM status: running\\r\\n\"}"});
  vm_.set_state(RunState::kPrelaunch);
  EXPECT_EQ(hmp("  info   status "), V{"{\"return\": \"VM status: paused (prelaunch)\\r\\n\"}"});
  EXPECT_EQ(
      hmp("info block"),
      V{"{\"return\": \"vda (#block0): /nonexistent/a.qcow2 (qcow2)\\r\\n    Attached to:      "
        "/machine/peripheral-anon/device[0]\\r\\n    Cache mode:       writeback\\r\\n\\r\\n"
        "vdb (#block1): /nonexistent/b.raw (raw, read-only)\\r\\n    Attached to:      "
        "/machine/peripheral-anon/device[1]\\r\\n    Cache mode:       writeback, "
        "direct\\r\\n\"}"});
  EXPECT_EQ(hmp("info block nosuch"), V{"{\"return\": \"\"}"});
  EXPECT_EQ(hmp("info foo"), V{"{\"return\": \"unknown command: 'info foo'\\r\\n\"}"});
  EXPECT_EQ(hmp("bogus"), V{"{\"return\": \"unknown command: 'bogus'\\r\\n\"}"});
  EXPECT_EQ(hmp(""), V{"{\"return\": \"\"}"});
  EXPECT_EQ(send("{\"execute\":\"human-monitor-command\"}"),
            V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'command-line' is "
              "missing\"}}"});
  EXPECT_EQ(send("{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":5}}"),
            V{"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
              "'command-line', "
              "expected: string\"}}"});
}

TEST_F(QmpSessionTest, EventsReachOnlyNegotiatedSessions) {
  session_.deliver_event(Json{{"event", "STOP"}});
  EXPECT_TRUE(session_.output().empty());
  negotiate();
  session_.deliver_event(Json{{"event", "STOP"}});
  EXPECT_EQ(session_.output(), "{\"event\": \"STOP\"}\r\n");
}

}  // namespace
}  // namespace corvid::monitor
