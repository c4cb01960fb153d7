// A minimal blocking QMP client for tests: lines in, lines out, with timeouts.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "base/unique_fd.h"

namespace corvid::monitor {

class QmpTestClient {
 public:
  // Connects, retrying while the socket does not exist yet (a starting QEMU).
  bool connect(const std::string& path, int timeout_ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
      if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  bool connect_tcp(int port) {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }

  bool send(const std::string& text) {
    return ::send(fd_.get(), text.data(), text.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(text.size());
  }

  // The next "\r\n"-terminated line, or nullopt on timeout or EOF.
  std::optional<std::string> line(int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      size_t pos = buffer_.find("\r\n");
      if (pos != std::string::npos) {
        std::string l = buffer_.substr(0, pos);
        buffer_.erase(0, pos + 2);
        return l;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[65536];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(buf, n);
    }
  }

  // Reads lines until one is not an event (has no "event" key at top level).
  std::optional<std::string> reply(int timeout_ms = 5000) {
    for (;;) {
      auto l = line(timeout_ms);
      if (!l || l->rfind("{\"timestamp\"", 0) != 0) return l;
    }
  }

  bool closed_by_peer(int timeout_ms = 2000) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char c;
    return ::recv(fd_.get(), &c, 1, MSG_PEEK) == 0;
  }

  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string buffer_;
};

}  // namespace corvid::monitor
