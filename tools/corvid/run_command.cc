#include "tools/corvid/run_command.h"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "config/validate.h"
#include "hw/char/char_backend.h"
#include "hw/machine.h"
#include "hw/rtc/cmos_rtc.h"
#include "monitor/machine_control.h"
#include "monitor/qmp_server.h"
#include "tools/corvid/domain_module.h"

namespace corvid::tools {
namespace {

// SIGINT/SIGTERM/SIGHUP are blocked in every thread and collected here, so a signal stops the VM
// in order (vCPUs out, terminal restored, images closed) instead of killing the process mid-write.
// The destructor unblocks them again, so a later hang can still be interrupted.
class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&set_);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] { watch(); });
  }
  ~SignalWatcher() {
    done_ = true;
    // Wake sigtimedwait at once rather than after its tick (it would add up to 50 ms to every
    // exit); the signal is consumed there, since every thread blocks it.
    pthread_kill(thread_.native_handle(), SIGHUP);
    thread_.join();
    pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }
  void set_machine(hw::Machine* m) {
    std::lock_guard lock(mutex_);
    machine_ = m;
    if (m && pending_) m->request_quit(pending_);
  }

 private:
  void watch() {
    timespec tick{0, 50 * 1000 * 1000};
    while (!done_) {
      int sig = sigtimedwait(&set_, nullptr, &tick);
      if (sig <= 0 || done_) continue;
      std::lock_guard lock(mutex_);
      pending_ = sig;
      if (machine_) machine_->request_quit(sig);
    }
  }
  sigset_t set_;
  std::atomic<bool> done_{false};
  std::mutex mutex_;
  hw::Machine* machine_ = nullptr;
  int pending_ = 0;
  std::thread thread_;
};

int fail(const Error& e) {
  std::fprintf(stderr, "corvid: %s\n", e.to_string().c_str());
  return 1;
}

}  // namespace

int run_vm(const RunArgs& args) {
  if (args.verbose && !log_enabled(LogLevel::kInfo)) set_log_level(LogLevel::kInfo);
  // First, before any thread exists: threads inherit the blocked set, and a thread that did not
  // block SIGTERM (the QMP server's, libvirt's) would be picked to die of it.
  SignalWatcher signals;
  config::VmConfig cfg = args.config;
  bool no_reboot = args.no_reboot;
  if (!args.domain.empty()) {
    auto d = load_domain(args.domain);
    if (!d) return fail(d.error());
    for (const auto& w : d->warnings) std::fprintf(stderr, "corvid: warning: %s\n", w.c_str());
    const std::string qmp = cfg.qmp_socket;
    cfg = std::move(d->config);
    if (!qmp.empty()) cfg.qmp_socket = qmp;
    if (cfg.on_reboot == config::LifecycleAction::kDestroy) no_reboot = true;
  }
  if (auto v = config::validate_vm_config(cfg); !v) return fail(v.error());

  monitor::MachineControl control(cfg);
  std::unique_ptr<monitor::QmpServer> qmp;
  if (!cfg.qmp_socket.empty()) {
    auto opts = monitor::parse_qmp_option(cfg.qmp_socket);
    if (!opts) return fail(opts.error());
    auto started = monitor::QmpServer::start(*opts, control);
    if (!started) return fail(started.error());
    qmp = std::move(*started);
    control.set_event_sink(qmp.get());
  }
  auto serial = hw::CharBackend::open(serial_spec(cfg.serial));
  if (!serial) return fail(serial.error());
  // Ctrl-A X on the serial console is QEMU's qmp_quit(): the same path as QMP "quit".
  (*serial)->set_quit_handler([&control] { control.console_quit(); });
  hw::MachineOptions options = machine_options(cfg);
  options.dump_acpi = args.dump_acpi;
  for (size_t i = 0; i < options.drives.size(); ++i)
    options.drives[i].stats = control.drive_stats(i);
  // A guest reset rebuilds the machine; the RTC's time and CMOS RAM carry over, as on a PC.
  options.rtc_retained = std::make_shared<hw::CmosRtcRetained>();
  options.start_paused = args.start_paused;
  control.set_prelaunch(args.start_paused);
  std::unique_ptr<hw::GuestMemory> memory;
  int status = 1;
  for (int boot = 1;; ++boot) {
    auto machine = hw::Machine::create(options, std::move(memory), serial->get());
    if (!machine) {
      (*serial)->restore_terminal();
      status = fail(machine.error());
      break;
    }
    if (boot == 1) LOG_INFO("running on {}", (*machine)->accel_description());
    signals.set_machine(machine->get());
    control.set_machine(machine->get());
    hw::RunResult result = (*machine)->run();
    control.set_machine(nullptr);
    signals.set_machine(nullptr);
    const bool reboot = result.kind == hw::RunResult::Kind::kReset && !no_reboot;
    control.report(result, reboot);
    if (reboot) {
      LOG_INFO("guest reset: rebooting (boot {})", boot + 1);
      memory = (*machine)->take_memory();
      options.start_paused = false;  // -S holds the first boot only, as in QEMU
      continue;
    }
    (*serial)->restore_terminal();
    switch (result.kind) {
      case hw::RunResult::Kind::kPowerOff:
        LOG_INFO("guest powered off with status {}", result.status);
        status = result.status;
        break;
      case hw::RunResult::Kind::kReset:
        LOG_INFO("guest reset; --no-reboot: exiting");
        status = 0;
        break;
      case hw::RunResult::Kind::kHalted:
        LOG_WARN("{}", result.message);
        status = 0;
        break;
      case hw::RunResult::Kind::kQuit:
        // QEMU prints this for signals and exits 0; a QMP quit (status 0) is silent.
        if (result.status)
          std::fprintf(stderr, "corvid: terminating on signal %d\n", result.status);
        status = 0;
        break;
      case hw::RunResult::Kind::kError:
        std::fprintf(stderr, "corvid: %s\n", result.message.c_str());
        status = 1;
        break;
    }
    break;
  }
  if (qmp) qmp->stop();
  return status;
}

}  // namespace corvid::tools
