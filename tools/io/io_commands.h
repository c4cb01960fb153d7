// qemu-io's command interpreter: the commands given with -c (or typed at the prompt) run against
// one open image. Each command prints what qemu-io prints and reports success or failure; the
// tool exits 1 when any command failed.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <vector>

#include "block/block_device.h"

namespace corvid::io {

struct AioRequest;

struct IoSession {
  IoSession();
  ~IoSession();  // defined where AioRequest is complete
  std::unique_ptr<block::BlockDevice> device;
  std::string path;
  block::OpenOptions options;
  std::list<std::unique_ptr<AioRequest>> aio;  // in flight; completed ones remove themselves
  bool quit = false;
  // The name error messages start with: the basename of argv[0], as qemu-io does.
  std::string progname = "qemu-io";
};

// Opens `path` into the session, printing "<prog>: can't open device <path>: <error>".
bool open_device(IoSession& s, const std::string& path, const block::OpenOptions& options);

// Completes every aio request in flight (their reports print as they finish).
void drain_aio(IoSession& s);

// Runs one command line; returns false when the command failed.
bool run_command(IoSession& s, const std::string& line);

// The commands in io_rw.cc. argv[0] is the command name.
using Args = std::vector<char*>;
int read_cmd(IoSession& s, Args& a);
int readv_cmd(IoSession& s, Args& a);
int write_cmd(IoSession& s, Args& a);
int writev_cmd(IoSession& s, Args& a);
int aio_read_cmd(IoSession& s, Args& a);
int aio_write_cmd(IoSession& s, Args& a);
int discard_cmd(IoSession& s, Args& a);

// Prints "<name> <args> -- <oneline>" for a command (its usage line).
int print_usage(const char* name);

}  // namespace corvid::io
