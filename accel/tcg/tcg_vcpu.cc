#include "accel/tcg/tcg_vcpu.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "accel/tcg/tcg_accelerator.h"
#include "base/log.h"
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
  hooks.eoi = [accel](uint8_t vector) { accel->eoi(vector); };
  lapic_ = std::make_unique<hw::Lapic>(static_cast<uint32_t>(index), std::move(hooks));
  cpu_ = std::make_unique<tcg::Cpu>(*this, this, index);
  cpu_->set_code_pages(&accel->code_pages());
}

TcgVcpu::~TcgVcpu() {
  accel_->vcpu_gone(this);
  const tcg::Statistics& st = cpu_->stats();
  LOG_DEBUG(
      "tcg vcpu{}: {} blocks translated, {} executed, {} main-loop passes, {} interrupt polls, "
      "{} TLB misses, {} TLB flushes, {} SMC invalidations, {} exceptions, {} interrupts",
      index_, st.blocks_translated, st.blocks_executed, st.main_loops, st.interrupt_polls,
      st.tlb_misses, st.tlb_flushes, st.smc_invalidations, st.exceptions, st.interrupts);
  if (const char* path = std::getenv("CORVID_TCG_PROFILE")) write_profile(path);
}

// CORVID_TCG_PROFILE=PREFIX: PREFIX.vcpuN gets "guest-address instructions" per translated block
// start (bench/tcg/guest_profile maps them to kernel symbols).
void TcgVcpu::write_profile(const std::string& prefix) {
  std::string path = fmt::format("{}.vcpu{}", prefix, index_);
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    LOG_WARN("tcg profile {}: {}", path, std::strerror(errno));
    return;
  }
  for (const auto& [vaddr, insns] : cpu_->profile()) fmt::print(f, "{:x} {}\n", vaddr, insns);
  std::fclose(f);
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

void TcgVcpu::post_nmi() {
  if (!lapic_->enabled()) return;
  cpu_->post_nmi();
  kick();
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
    bool ready = cpu_->nmi_pending() || has_interrupt();
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
  cpu_->nmi_pending_.store(false);  // NMIs are blocked in wait-for-SIPI (SDM Vol. 3 §8.4.1)
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

TcgVcpu::Unparked TcgVcpu::wait_parked(bool for_sipi) {
  accel_->park();
  for (;;) {
    int sipi = -1;
    // In wait-for-SIPI an INIT changes nothing (SDM Vol. 3 §8.4.4.1); halted with IF=0, INIT is
    // what ends the halt (the AP goes back to wait-for-SIPI), or an NMI (its handler runs).
    bool nmi = false;
    bool woke = accel_->unpark_if([&] {
      if (for_sipi) {
        lapic_->take_init();
        sipi = lapic_->take_sipi();
        return sipi >= 0;
      }
      if (cpu_->nmi_pending()) return nmi = true;
      return index_ != 0 && lapic_->take_init();
    });
    if (woke) {
      if (nmi) return Unparked::kNmi;
      if (!for_sipi) return Unparked::kInit;
      reset_to_sipi(static_cast<uint8_t>(sipi));
      started_ = true;
      return Unparked::kStarted;
    }
    std::unique_lock lock(mutex_);
    if (stop_) {
      stop_ = false;
      lock.unlock();
      accel_->unpark();
      return Unparked::kStop;
    }
    if (accel_->all_parked()) return Unparked::kAllParked;
    woken_ = false;
    cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return woken_ || stop_; });
  }
}

VcpuExit TcgVcpu::run() {
  const VcpuExit stopped{ExitReason::kStopRequested, 0, {}};
  const VcpuExit halted{ExitReason::kHalt, 0, {}};
  for (;;) {
    if (!started_) {
      Unparked u = wait_parked(true);
      if (u == Unparked::kStop) return stopped;
      if (u == Unparked::kAllParked) return halted;
    }
    tcg::CpuExit e = cpu_->run();
    switch (e.reason) {
      case tcg::CpuExitReason::kStop:
        return stopped;
      case tcg::CpuExitReason::kShutdown:
        return {ExitReason::kShutdown, 0, "tcg: " + e.message};
      case tcg::CpuExitReason::kInternalError:
        return {ExitReason::kInternalError, 0, "tcg: " + e.message};
      case tcg::CpuExitReason::kBudget:
        continue;
      case tcg::CpuExitReason::kHalt:
        if (!(cpu_->state().rflags & tcg::kFlagIf)) {
          // HLT with interrupts off (Linux's halt and stop_this_cpu): only INIT ends it.
          Unparked u = wait_parked(false);
          if (u == Unparked::kStop) return stopped;
          if (u == Unparked::kAllParked) return halted;
          if (u == Unparked::kNmi) continue;  // run() delivers it and leaves the halt
          cpu_->set_halted(false);
          started_ = false;  // INIT: back to wait-for-SIPI
          continue;
        }
        if (!wait_for_wakeup()) return stopped;
        continue;
    }
  }
}

uint8_t* TcgVcpu::ram_page(uint64_t gpa) {
  return accel_->buses().memory->host_ptr(gpa & ~0xfffull, 4096);
}

uint64_t TcgVcpu::mmio_read(uint64_t gpa, unsigned size) {
  uint64_t base = lapic_->apic_base() & ~0xfffull;
  if ((gpa & ~0xfffull) == base && lapic_->enabled()) return lapic_->io_read(gpa & 0xfff, size);
  uint64_t v = ~0ull;
  if (accel_->buses().mmio) accel_->buses().mmio->read(gpa, size, &v);
  return v;
}

void TcgVcpu::mmio_write(uint64_t gpa, unsigned size, uint64_t value) {
  uint64_t base = lapic_->apic_base() & ~0xfffull;
  if ((gpa & ~0xfffull) == base && lapic_->enabled()) {
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

unsigned TcgVcpu::cpu_count() {
  return accel_->vcpu_count();
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
