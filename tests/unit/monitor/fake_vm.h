// A VmControl for monitor tests: records calls, keeps a run state, serves fixed devices.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "monitor/vm_control.h"

namespace corvid::monitor {

class FakeVm : public VmControl {
 public:
  std::string name() const override { return name_; }
  std::string uuid() const override { return uuid_; }
  bool kvm_enabled() const override { return false; }
  bool kvm_present() const override { return true; }
  RunState run_state() const override {
    std::lock_guard lock(mutex_);
    return state_;
  }
  std::vector<CpuInfo> cpus() const override {
    return {{.index = 0, .host_tid = 4242}, {.index = 1, .host_tid = 4243, .core_id = 1}};
  }
  std::vector<BlockInfo> block_devices() const override { return blocks_; }
  uint64_t memory_bytes() const override { return 128ull << 20; }

  Result<> pause() override { return record("pause", RunState::kPaused); }
  Result<> resume() override { return record("resume", RunState::kRunning); }
  Result<> reset() override { return record("reset", std::nullopt); }
  Result<> powerdown() override { return record("powerdown", std::nullopt); }
  void quit() override {
    (void)record("quit", RunState::kShutdown);
    quit_requested = true;
  }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  void set_state(RunState s) {
    std::lock_guard lock(mutex_);
    state_ = s;
  }

  std::string name_ = "fake";
  std::string uuid_ = "12345678-1234-1234-1234-123456789abc";
  std::vector<BlockInfo> blocks_;
  std::atomic<bool> quit_requested{false};
  bool fail_next_ = false;

 private:
  Result<> record(const char* what, std::optional<RunState> next) {
    std::lock_guard lock(mutex_);
    calls_.push_back(what);
    if (fail_next_) {
      fail_next_ = false;
      return errorf(0, "{} failed", what);
    }
    if (next) state_ = *next;
    return {};
  }

  mutable std::mutex mutex_;
  RunState state_ = RunState::kRunning;
  std::vector<std::string> calls_;
};

}  // namespace corvid::monitor
