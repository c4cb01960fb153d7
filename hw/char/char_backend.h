// Where a serial port's bytes go and come from: the terminal (stdio, put in raw mode while the VM
// runs and restored on every exit path), a pseudo-terminal (pty: "char device redirected to
// /dev/pts/N (label serial0)", as QEMU prints it), a file (output only) or a unix socket (one
// client at a time). On stdio, QEMU's escape keys work: Ctrl-A X quits, Ctrl-A H prints help,
// Ctrl-A Ctrl-A sends one Ctrl-A.
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

  // "stdio", "pty", "file:PATH", "socket:PATH" (listening unix socket) or "none".
  static Result<std::unique_ptr<CharBackend>> open(const std::string& spec);
  ~CharBackend();

  // Sends guest output; never blocks the vCPU for long (drops bytes when a socket peer is gone).
  void write(std::span<const uint8_t> bytes);
  // Starts delivering host input to `receiver` on loop's thread.
  Result<> start_input(EventLoop* loop, Receiver receiver);
  // Stops watching the loop given to start_input (before that loop is destroyed).
  void stop_input();
  // Puts the terminal back (also done by the destructor, at exit and on fatal signals).
  void restore_terminal();
  // What Ctrl-A X does (called on the input loop's thread); without one, the keys are ignored.
  void set_quit_handler(std::function<void()> quit) { quit_ = std::move(quit); }
  // The pty's slave device ("/dev/pts/3"), empty for other backends.
  const std::string& pty_name() const { return pty_name_; }

 private:
  enum class Kind { kStdio, kPty, kFile, kSocket, kNone };
  CharBackend(Kind kind, UniqueFd out) : kind_(kind), out_(std::move(out)) {}
  void accept_client();
  void read_input(int fd);
  // Applies the Ctrl-A escapes to stdio input; returns the bytes meant for the guest.
  size_t filter_escapes(uint8_t* buf, size_t n);
  void print_to_terminal(const char* text);

  Kind kind_;
  UniqueFd out_;        // file, listening socket, pty master or -1 (stdio uses fd 1 and 0)
  UniqueFd pty_slave_;  // kept open so the master never sees a hang-up between clients
  std::string pty_name_;
  std::function<void()> quit_;
  bool escape_ = false;  // Ctrl-A seen, the command key comes next
  UniqueFd client_;      // the connected socket peer
  std::mutex client_mutex_;
  EventLoop* loop_ = nullptr;
  Receiver receiver_;
  bool raw_ = false;
  termios saved_{};
};

}  // namespace corvid::hw
