#include "accel/tcg/tcg_vcpu.h"

#include <algorithm>

#include "accel/tcg/tcg_accelerator.h"
#include "tcg/flags.h"

namespace corvid::accel {

TcgVcpu::TcgVcpu(TcgAccelerator* accel, int index)
    : accel_(accel), index_(index), started_(index == 0) {
  hw::Lapic::Hooks hooks;
  hooks.now_ns = [accel] { return accel->now_ns(); };
  hooks.kick = [this] { kick(); };
  hooks.ipi = [accel, index](uint32_t dest, uint32_t shorthand, hw::Lapic::DeliveryMode mode,
                             uint8_t vector, bool logical) {
    accel->ipi(index, dest, shorthand, mode, vector, logical);
  };
  hooks.eoi = [accel](uint8_t vector) { (void)accel, (void)vector; };
  lapic_ = std::make_unique<hw::Lapic>(static_cast<uint32_t>(index), std::move(hooks));
  cpu_ = std::make_unique<tcg::Cpu>(*this, this, index);
}

TcgVcpu::~TcgVcpu() {
  accel_->vcpu_gone(this);
}

Result<> TcgVcpu::set_boot_state(const BootState& b) {
  tcg::CpuState& s = cpu_->state();
  bool lm = b.mode == BootState::Mode::kLong64;
  s.rip = b.rip;
  s.gpr[4] = b.rsp;
  s.gpr[6] = b.rsi;
  s.gpr[3] = b.rbx;
  s.gpr[0] = b.rax;
  s.gpr[7] = b.rdi;
  s.cr0 = b.cr0 | tcg::kCr0Et;
  s.cr3 = b.cr3;
  s.cr4 = b.cr4;
  s.efer = b.efer | (lm ? (tcg::kEferLme | tcg::kEferLma) : 0);
  s.gdt_base = b.gdt_base;
  s.gdt_limit = b.gdt_limit;
  s.rflags = 2;
  s.cc_op = 0;
  for (auto& seg : s.seg) seg = tcg::Segment{0, 0xffffffff, 0xc093, b.data_selector};
  s.seg[tcg::kCs] = tcg::Segment{0, 0xffffffff, lm ? 0xa09bu : 0xc09bu, b.code_selector};
  cpu_->set_cpl(0);
  cpu_->state_changed();
  started_ = true;
  return {};
}

void TcgVcpu::kick() {
  cpu_->kick();
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

void TcgVcpu::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cpu_->request_stop();
  cv_.notify_all();
}

bool TcgVcpu::wait_for_wakeup() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stop_) {
      stop_ = false;
      return false;
    }
    lock.unlock();
    bool ready = has_interrupt() || (index_ != 0 && lapic_->take_init());
    uint64_t wait = lapic_->ns_until_timer();
    if (index_ == 0) wait = std::min(wait, accel_->poll_timers());
    lock.lock();
    if (ready) return true;
    woken_ = false;
    auto ns = std::chrono::nanoseconds(std::min<uint64_t>(wait, 50'000'000));
    cv_.wait_for(lock, ns, [&] { return woken_ || stop_; });
  }
}

void TcgVcpu::reset_to_sipi(uint8_t vector) {
  // Wait-for-SIPI ends in real mode at vector << 12 (SDM Vol. 3 §8.4.4.1).
  tcg::CpuState& s = cpu_->state();
  s = tcg::CpuState{};
  for (auto& seg : s.seg) seg = tcg::Segment{0, 0xffff, 0x93, 0};
  s.seg[tcg::kCs] = tcg::Segment{static_cast<uint64_t>(vector) << 12, 0xffff, 0x9b,
                                 static_cast<uint16_t>(vector << 8)};
  s.cr0 = tcg::kCr0Et;
  s.idt_limit = 0x3ff;
  s.rip = 0;
  cpu_->set_cpl(0);
  cpu_->state_changed();
  cpu_->flush_code();
}

bool TcgVcpu::wait_for_sipi() {
  for (;;) {
    int v = lapic_->take_sipi();
    if (v >= 0) {
      reset_to_sipi(static_cast<uint8_t>(v));
      started_ = true;
      return true;
    }
    std::unique_lock lock(mutex_);
    if (stop_) {
      stop_ = false;
      return false;
    }
    woken_ = false;
    cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return woken_ || stop_; });
  }
}

VcpuExit TcgVcpu::run() {
  for (;;) {
    if (!started_ && !wait_for_sipi()) return {ExitReason::kStopRequested, 0, {}};
    tcg::CpuExit e = cpu_->run();
    switch (e.reason) {
      case tcg::CpuExitReason::kStop:
        return {ExitReason::kStopRequested, 0, {}};
      case tcg::CpuExitReason::kShutdown:
        return {ExitReason::kShutdown, 0, "tcg: " + e.message};
      case tcg::CpuExitReason::kInternalError:
        return {ExitReason::kInternalError, 0, "tcg: " + e.message};
      case tcg::CpuExitReason::kBudget:
        continue;
      case tcg::CpuExitReason::kHalt:
        if (!(cpu_->state().rflags & tcg::kFlagIf) && index_ == 0) {
          cpu_->set_halted(false);
          return {ExitReason::kHalt, 0, {}};
        }
        if (!wait_for_wakeup()) return {ExitReason::kStopRequested, 0, {}};
        if (index_ != 0 && !(cpu_->state().rflags & tcg::kFlagIf)) {
          // An AP parked with cli; hlt: INIT sends it back to wait-for-SIPI.
          cpu_->set_halted(false);
          started_ = false;
        } else if (!(cpu_->state().rflags & tcg::kFlagIf)) {
          cpu_->set_halted(false);
        }
        continue;
    }
  }
}

uint8_t* TcgVcpu::ram_page(uint64_t gpa) {
  return accel_->buses().memory->host_ptr(gpa & ~0xfffull, 4096);
}

uint64_t TcgVcpu::mmio_read(uint64_t gpa, unsigned size) {
  uint64_t base = lapic_->apic_base() & ~0xfffull;
  if ((gpa & ~0xfffull) == base) return lapic_->io_read(gpa & 0xfff, size);
  uint64_t v = ~0ull;
  if (accel_->buses().mmio) accel_->buses().mmio->read(gpa, size, &v);
  return v;
}

void TcgVcpu::mmio_write(uint64_t gpa, unsigned size, uint64_t value) {
  uint64_t base = lapic_->apic_base() & ~0xfffull;
  if ((gpa & ~0xfffull) == base) {
    lapic_->io_write(gpa & 0xfff, size, value);
    return;
  }
  if (accel_->buses().mmio) accel_->buses().mmio->write(gpa, size, value);
}

uint64_t TcgVcpu::pio_read(uint16_t port, unsigned size) {
  uint64_t v = ~0ull;
  if (accel_->buses().pio) accel_->buses().pio->read(port, size, &v);
  return v;
}

void TcgVcpu::pio_write(uint16_t port, unsigned size, uint64_t value) {
  if (accel_->buses().pio) accel_->buses().pio->write(port, size, value);
}

uint64_t TcgVcpu::tsc() {
  return accel_->now_ns();
}

bool TcgVcpu::has_interrupt() {
  if (index_ == 0) {
    accel_->poll_timers();
    if (accel_->pic().has_interrupt()) return true;
  }
  return lapic_->has_interrupt();
}

int TcgVcpu::acknowledge() {
  if (lapic_->has_interrupt()) return lapic_->acknowledge();
  if (index_ == 0 && accel_->pic().has_interrupt()) return accel_->pic().acknowledge();
  return -1;
}

}  // namespace corvid::accel
