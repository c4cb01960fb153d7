// Where a serial port's bytes go and come from: the terminal (stdio, put in raw mode while the VM
// runs and restored on exit), a file (output only) or a unix socket (one client at a time).
#pragma once

#include <termios.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "base/event_loop.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace corvid::hw {

class CharBackend {
 public:
  using Receiver = std::function<void(std::span<const uint8_t>)>;

  // "stdio", "file:PATH", "socket:PATH" (listening unix socket) or "none".
  static Result<std::unique_ptr<CharBackend>> open(const std::string& spec);
  ~CharBackend();

  // Sends guest output; never blocks the vCPU for long (drops bytes when a socket peer is gone).
  void write(std::span<const uint8_t> bytes);
  // Starts delivering host input to `receiver` on loop's thread.
  Result<> start_input(EventLoop* loop, Receiver receiver);
  // Stops watching the loop given to start_input (before that loop is destroyed).
  void stop_input();
  // Puts the terminal back (also done by the destructor and on fatal signals).
  void restore_terminal();

 private:
  enum class Kind { kStdio, kFile, kSocket, kNone };
  CharBackend(Kind kind, UniqueFd out) : kind_(kind), out_(std::move(out)) {}
  void accept_client();
  void read_input(int fd);

  Kind kind_;
  UniqueFd out_;     // file, listening socket or -1 (stdio uses fd 1 and 0)
  UniqueFd client_;  // the connected socket peer
  std::mutex client_mutex_;
  EventLoop* loop_ = nullptr;
  Receiver receiver_;
  bool raw_ = false;
  termios saved_{};
};

}  // namespace corvid::hw
