#include "hw/char/char_backend.h"

#include <fcntl.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/log.h"

namespace corvid::hw {
namespace {

constexpr uint8_t kEscapeKey = 0x01;  // Ctrl-A, QEMU's default escape character
constexpr char kHelp[] =
    "\r\nC-a h    print this help\r\n"
    "C-a x    exit corvid\r\n"
    "C-a C-a  sends C-a\r\n";
constexpr char kTerminated[] = "corvid: Terminated\r\n";

// For restoring the terminal from signal handlers and atexit, which cannot reach the object.
termios g_saved_termios, g_raw_termios;
volatile sig_atomic_t g_terminal_raw = 0;

void restore_on_signal(int sig) {
  if (g_terminal_raw) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  signal(sig, SIG_DFL);
  raise(sig);
}

void raw_again_on_continue(int);

// Ctrl-Z: hand the shell a sane terminal while corvid is stopped...
void restore_on_stop(int) {
  if (g_terminal_raw) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  signal(SIGTSTP, SIG_DFL);
  signal(SIGCONT, raw_again_on_continue);
  raise(SIGTSTP);
}

// ...and take raw mode back on fg.
void raw_again_on_continue(int) {
  if (g_terminal_raw) tcsetattr(STDIN_FILENO, TCSANOW, &g_raw_termios);
  signal(SIGTSTP, restore_on_stop);
}

void restore_at_exit() {
  if (g_terminal_raw) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  g_terminal_raw = 0;
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
  if (spec == "pty") {
    int master = -1, slave = -1;
    char name[128] = {};
    if (openpty(&master, &slave, name, nullptr, nullptr) < 0) return errno_error("serial: openpty");
    UniqueFd m(master), sl(slave);
    // Raw, so the line discipline passes the guest's bytes through untouched (as QEMU's pty).
    termios t{};
    if (tcgetattr(slave, &t) == 0) {
      cfmakeraw(&t);
      tcsetattr(slave, TCSANOW, &t);
    }
    // Guest output must never block a vCPU on a full pty with no reader: drop it instead.
    if (fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(master, F_SETFD, FD_CLOEXEC) < 0 || fcntl(slave, F_SETFD, FD_CLOEXEC) < 0)
      return errno_error("serial: pty fcntl");
    std::unique_ptr<CharBackend> b(new CharBackend(Kind::kPty, std::move(m)));
    b->pty_slave_ = std::move(sl);
    b->pty_name_ = name;
    // QEMU's words, on stdout, so scripts written for QEMU find the device.
    std::printf("char device redirected to %s (label serial0)\n", name);
    std::fflush(stdout);
    return b;
  }
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
  return errorf(
      EINVAL, "serial: unknown backend '{}' (expected stdio, pty, file:PATH, socket:PATH or none)",
      spec);
}

CharBackend::~CharBackend() {
  stop_input();
  restore_terminal();
}

void CharBackend::stop_input() {
  if (!loop_) return;
  if (kind_ == Kind::kStdio) loop_->remove(STDIN_FILENO);
  if (out_ && (kind_ == Kind::kSocket || kind_ == Kind::kPty)) loop_->remove(out_.get());
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
    case Kind::kPty: {
      // Non-blocking: what a full pty (nobody reading) cannot take is dropped.
      [[maybe_unused]] ssize_t n = ::write(out_.get(), bytes.data(), bytes.size());
      break;
    }
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
  if (kind_ == Kind::kPty) {
    const int fd = out_.get();
    return loop->add(fd, [this, fd](uint32_t) { read_input(fd); });
  }
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
    g_raw_termios = raw;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
      raw_ = true;
      g_terminal_raw = 1;
      // Every way out puts the terminal back: the destructor, exit(), fatal signals, Ctrl-\,
      // and Ctrl-Z for as long as corvid is stopped.
      static const bool at_exit_registered = std::atexit(restore_at_exit) == 0;
      (void)at_exit_registered;
      for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGQUIT})
        signal(sig, restore_on_signal);
      signal(SIGTSTP, restore_on_stop);
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
    size_t len = static_cast<size_t>(n);
    if (kind_ == Kind::kStdio) len = filter_escapes(buf, len);
    if (len) receiver_(std::span<const uint8_t>(buf, len));
    return;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  loop_->remove(fd);  // EOF or error: stop watching
  if (kind_ == Kind::kSocket) {
    std::lock_guard lock(client_mutex_);
    client_.reset();
  }
}

// QEMU's mux escapes (chardev/char-mux.c behaviour): after Ctrl-A, 'x' quits, 'h' or '?' prints
// the help, Ctrl-A passes one Ctrl-A on, anything else is swallowed.
size_t CharBackend::filter_escapes(uint8_t* buf, size_t n) {
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = buf[i];
    if (!escape_) {
      if (c == kEscapeKey) {
        escape_ = true;
      } else {
        buf[out++] = c;
      }
      continue;
    }
    escape_ = false;
    switch (c) {
      case kEscapeKey:
        buf[out++] = c;
        break;
      case 'x':
      case 'X':
        if (quit_) {
          print_to_terminal(kTerminated);
          quit_();
        }
        break;
      case 'h':
      case 'H':
      case '?':
        print_to_terminal(kHelp);
        break;
      default:
        break;
    }
  }
  return out;
}

void CharBackend::print_to_terminal(const char* text) {
  write_all(STDOUT_FILENO, reinterpret_cast<const uint8_t*>(text), strlen(text));
}

void CharBackend::restore_terminal() {
  if (!raw_) return;
  g_terminal_raw = 0;
  signal(SIGTSTP, SIG_DFL);
  tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  raw_ = false;
}

}  // namespace corvid::hw
