#include "monitor/qmp_session.h"

#include "monitor/json_writer.h"
#include "monitor/qmp_commands.h"

namespace corvid::monitor {
namespace {

// The key order QEMU's replies happen to have (its QDict hash order): "return" before "id",
// "id" before "error". Clients must not care; byte-for-byte comparisons with QEMU do.
Json success_reply(Json ret, const Json* id) {
  Json r{{"return", std::move(ret)}};
  if (id) r["id"] = *id;
  return r;
}

Json error_reply(const QmpError& e, const Json* id) {
  Json r = Json::object();
  if (id) r["id"] = *id;
  r["error"] = Json{{"class", e.error_class}, {"desc", e.desc}};
  return r;
}

// qmp_dispatch_check_obj in QEMU's qapi/qmp-dispatch.c.
tl::expected<std::string, QmpError> check_request(const Json& req, bool allow_oob, bool* oob) {
  std::string exec_key;
  std::string command;
  for (auto it = req.begin(); it != req.end(); ++it) {
    const std::string& key = it.key();
    if (key == "execute" || (key == "exec-oob" && allow_oob)) {
      if (!it->is_string())
        return tl::unexpected(
            generic_error(fmt::format("QMP input member '{}' must be a string", key)));
      if (!exec_key.empty())
        return tl::unexpected(
            generic_error(fmt::format("QMP input member '{}' clashes with '{}'", key, exec_key)));
      exec_key = key;
      command = it->get<std::string>();
    } else if (key == "arguments") {
      if (!it->is_object())
        return tl::unexpected(generic_error("QMP input member 'arguments' must be an object"));
    } else if (key != "id") {
      return tl::unexpected(generic_error(fmt::format("QMP input member '{}' is unexpected", key)));
    }
  }
  if (exec_key.empty()) return tl::unexpected(generic_error("QMP input lacks member 'execute'"));
  *oob = exec_key == "exec-oob";
  return command;
}

// qmp_capabilities' argument: an optional list of QMPCapability ("oob" is the only one).
tl::expected<bool, QmpError> parse_capabilities(const Json& args) {
  bool oob = false;
  for (auto it = args.begin(); it != args.end(); ++it) {
    if (it.key() != "enable")
      return tl::unexpected(generic_error(fmt::format("Parameter '{}' is unexpected", it.key())));
    if (!it->is_array())
      return tl::unexpected(generic_error("Invalid parameter type for 'enable', expected: array"));
    for (const auto& cap : *it) {
      // QEMU 7.2 names list elements 'null' in these messages; kept for identical replies.
      if (!cap.is_string())
        return tl::unexpected(generic_error("Invalid parameter type for 'null', expected: string"));
      if (cap != "oob")
        return tl::unexpected(generic_error(
            fmt::format("Parameter 'null' does not accept value '{}'", cap.get<std::string>())));
      oob = true;
    }
  }
  return oob;
}

}  // namespace

QmpSession::QmpSession(VmControl& vm, Broadcast broadcast, JsonLimits limits)
    : vm_(vm),
      broadcast_(std::move(broadcast)),
      stream_([this](Json v, const std::string* err) { handle(std::move(v), err); }, limits) {}

Json QmpSession::greeting() {
  return Json{{"QMP", {{"version", version_json()}, {"capabilities", Json::array({"oob"})}}}};
}

void QmpSession::feed(std::string_view bytes) {
  stream_.feed(bytes);
}

void QmpSession::send(const Json& message) {
  output_ += to_qmp_text(message);
  output_ += "\r\n";
}

void QmpSession::deliver_event(const Json& event) {
  if (negotiated_) send(event);
}

void QmpSession::handle(Json req, const std::string* parse_error) {
  if (parse_error) return send(error_reply(generic_error(*parse_error), nullptr));
  if (!req.is_object())
    return send(error_reply(generic_error("QMP input must be a JSON object"), nullptr));
  const Json* id = req.contains("id") ? &req["id"] : nullptr;
  bool oob = false;
  auto command = check_request(req, oob_enabled_, &oob);
  if (!command) return send(error_reply(command.error(), id));
  Json args = req.contains("arguments") ? req["arguments"] : Json::object();

  if (!negotiated_) {
    // Only qmp_capabilities exists until negotiation; QEMU rewrites CommandNotFound's text.
    if (*command != "qmp_capabilities")
      return send(error_reply(
          {"CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'"}, id));
    auto caps = parse_capabilities(args);
    if (!caps) return send(error_reply(caps.error(), id));
    negotiated_ = true;
    oob_enabled_ = *caps;
    return send(success_reply(Json::object(), id));
  }
  if (*command == "qmp_capabilities") {
    if (auto caps = parse_capabilities(args); !caps) return send(error_reply(caps.error(), id));
    return send(error_reply(
        {"CommandNotFound", "Capabilities negotiation is already complete, command ignored"}, id));
  }
  if (!command_exists(*command))
    return send(error_reply(
        {"CommandNotFound", fmt::format("The command {} has not been found", *command)}, id));
  if (oob)
    return send(error_reply(
        generic_error(fmt::format("The command {} does not support OOB", *command)), id));

  CommandContext ctx{vm_, broadcast_};
  auto result = run_command(*command, args, ctx);
  send(result ? success_reply(std::move(*result), id) : error_reply(result.error(), id));
  if (ctx.quit_requested) vm_.quit();
}

}  // namespace corvid::monitor
