// QmpServer: a QMP server on a unix socket, speaking the protocol as QEMU 7.2 does
// (docs/interop/qmp-spec.txt): greeting, capabilities negotiation, "id" echo, error classes,
// timestamped events. It runs on its own thread, so a slow or hostile client never stalls the VM.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "monitor/vm_control.h"

namespace corvid::monitor {

struct QmpServerOptions {
  std::string socket_path;  // unix socket; an existing socket file is replaced
  // tcp:HOST:PORT instead (socket_path empty): HOST empty = every address, port 0 = any.
  std::string tcp_host;
  int tcp_port = -1;
  size_t max_clients = 16;  // further connections get one error line and are closed
};

// Parses the --qmp argument: "unix:PATH,server[,wait=off][,nowait]" or
// "tcp:[HOST]:PORT,server[,...]" (QEMU's chardev syntax). corvid never waits for a
// client before starting the guest (QEMU's wait=off), so "wait=on" is refused.
Result<QmpServerOptions> parse_qmp_option(std::string_view text);

class QmpServer : public VmEventSink {
 public:
  // Binds and listens at once (so a client may connect as soon as this returns), then serves
  // from its own thread. vm must outlive the server.
  static Result<std::unique_ptr<QmpServer>> start(QmpServerOptions options, VmControl& vm);
  ~QmpServer() override;  // stop()s

  // Flushes what is queued for each client (bounded wait), closes clients, joins the thread and
  // unlinks the socket. Idempotent.
  void stop();

  void vm_event(const VmEvent& event) override;

  class Impl;

 private:
  explicit QmpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace corvid::monitor
