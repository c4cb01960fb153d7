#include "monitor/qmp_server.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "fake_vm.h"
#include "qmp_test_client.h"

namespace corvid::monitor {
namespace {

TEST(ParseQmpOption, AcceptsQemuSpellings) {
  auto o = parse_qmp_option("unix:/tmp/q.sock,server,wait=off");
  ASSERT_TRUE(o) << o.error().to_string();
  EXPECT_EQ(o->socket_path, "/tmp/q.sock");
  EXPECT_TRUE(parse_qmp_option("unix:/tmp/q.sock,server=on,nowait"));
  EXPECT_TRUE(parse_qmp_option("unix:/tmp/q.sock,server"));
}

TEST(ParseQmpOption, TcpAsQemuSpellsIt) {
  auto o = parse_qmp_option("tcp:localhost:4444,server,nowait");
  ASSERT_TRUE(o) << o.error().to_string();
  EXPECT_EQ(o->socket_path, "");
  EXPECT_EQ(o->tcp_host, "localhost");
  EXPECT_EQ(o->tcp_port, 4444);
  auto any = parse_qmp_option("tcp::4445,server=on,wait=off");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->tcp_host, "");
  EXPECT_EQ(parse_qmp_option("tcp:[::1]:4446,server")->tcp_host, "::1");
  EXPECT_EQ(parse_qmp_option("tcp:localhost:99999,server").error().message,
            "--qmp 'tcp:localhost:99999,server': bad port");
  EXPECT_FALSE(parse_qmp_option("tcp:localhost,server"));
  EXPECT_FALSE(parse_qmp_option("tcp:localhost:4444"));
}

TEST(QmpServerTcp, ServesQmpOnALoopbackPort) {
  FakeVm vm;
  std::unique_ptr<QmpServer> server;
  int port = 0;
  // A free port near a per-process base: a busy one is simply skipped.
  for (int i = 0; i < 50 && !server; ++i) {
    port = 20000 + (::getpid() * 7 + i * 131) % 40000;
    auto s = QmpServer::start({.tcp_host = "127.0.0.1", .tcp_port = port}, vm);
    if (s) server = std::move(*s);
  }
  ASSERT_TRUE(server) << "no free loopback port";
  QmpTestClient c;
  ASSERT_TRUE(c.connect_tcp(port));
  auto greeting = c.line();
  ASSERT_TRUE(greeting);
  EXPECT_EQ(greeting->rfind("{\"QMP\": {\"version\": ", 0), 0u) << *greeting;
  ASSERT_TRUE(c.send("{\"execute\":\"qmp_capabilities\"}\n"));
  EXPECT_EQ(c.line(), "{\"return\": {}}");
  ASSERT_TRUE(c.send("{\"execute\":\"query-target\"}\n"));
  EXPECT_EQ(c.line(), "{\"return\": {\"arch\": \"x86_64\"}}");
}

TEST(ParseQmpOption, RefusesWhatCorvidDoesNotDo) {
  EXPECT_EQ(parse_qmp_option("telnet:localhost:4444,server").error().message,
            "--qmp 'telnet:localhost:4444,server': expected unix:PATH,server or "
            "tcp:[HOST]:PORT,server");
  EXPECT_EQ(parse_qmp_option("unix:/tmp/q.sock").error().message,
            "--qmp 'unix:/tmp/q.sock': corvid only listens (add ',server')");
  EXPECT_EQ(parse_qmp_option("unix:/tmp/q.sock,server,wait=on").error().message,
            "--qmp 'unix:/tmp/q.sock,server,wait=on': wait=on is not supported; corvid starts the "
            "guest at once");
  EXPECT_FALSE(parse_qmp_option("unix:/" + std::string(200, 'x') + ",server"));
  EXPECT_FALSE(parse_qmp_option("unix:/tmp/q.sock,server,bogus"));
}

class QmpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/corvid-qmp-test-" + std::to_string(::getpid()) + ".sock";
    auto s = QmpServer::start({.socket_path = path_, .max_clients = 4}, vm_);
    ASSERT_TRUE(s) << s.error().to_string();
    server_ = std::move(*s);
  }

  // Connects and negotiates.
  void open(QmpTestClient& c) {
    ASSERT_TRUE(c.connect(path_));
    auto greeting = c.line();
    ASSERT_TRUE(greeting);
    ASSERT_EQ(greeting->rfind("{\"QMP\": {\"version\": ", 0), 0u) << *greeting;
    ASSERT_TRUE(c.send("{\"execute\":\"qmp_capabilities\"}\n"));
    ASSERT_EQ(c.line(), "{\"return\": {}}");
  }

  std::string path_;
  FakeVm vm_;
  std::unique_ptr<QmpServer> server_;
};

TEST_F(QmpServerTest, EventsFromTheVmReachEveryNegotiatedClient) {
  QmpTestClient a, b, late;
  open(a);
  open(b);
  ASSERT_TRUE(late.connect(path_));
  ASSERT_TRUE(late.line());  // greeting; never negotiates
  server_->vm_event({VmEvent::Kind::kShutdown, true, "guest-shutdown"});
  for (auto* c : {&a, &b}) {
    auto ev = c->line();
    ASSERT_TRUE(ev);
    EXPECT_NE(
        ev->find(
            "\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}"),
        std::string::npos)
        << *ev;
  }
  EXPECT_FALSE(late.line(200));
}

TEST_F(QmpServerTest, StopEventGoesToOtherClientsToo) {
  QmpTestClient a, b;
  open(a);
  open(b);
  ASSERT_TRUE(a.send("{\"execute\":\"stop\",\"id\":1}"));
  auto ev = a.line();
  ASSERT_TRUE(ev);
  EXPECT_NE(ev->find("\"event\": \"STOP\""), std::string::npos);
  EXPECT_EQ(a.line(), "{\"return\": {}, \"id\": 1}");
  auto ev_b = b.line();
  ASSERT_TRUE(ev_b);
  EXPECT_NE(ev_b->find("\"event\": \"STOP\""), std::string::npos);
}

TEST_F(QmpServerTest, ClientsBeyondTheLimitGetAnErrorAndAreClosed) {
  std::vector<QmpTestClient> clients(4);
  for (auto& c : clients) open(c);
  QmpTestClient extra;
  ASSERT_TRUE(extra.connect(path_));
  EXPECT_EQ(
      extra.line(),
      "{\"error\": {\"class\": \"GenericError\", \"desc\": \"too many QMP clients (at most 4)\"}}");
  EXPECT_TRUE(extra.closed_by_peer());
  // The others still work, and a freed slot is reusable.
  ASSERT_TRUE(clients[0].send("{\"execute\":\"query-name\"}"));
  EXPECT_EQ(clients[0].line(), "{\"return\": {\"name\": \"fake\"}}");
  clients.pop_back();
  QmpTestClient again;
  open(again);
}

TEST_F(QmpServerTest, HugeLineGetsAnErrorAndTheClientCarriesOn) {
  QmpTestClient c;
  open(c);
  std::string huge = "{\"execute\":\"query-name\",\"id\":\"" + std::string(3 << 20, 'x') + "\"}\n";
  std::thread writer([&] { c.send(huge); });
  auto l = c.reply(10000);
  writer.join();
  ASSERT_TRUE(l);
  EXPECT_EQ(
      *l,
      "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}");
  // The tail of the giant string is skipped; the next command is answered.
  std::optional<std::string> next;
  ASSERT_TRUE(c.send("{\"execute\":\"query-name\",\"id\":2}\n"));
  while ((next = c.line(5000)) && next->find("\"id\": 2") == std::string::npos) {
  }
  EXPECT_EQ(next, "{\"return\": {\"name\": \"fake\"}, \"id\": 2}");
}

TEST_F(QmpServerTest, BinaryGarbageAndDeepNestingDoNotKillTheServer) {
  QmpTestClient c;
  open(c);
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919) & 0xff);
  ASSERT_TRUE(c.send(garbage));
  ASSERT_TRUE(c.send(std::string(200000, '{')));
  // A 0xFF byte puts the parser back into a known state (QMP spec section 2.6).
  ASSERT_TRUE(c.send("\xff{\"execute\":\"query-status\",\"id\":\"last\"}\n"));
  std::optional<std::string> l;
  int errors = 0;
  while ((l = c.line(5000)) && l->find("\"id\": \"last\"") == std::string::npos) ++errors;
  ASSERT_TRUE(l) << "no reply after garbage";
  EXPECT_GT(errors, 0);
  EXPECT_EQ(*l,
            "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
            "\"id\": \"last\"}");
}

TEST_F(QmpServerTest, ClientThatNeverReadsIsThrottledWithoutStallingOthers) {
  QmpTestClient lazy, busy;
  open(lazy);
  open(busy);
  // Ask for many replies and never read them.
  std::string burst;
  for (int i = 0; i < 2000; ++i)
    burst += "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info\"}}";
  std::thread flood([&] {
    for (int i = 0; i < 50 && lazy.send(burst); ++i) {
    }
  });
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(busy.send("{\"execute\":\"query-name\"}"));
    ASSERT_EQ(busy.line(5000), "{\"return\": {\"name\": \"fake\"}}");
  }
  ::shutdown(lazy.fd(), SHUT_RDWR);
  flood.join();
}

TEST_F(QmpServerTest, QuitReplyIsFlushedByStopAndTheSocketIsRemoved) {
  QmpTestClient c;
  open(c);
  ASSERT_TRUE(c.send("{\"execute\":\"quit\"}"));
  for (int i = 0; i < 200 && !vm_.quit_requested; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(vm_.quit_requested);
  server_->stop();
  auto ev = c.line();
  ASSERT_TRUE(ev);
  EXPECT_NE(ev->find("\"event\": \"SHUTDOWN\""), std::string::npos);
  EXPECT_EQ(c.line(), "{\"return\": {}}");
  EXPECT_TRUE(c.closed_by_peer());
  struct stat st {};
  EXPECT_NE(::stat(path_.c_str(), &st), 0);
}

TEST_F(QmpServerTest, BindingOverARegularFileFails) {
  std::string file = path_ + ".file";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  FakeVm vm;
  auto s = QmpServer::start({.socket_path = file}, vm);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().to_string(), "QMP socket " + file + ": Address already in use");
  ::unlink(file.c_str());
}

}  // namespace
}  // namespace corvid::monitor

namespace corvid::monitor {
namespace {

// A VM whose quit() tears the monitor down at once, from the monitor's own thread.
class StopOnQuitVm : public FakeVm {
 public:
  void quit() override {
    FakeVm::quit();
    server->stop();
  }
  QmpServer* server = nullptr;
};

TEST(QmpServerStop, StopFromTheMonitorThreadDoesNotDeadlock) {
  std::string path = "/tmp/corvid-qmp-stop-" + std::to_string(::getpid()) + ".sock";
  StopOnQuitVm vm;
  auto s = QmpServer::start({.socket_path = path}, vm);
  ASSERT_TRUE(s);
  vm.server = s->get();
  QmpTestClient c;
  ASSERT_TRUE(c.connect(path));
  ASSERT_TRUE(c.line());
  ASSERT_TRUE(c.send("{\"execute\":\"qmp_capabilities\"}{\"execute\":\"quit\",\"id\":1}"));
  EXPECT_EQ(c.line(), "{\"return\": {}}");
  ASSERT_TRUE(c.line());  // SHUTDOWN
  EXPECT_EQ(c.line(), "{\"return\": {}, \"id\": 1}");
  EXPECT_TRUE(c.closed_by_peer());
  s->reset();  // joins
}

TEST(QmpServerLimits, OutOfFileDescriptorsNeitherSpinsNorDropsClients) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: a server, one client, then a descriptor limit that leaves no room for accept().
    std::string path = "/tmp/corvid-qmp-emfile-" + std::to_string(::getpid()) + ".sock";
    FakeVm vm;
    auto s = QmpServer::start({.socket_path = path}, vm);
    if (!s) _exit(10);
    QmpTestClient c, extra;
    if (!c.connect(path) || !c.line()) _exit(11);
    int highest = ::dup(0);
    ::close(highest);
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    rlim_t saved = lim.rlim_cur;
    lim.rlim_cur = highest + 1;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(16);
    if (!extra.connect(path, 1000)) _exit(12);  // queued by the kernel; accept() gets EMFILE
    rusage before{}, after{};
    ::getrusage(RUSAGE_SELF, &before);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::getrusage(RUSAGE_SELF, &after);
    auto cpu_ms = [](const rusage& r) {
      return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000 +
             (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1000;
    };
    if (cpu_ms(after) - cpu_ms(before) > 200) _exit(13);  // spinning on the listener
    if (!c.send("{\"execute\":\"qmp_capabilities\"}") || c.line() != "{\"return\": {}}") _exit(14);
    // With descriptors available again, the waiting connection is accepted and greeted.
    lim.rlim_cur = saved;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(17);
    auto greeting = extra.line(2000);
    if (!greeting || greeting->rfind("{\"QMP\"", 0) != 0) _exit(15);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace corvid::monitor
