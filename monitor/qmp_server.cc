// The QMP server: a listening unix socket and its clients on the monitor's own thread and
// EventLoop, so commands that wait (stop waits for every vCPU) and slow or hostile clients never
// hold up a vCPU or the I/O thread.
#include "monitor/qmp_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "base/event_loop.h"
#include "base/log.h"
#include "monitor/json_writer.h"
#include "monitor/qmp_commands.h"
#include "monitor/qmp_session.h"

namespace corvid::monitor {
namespace {

// A client that stops reading gets no more input processed past this much queued output, and is
// dropped past the hard limit (events keep coming while it sleeps).
constexpr size_t kOutputPauseBytes = 1 << 20;
constexpr size_t kOutputDropBytes = 8 << 20;
constexpr int kFlushOnStopMs = 500;
constexpr int kAcceptPauseMs = 100;

std::string_view trim_prefix(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p ? s.substr(p.size()) : std::string_view();
}

}  // namespace

Result<QmpServerOptions> parse_qmp_option(std::string_view text) {
  QmpServerOptions o;
  std::string_view rest = trim_prefix(text, "unix:");
  size_t comma;
  if (!rest.empty()) {
    comma = rest.find(',');
    o.socket_path = std::string(rest.substr(0, comma));
    if (o.socket_path.empty()) return errorf(0, "--qmp '{}': the socket path is empty", text);
    if (o.socket_path.size() >= sizeof(sockaddr_un{}.sun_path))
      return errorf(0, "--qmp '{}': the socket path is longer than {} bytes", text,
                    sizeof(sockaddr_un{}.sun_path) - 1);
  } else if (rest = trim_prefix(text, "tcp:"); !rest.empty()) {
    comma = rest.find(',');
    std::string_view hostport = rest.substr(0, comma);
    size_t colon = hostport.rfind(':');
    if (colon == std::string_view::npos)
      return errorf(0, "--qmp '{}': expected tcp:[HOST]:PORT,server", text);
    std::string_view host = hostport.substr(0, colon), port = hostport.substr(colon + 1);
    // [::1] style IPv6 literals
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    int p = 0;
    for (char ch : port) {
      if (ch < '0' || ch > '9' || p > 65535) return errorf(0, "--qmp '{}': bad port", text);
      p = p * 10 + (ch - '0');
    }
    if (port.empty() || p > 65535) return errorf(0, "--qmp '{}': bad port", text);
    o.tcp_host = std::string(host);
    o.tcp_port = p;
  } else {
    return errorf(0, "--qmp '{}': expected unix:PATH,server or tcp:[HOST]:PORT,server", text);
  }
  bool server = false;
  while (comma != std::string_view::npos) {
    rest = rest.substr(comma + 1);
    comma = rest.find(',');
    std::string_view opt = rest.substr(0, comma);
    if (opt == "server" || opt == "server=on") {
      server = true;
    } else if (opt == "wait=off" || opt == "nowait") {
      // corvid never waits for a client before starting the guest.
    } else if (opt == "wait=on" || opt == "wait") {
      return errorf(0, "--qmp '{}': wait=on is not supported; corvid starts the guest at once",
                    text);
    } else {
      return errorf(0, "--qmp '{}': unknown option '{}'", text, opt);
    }
  }
  if (!server) return errorf(0, "--qmp '{}': corvid only listens (add ',server')", text);
  return o;
}

class QmpServer::Impl {
 public:
  Impl(QmpServerOptions options, VmControl& vm) : options_(std::move(options)), vm_(vm) {}

  Result<> listen() {
    if (options_.socket_path.empty()) {
      listener_ = CORVID_TRY(listen_tcp());
    } else {
      listener_ = CORVID_TRY(listen_unix());
    }
    // Created up front: when accept() runs out of descriptors there is none left for a timer.
    accept_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!accept_timer_) return errno_error("timerfd_create");
    loop_ = CORVID_TRY(EventLoop::create());
    CORVID_TRY_VOID(loop_->add(accept_timer_.get(), [this](uint32_t) { resume_accepting(); }));
    CORVID_TRY_VOID(loop_->add(listener_.get(), [this](uint32_t) { accept_clients(); }));
    thread_ = std::thread([this] {
      if (auto r = loop_->run(); !r) LOG_ERROR("QMP monitor: {}", r.error().to_string());
    });
    return {};
  }

  Result<UniqueFd> listen_tcp() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(options_.tcp_port);
    const char* host = options_.tcp_host.empty() ? nullptr : options_.tcp_host.c_str();
    if (int rc = ::getaddrinfo(host, port.c_str(), &hints, &res); rc != 0)
      return errorf(0, "QMP tcp:{}:{}: {}", options_.tcp_host, port, gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(res, ::freeaddrinfo);
    Error last = errorf(0, "QMP tcp:{}:{}: no address", options_.tcp_host, port).value();
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) continue;
      int one = 1;
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) < 0 || ::listen(fd.get(), 16) < 0) {
        last = errno_error("QMP tcp:{}:{}", options_.tcp_host, port).value();
        continue;
      }
      return fd;
    }
    return tl::unexpected(last);
  }

  Result<UniqueFd> listen_unix() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", options_.socket_path.c_str());
    // Replace a stale socket left by an earlier run, never a regular file.
    struct stat st {};
    if (::lstat(addr.sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(addr.sun_path);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
      return errno_error("QMP socket {}", options_.socket_path);
    if (::listen(fd.get(), 16) < 0) return errno_error("listen on {}", options_.socket_path);
    return fd;
  }

  void vm_event(const VmEvent& e) {
    static constexpr const char* kNames[] = {"STOP", "RESUME", "RESET", "POWERDOWN", "SHUTDOWN"};
    Json data;
    if (e.kind == VmEvent::Kind::kReset || e.kind == VmEvent::Kind::kShutdown)
      data = Json{{"guest", e.guest}, {"reason", e.reason}};
    Json ev = make_event(kNames[static_cast<int>(e.kind)], std::move(data));
    loop_->post([this, ev = std::move(ev)] { broadcast(ev); });
  }

  void stop() {
    if (!thread_.joinable()) return;
    loop_->post([this] {
      flush_all_blocking();
      for (auto& [fd, c] : clients_) loop_->remove(fd);
      clients_.clear();
      loop_->remove(listener_.get());
      listener_.reset();
      if (!options_.socket_path.empty()) ::unlink(options_.socket_path.c_str());
      loop_->stop();
    });
    // Called from a command on the monitor thread itself (VmControl::quit tearing down at once):
    // the posted stop runs when the command returns; the join is left to the destructor.
    if (std::this_thread::get_id() == thread_.get_id()) return;
    thread_.join();
  }

 private:
  struct Client {
    UniqueFd fd;
    std::unique_ptr<QmpSession> session;
    bool want_write = false;
    bool reading = true;
  };

  void accept_clients() {
    for (;;) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
        // The pending connection stays readable: stop listening for a moment instead of spinning.
        return pause_accepting();
      }
      if (fd < 0) return;  // EAGAIN, or a connection that went away already
      UniqueFd conn(fd);
      if (clients_.size() >= options_.max_clients) {
        std::string line =
            to_qmp_text(Json{{"error",
                              {{"class", "GenericError"},
                               {"desc", fmt::format("too many QMP clients (at most {})",
                                                    options_.max_clients)}}}}) +
            "\r\n";
        (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
        continue;
      }
      auto client = std::make_unique<Client>();
      client->fd = std::move(conn);
      client->session =
          std::make_unique<QmpSession>(vm_, [this](const Json& ev) { broadcast(ev); });
      client->session->output() = to_qmp_text(QmpSession::greeting()) + "\r\n";
      Client* raw = client.get();
      clients_[fd] = std::move(client);
      if (!loop_->add(
              fd, [this, fd](uint32_t events) { on_client(fd, events); }, EPOLLIN)) {
        clients_.erase(fd);
        continue;
      }
      flush(*raw);
    }
  }

  void pause_accepting() {
    if (!accept_paused_once_) LOG_WARN("QMP monitor: out of file descriptors; pausing accept()");
    accept_paused_once_ = true;
    loop_->remove(listener_.get());
    itimerspec when{};
    when.it_value.tv_nsec = kAcceptPauseMs * 1000000L;
    ::timerfd_settime(accept_timer_.get(), 0, &when, nullptr);
  }

  void resume_accepting() {
    uint64_t expirations;
    (void)!::read(accept_timer_.get(), &expirations, sizeof expirations);
    (void)loop_->add(listener_.get(), [this](uint32_t) { accept_clients(); });
  }

  void broadcast(const Json& ev) {
    for (auto& [fd, c] : clients_) c->session->deliver_event(ev);
    // Sessions queue; writing happens once the current command has queued its reply too.
    loop_->post([this] { flush_all(); });
  }

  void on_client(int fd, uint32_t events) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    Client& c = *it->second;
    if (events & EPOLLIN) {
      char buf[4096];
      // Bounded per wakeup so one flooding client cannot starve the others.
      for (int i = 0; i < 16 && c.reading; ++i) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return drop(fd);
        if (n < 0) break;
        c.session->feed(std::string_view(buf, n));
        if (clients_.find(fd) == clients_.end()) return;
        if (c.session->output().size() > kOutputPauseBytes) break;
      }
    } else if (events & (EPOLLHUP | EPOLLERR)) {
      return drop(fd);
    }
    flush_all();
  }

  void flush_all() {
    std::vector<int> fds;
    for (auto& [fd, c] : clients_) fds.push_back(fd);
    for (int fd : fds) {
      auto it = clients_.find(fd);
      if (it != clients_.end()) flush(*it->second);
    }
  }

  void flush(Client& c) {
    int fd = c.fd.get();
    std::string& out = c.session->output();
    while (!out.empty()) {
      ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) return drop(fd);
      out.erase(0, n);
    }
    if (out.size() > kOutputDropBytes) {
      LOG_WARN("QMP client not reading its replies: disconnected");
      return drop(fd);
    }
    bool want_write = !out.empty();
    bool reading = out.size() <= kOutputPauseBytes;
    if (want_write == c.want_write && reading == c.reading) return;
    c.want_write = want_write;
    c.reading = reading;
    uint32_t events = (reading ? uint32_t{EPOLLIN} : 0u) | (want_write ? uint32_t{EPOLLOUT} : 0u);
    loop_->remove(fd);
    if (!loop_->add(
            fd, [this, fd](uint32_t ev) { on_client(fd, ev); }, events))
      drop(fd);
  }

  void drop(int fd) {
    loop_->remove(fd);
    clients_.erase(fd);
  }

  // On stop: give every client a bounded time to take what is queued (the reply to "quit").
  void flush_all_blocking() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kFlushOnStopMs);
    for (auto& [fd, c] : clients_) {
      std::string& out = c->session->output();
      while (!out.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) break;
        out.erase(0, n);
      }
    }
  }

  QmpServerOptions options_;
  VmControl& vm_;
  UniqueFd listener_;
  UniqueFd accept_timer_;
  bool accept_paused_once_ = false;
  std::unique_ptr<EventLoop> loop_;
  std::map<int, std::unique_ptr<Client>> clients_;
  std::thread thread_;
};

QmpServer::QmpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
QmpServer::~QmpServer() {
  stop();
}

Result<std::unique_ptr<QmpServer>> QmpServer::start(QmpServerOptions options, VmControl& vm) {
  auto impl = std::make_unique<Impl>(std::move(options), vm);
  CORVID_TRY_VOID(impl->listen());
  return std::unique_ptr<QmpServer>(new QmpServer(std::move(impl)));
}

void QmpServer::stop() {
  impl_->stop();
}
void QmpServer::vm_event(const VmEvent& event) {
  impl_->vm_event(event);
}

}  // namespace corvid::monitor
