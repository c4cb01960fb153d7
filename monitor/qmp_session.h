// One QMP connection's protocol state, without the socket: bytes in, bytes out. The server owns
// the sockets; tests drive sessions directly. Follows QEMU 7.2's monitor/qmp.c and
// qapi/qmp-dispatch.c for negotiation, request checks and the order of keys in replies.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "monitor/json_stream.h"
#include "monitor/vm_control.h"

namespace corvid::monitor {

class QmpSession {
 public:
  using Broadcast = std::function<void(const Json& event)>;

  // broadcast delivers an event to every negotiated session (this one included).
  QmpSession(VmControl& vm, Broadcast broadcast, JsonLimits limits = {});

  void feed(std::string_view bytes);
  // Queues an event if this session has completed capabilities negotiation.
  void deliver_event(const Json& event);

  std::string& output() { return output_; }
  bool negotiated() const { return negotiated_; }

  static Json greeting();

 private:
  void handle(Json request, const std::string* parse_error);
  void send(const Json& message);

  VmControl& vm_;
  Broadcast broadcast_;
  JsonStream stream_;
  std::string output_;
  bool negotiated_ = false;
  bool oob_enabled_ = false;
};

}  // namespace corvid::monitor
