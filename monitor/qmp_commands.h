// The QMP commands corvid serves, over VmControl. Internal to monitor/: QmpSession dispatches.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "monitor/json_stream.h"
#include "monitor/vm_control.h"

namespace corvid::monitor {

// An error reply's "class" (qapi/error.json QapiErrorClass) and "desc".
struct QmpError {
  std::string error_class;
  std::string desc;
};
QmpError generic_error(std::string desc);

using QmpResult = tl::expected<Json, QmpError>;

struct CommandContext {
  VmControl& vm;
  std::function<void(const Json& event)> emit_event;  // to every negotiated client
  bool quit_requested = false;  // set by "quit": the session calls VmControl::quit() after replying
};

bool command_exists(std::string_view name);
QmpResult run_command(const std::string& name, const Json& args, CommandContext& ctx);

// {"timestamp": {"seconds": S, "microseconds": U}, "event": NAME[, "data": DATA]}, now.
Json make_event(std::string_view name, Json data = nullptr);
std::string_view run_state_name(RunState state);

// The version corvid reports: the QMP dialect is QEMU 7.2's; "package" names corvid.
Json version_json();

// HMP text as QEMU prints it (with "\n"; the session turns it into "\r\n").
std::string hmp_info_status(RunState state);
std::string hmp_info_block(const std::vector<BlockInfo>& blocks, std::string_view device);
Json query_block_json(const std::vector<BlockInfo>& blocks);
Json query_blockstats_json(const std::vector<BlockInfo>& blocks);

}  // namespace corvid::monitor
