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

namespace corvid::tools {
namespace {

// SIGINT/SIGTERM/SIGHUP are blocked in every thread and collected here, so a signal stops the VM
// in order (vCPUs out, terminal restored, images closed) instead of killing the process mid-write.
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
    thread_.join();
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
      if (sig <= 0) continue;
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

}  // namespace

int run_vm(const RunArgs& args) {
  if (args.verbose && !log_enabled(LogLevel::kInfo)) set_log_level(LogLevel::kInfo);
  if (auto v = config::validate_vm_config(args.config); !v) {
    std::fprintf(stderr, "corvid: %s\n", v.error().to_string().c_str());
    return 1;
  }
  auto serial = hw::CharBackend::open(serial_spec(args.config.serial));
  if (!serial) {
    std::fprintf(stderr, "corvid: %s\n", serial.error().to_string().c_str());
    return 1;
  }
  SignalWatcher signals;
  const hw::MachineOptions options = machine_options(args.config);
  std::unique_ptr<hw::GuestMemory> memory;
  for (int boot = 1;; ++boot) {
    auto machine = hw::Machine::create(options, std::move(memory), serial->get());
    if (!machine) {
      (*serial)->restore_terminal();
      std::fprintf(stderr, "corvid: %s\n", machine.error().to_string().c_str());
      return 1;
    }
    if (boot == 1) LOG_INFO("running on {}", (*machine)->accel_description());
    signals.set_machine(machine->get());
    hw::RunResult result = (*machine)->run();
    signals.set_machine(nullptr);
    switch (result.kind) {
      case hw::RunResult::Kind::kPowerOff:
        LOG_INFO("guest powered off with status {}", result.status);
        return result.status;
      case hw::RunResult::Kind::kReset:
        if (args.no_reboot) {
          LOG_INFO("guest reset; --no-reboot: exiting");
          return 0;
        }
        LOG_INFO("guest reset: rebooting (boot {})", boot + 1);
        memory = (*machine)->take_memory();
        continue;
      case hw::RunResult::Kind::kHalted:
        LOG_WARN("{}", result.message);
        return 0;
      case hw::RunResult::Kind::kQuit:
        (*serial)->restore_terminal();
        std::fprintf(stderr, "corvid: terminating on signal %d\n", result.status);
        return 0;
      case hw::RunResult::Kind::kError:
        (*serial)->restore_terminal();
        std::fprintf(stderr, "corvid: %s\n", result.message.c_str());
        return 1;
    }
  }
}

}  // namespace corvid::tools
