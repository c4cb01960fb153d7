#include "hw/char/char_backend.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "base/log.h"

namespace corvid::hw {
namespace {

// For restoring the terminal from a fatal-signal handler, which cannot reach the object.
termios g_saved_termios;
volatile sig_atomic_t g_terminal_raw = 0;

void restore_on_signal(int sig) {
  if (g_terminal_raw) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  signal(sig, SIG_DFL);
  raise(sig);
}

void write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // the reader went away; guest output is not worth stopping the VM for
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

Result<std::unique_ptr<CharBackend>> CharBackend::open(const std::string& spec) {
  if (spec == "stdio")
    return std::unique_ptr<CharBackend>(new CharBackend(Kind::kStdio, UniqueFd()));
  if (spec == "none") return std::unique_ptr<CharBackend>(new CharBackend(Kind::kNone, UniqueFd()));
  if (spec.starts_with("file:")) {
    std::string path = spec.substr(5);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno_error("serial: cannot open {}", path);
    return std::unique_ptr<CharBackend>(new CharBackend(Kind::kFile, UniqueFd(fd)));
  }
  if (spec.starts_with("socket:")) {
    std::string path = spec.substr(7);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
      return errorf(EINVAL, "serial: socket path '{}' is empty or too long", path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return errno_error("serial: socket");
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
      return errno_error("serial: cannot bind {}", path);
    if (::listen(fd.get(), 1) < 0) return errno_error("serial: listen on {}", path);
    return std::unique_ptr<CharBackend>(new CharBackend(Kind::kSocket, std::move(fd)));
  }
  return errorf(EINVAL,
                "serial: unknown backend '{}' (expected stdio, file:PATH, socket:PATH or none)",
                spec);
}

CharBackend::~CharBackend() {
  stop_input();
  restore_terminal();
}

void CharBackend::stop_input() {
  if (!loop_) return;
  if (kind_ == Kind::kStdio) loop_->remove(STDIN_FILENO);
  if (out_ && kind_ == Kind::kSocket) loop_->remove(out_.get());
  {
    std::lock_guard lock(client_mutex_);
    if (client_) loop_->remove(client_.get());
  }
  loop_ = nullptr;
}

void CharBackend::write(std::span<const uint8_t> bytes) {
  switch (kind_) {
    case Kind::kStdio:
      write_all(STDOUT_FILENO, bytes.data(), bytes.size());
      break;
    case Kind::kFile:
      write_all(out_.get(), bytes.data(), bytes.size());
      break;
    case Kind::kSocket: {
      std::lock_guard lock(client_mutex_);
      if (client_) ::send(client_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      break;
    }
    case Kind::kNone:
      break;
  }
}

Result<> CharBackend::start_input(EventLoop* loop, Receiver receiver) {
  loop_ = loop;
  receiver_ = std::move(receiver);
  if (kind_ == Kind::kSocket) return loop->add(out_.get(), [this](uint32_t) { accept_client(); });
  if (kind_ != Kind::kStdio) return {};
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
    // Raw input so the guest sees every key, but ISIG kept: Ctrl-C still stops corvid.
    termios raw = saved_;
    raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    g_saved_termios = saved_;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
      raw_ = true;
      g_terminal_raw = 1;
      for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, restore_on_signal);
    }
  }
  // epoll refuses regular files and /dev/null (EPERM): then there is simply no input.
  auto added = loop->add(STDIN_FILENO, [this](uint32_t) { read_input(STDIN_FILENO); });
  if (!added)
    LOG_DEBUG("serial: stdin is not pollable ({}); no guest input", added.error().to_string());
  return {};
}

void CharBackend::accept_client() {
  int fd = ::accept4(out_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  std::lock_guard lock(client_mutex_);
  if (client_) {
    ::close(fd);  // one peer at a time
    return;
  }
  client_.reset(fd);
  if (!loop_->add(fd, [this, fd](uint32_t) { read_input(fd); })) client_.reset();
}

void CharBackend::read_input(int fd) {
  uint8_t buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    receiver_(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    return;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  loop_->remove(fd);  // EOF or error: stop watching
  if (kind_ == Kind::kSocket) {
    std::lock_guard lock(client_mutex_);
    client_.reset();
  }
}

void CharBackend::restore_terminal() {
  if (!raw_) return;
  tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  raw_ = false;
  g_terminal_raw = 0;
}

}  // namespace corvid::hw
