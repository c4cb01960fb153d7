// The QMP commands (qapi/*.json in QEMU 7.2 for their shapes) and the QAPI-style argument
// checks that produce QEMU's error texts.
#include "monitor/qmp_commands.h"

#include <sys/time.h>

#include "base/version.h"

#include <map>
#include <sstream>

namespace corvid::monitor {
namespace {

enum class ArgType { kString, kInteger, kStringList };

struct Param {
  const char* name;
  ArgType type;
  bool required;
};

const char* type_name(ArgType t) {
  switch (t) {
    case ArgType::kString:
      return "string";
    case ArgType::kInteger:
      return "integer";
    case ArgType::kStringList:
      return "array";
  }
  return "?";
}

bool has_type(const Json& v, ArgType t) {
  switch (t) {
    case ArgType::kString:
      return v.is_string();
    case ArgType::kInteger:
      return v.is_number_integer();
    case ArgType::kStringList:
      return v.is_array();
  }
  return false;
}

// As QEMU's generated marshallers check: declared members first (missing, wrong type), then
// whatever is left over (qobject-input-visitor.c check_struct).
tl::expected<void, QmpError> check_args(const Json& args, std::initializer_list<Param> params) {
  for (const Param& p : params) {
    auto it = args.find(p.name);
    if (it == args.end()) {
      if (p.required)
        return tl::unexpected(generic_error(fmt::format("Parameter '{}' is missing", p.name)));
      continue;
    }
    if (!has_type(*it, p.type))
      return tl::unexpected(generic_error(
          fmt::format("Invalid parameter type for '{}', expected: {}", p.name, type_name(p.type))));
  }
  for (auto it = args.begin(); it != args.end(); ++it) {
    bool known = false;
    for (const Param& p : params) known = known || it.key() == p.name;
    if (!known)
      return tl::unexpected(generic_error(fmt::format("Parameter '{}' is unexpected", it.key())));
  }
  return {};
}

QmpError from_result(const Error& e) {
  return generic_error(e.to_string());
}

bool needs_reset(RunState s) {
  return s == RunState::kInternalError || s == RunState::kGuestPanicked || s == RunState::kShutdown;
}

QmpResult do_stop(CommandContext& ctx) {
  if (ctx.vm.run_state() != RunState::kRunning) return Json::object();
  if (auto r = ctx.vm.pause(); !r) return tl::unexpected(from_result(r.error()));
  ctx.emit_event(make_event("STOP"));
  return Json::object();
}

QmpResult do_cont(CommandContext& ctx) {
  RunState s = ctx.vm.run_state();
  // qmp_cont in QEMU's monitor/qmp-cmds.c
  if (needs_reset(s))
    return tl::unexpected(generic_error("Resetting the Virtual Machine is required"));
  if (s == RunState::kRunning) return Json::object();
  if (auto r = ctx.vm.resume(); !r) return tl::unexpected(from_result(r.error()));
  ctx.emit_event(make_event("RESUME"));
  return Json::object();
}

QmpResult do_reset(CommandContext& ctx) {
  if (auto r = ctx.vm.reset(); !r) return tl::unexpected(from_result(r.error()));
  ctx.emit_event(make_event("RESET", Json{{"guest", false}, {"reason", "host-qmp-system-reset"}}));
  return Json::object();
}

QmpResult do_powerdown(CommandContext& ctx) {
  if (auto r = ctx.vm.powerdown(); !r) return tl::unexpected(from_result(r.error()));
  ctx.emit_event(make_event("POWERDOWN"));
  return Json::object();
}

QmpResult do_quit(CommandContext& ctx) {
  ctx.emit_event(make_event("SHUTDOWN", Json{{"guest", false}, {"reason", "host-qmp-quit"}}));
  ctx.quit_requested = true;
  return Json::object();
}

std::string hmp_help() {
  return "info block [-n] [-v] [device] -- show info of one block device or all block devices\n"
         "info status  -- show the current VM status (running|paused)\n";
}

// human-monitor-command: the few HMP lines corvid knows, parsed as QEMU's HMP splits words.
QmpResult do_hmp(const std::string& line, CommandContext& ctx) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  std::string out;
  if (words.empty()) return Json("");
  const std::string& cmd = words[0];
  auto action = [&](QmpResult r) -> std::string { return r ? "" : r.error().desc + "\n"; };
  if (cmd == "info" && words.size() == 1) {
    out = hmp_help();
  } else if (cmd == "info" && words[1] == "status") {
    out = hmp_info_status(ctx.vm.run_state());
  } else if (cmd == "info" && words[1] == "block") {
    std::string device;
    for (size_t i = 2; i < words.size(); ++i)
      if (words[i] != "-n" && words[i] != "-v") device = words[i];
    out = hmp_info_block(ctx.vm.block_devices(), device);
  } else if (cmd == "stop") {
    out = action(do_stop(ctx));
  } else if (cmd == "cont" || cmd == "c") {
    out = action(do_cont(ctx));
  } else if (cmd == "system_reset") {
    out = action(do_reset(ctx));
  } else if (cmd == "system_powerdown") {
    out = action(do_powerdown(ctx));
  } else if (cmd == "quit" || cmd == "q") {
    out = action(do_quit(ctx));
  } else if (cmd == "info") {
    // monitor/hmp.c monitor_parse_command names the words up to the unknown one.
    out = fmt::format("unknown command: 'info {}'\n", words[1]);
  } else {
    out = fmt::format("unknown command: '{}'\n", cmd);
  }
  std::string crlf;
  for (char c : out) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  return Json(crlf);
}

QmpResult cpus_json(CommandContext& ctx) {
  Json out = Json::array();
  for (const CpuInfo& c : ctx.vm.cpus())
    out.push_back(Json{
        {"thread-id", c.host_tid},
        {"props", {{"core-id", c.core_id}, {"thread-id", c.thread_id}, {"socket-id", c.socket_id}}},
        {"qom-path", fmt::format("/machine/unattached/device[{}]", c.index)},
        {"cpu-index", c.index},
        {"target", "x86_64"}});
  return out;
}

QmpResult query_version(CommandContext&) {
  return version_json();
}

QmpResult query_status(CommandContext& ctx) {
  RunState s = ctx.vm.run_state();
  return Json{
      {"status", run_state_name(s)}, {"singlestep", false}, {"running", s == RunState::kRunning}};
}

QmpResult query_name(CommandContext& ctx) {
  std::string name = ctx.vm.name();
  return name.empty() ? Json::object() : Json{{"name", name}};
}

QmpResult query_uuid(CommandContext& ctx) {
  std::string uuid = ctx.vm.uuid();
  return Json{{"UUID", uuid.empty() ? "00000000-0000-0000-0000-000000000000" : uuid}};
}

QmpResult query_kvm(CommandContext& ctx) {
  return Json{{"enabled", ctx.vm.kvm_enabled()}, {"present", ctx.vm.kvm_present()}};
}

// The machine-level queries management tools ask first (qapi/machine.json, machine-target.json,
// misc.json in QEMU 7.2). corvid's board has no memory hotplug, I/O threads objects, display or
// migration, so these answer what QEMU answers for a VM without them.
QmpResult query_target(CommandContext&) {
  return Json{{"arch", "x86_64"}};
}

QmpResult query_current_machine(CommandContext&) {
  return Json{{"wakeup-suspend-support", false}};
}

QmpResult query_memory_size_summary(CommandContext& ctx) {
  return Json{{"base-memory", ctx.vm.memory_bytes()}, {"plugged-memory", 0}};
}

QmpResult query_iothreads(CommandContext&) {
  return Json::array();
}

QmpResult query_migrate(CommandContext&) {
  return Json::object();
}

QmpResult query_display_options(CommandContext&) {
  return Json{{"type", "none"}};
}

QmpResult query_commands(CommandContext&);

QmpResult query_block(CommandContext& ctx) {
  return query_block_json(ctx.vm.block_devices());
}

QmpResult query_blockstats(const Json& args, CommandContext& ctx) {
  // qapi/block-core.json: query-blockstats takes an optional boolean query-nodes.
  auto it = args.find("query-nodes");
  if (it != args.end() && !it->is_boolean())
    return tl::unexpected(
        generic_error("Invalid parameter type for 'query-nodes', expected: boolean"));
  Json rest = args;
  rest.erase("query-nodes");
  if (auto ok = check_args(rest, {}); !ok) return tl::unexpected(ok.error());
  return query_blockstats_json(ctx.vm.block_devices());
}

QmpResult human_monitor_command(const Json& args, CommandContext& ctx) {
  auto ok = check_args(
      args, {{"command-line", ArgType::kString, true}, {"cpu-index", ArgType::kInteger, false}});
  if (!ok) return tl::unexpected(ok.error());
  return do_hmp(args["command-line"].get<std::string>(), ctx);
}

using Handler = QmpResult (*)(const Json& args, CommandContext& ctx);

// A command without arguments: any argument is refused as QEMU refuses it.
template <QmpResult (*Fn)(CommandContext&)>
QmpResult no_args(const Json& args, CommandContext& ctx) {
  if (auto ok = check_args(args, {}); !ok) return tl::unexpected(ok.error());
  return Fn(ctx);
}

const std::map<std::string, Handler, std::less<>>& commands() {
  static const std::map<std::string, Handler, std::less<>> kCommands = {
      {"query-version", no_args<query_version>},
      {"query-status", no_args<query_status>},
      {"query-name", no_args<query_name>},
      {"query-uuid", no_args<query_uuid>},
      {"query-kvm", no_args<query_kvm>},
      {"query-cpus-fast", no_args<cpus_json>},
      {"query-block", no_args<query_block>},
      {"query-blockstats", query_blockstats},
      {"query-commands", no_args<query_commands>},
      {"query-target", no_args<query_target>},
      {"query-current-machine", no_args<query_current_machine>},
      {"query-memory-size-summary", no_args<query_memory_size_summary>},
      {"query-iothreads", no_args<query_iothreads>},
      {"query-migrate", no_args<query_migrate>},
      {"query-display-options", no_args<query_display_options>},
      {"stop", no_args<do_stop>},
      {"cont", no_args<do_cont>},
      {"system_reset", no_args<do_reset>},
      {"system_powerdown", no_args<do_powerdown>},
      {"quit", no_args<do_quit>},
      {"human-monitor-command", human_monitor_command},
  };
  return kCommands;
}

// Every command this monitor runs, qmp_capabilities included (QEMU lists it too).
QmpResult query_commands(CommandContext&) {
  Json list = Json::array();
  list.push_back(Json{{"name", "qmp_capabilities"}});
  for (const auto& [name, handler] : commands()) list.push_back(Json{{"name", name}});
  return list;
}

}  // namespace

QmpError generic_error(std::string desc) {
  return {"GenericError", std::move(desc)};
}

bool command_exists(std::string_view name) {
  return commands().find(name) != commands().end();
}

QmpResult run_command(const std::string& name, const Json& args, CommandContext& ctx) {
  auto it = commands().find(name);
  if (it == commands().end())
    return tl::unexpected(
        QmpError{"CommandNotFound", fmt::format("The command {} has not been found", name)});
  return it->second(args, ctx);
}

Json make_event(std::string_view name, Json data) {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  Json ev{{"timestamp",
           {{"seconds", static_cast<int64_t>(tv.tv_sec)},
            {"microseconds", static_cast<int64_t>(tv.tv_usec)}}},
          {"event", name}};
  if (!data.is_null()) ev["data"] = std::move(data);
  return ev;
}

std::string_view run_state_name(RunState state) {
  switch (state) {
    case RunState::kPrelaunch:
      return "prelaunch";
    case RunState::kRunning:
      return "running";
    case RunState::kPaused:
      return "paused";
    case RunState::kShutdown:
      return "shutdown";
    case RunState::kInternalError:
      return "internal-error";
    case RunState::kGuestPanicked:
      return "guest-panicked";
  }
  return "running";
}

Json version_json() {
  return Json{{"qemu", {{"micro", 0}, {"minor", 2}, {"major", 7}}},
              {"package", std::string("corvid ") + corvid::version()}};
}

// hmp_info_status in QEMU's monitor/hmp-cmds.c.
std::string hmp_info_status(RunState state) {
  bool running = state == RunState::kRunning;
  std::string out = fmt::format("VM status: {}", running ? "running" : "paused");
  if (!running && state != RunState::kPaused) out += fmt::format(" ({})", run_state_name(state));
  return out + "\n";
}

}  // namespace corvid::monitor
