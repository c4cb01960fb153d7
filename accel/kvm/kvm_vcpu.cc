#include <signal.h>
#include <sys/ioctl.h>

#include <cstring>
#include <mutex>

#include "accel/kvm/kvm_abi.h"
#include "accel/kvm/kvm_cpuid.h"
#include "accel/kvm/kvm_vm.h"
#include "base/endian.h"
#include "base/log.h"

namespace corvid::accel::kvm {
namespace {

// The signal that kicks a vCPU thread out of KVM_RUN (EINTR). Installed without SA_RESTART and
// with an empty handler: its only job is to interrupt the ioctl; kvm_run.immediate_exit covers the
// window before the thread enters the kernel (KVM API doc, KVM_CAP_IMMEDIATE_EXIT).
int kick_signal() {
  return SIGRTMIN;
}

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sigaction(kick_signal(), &sa, nullptr);
  });
}

// MSRs and their reset values (Intel SDM vol. 3, table 9-1 "IA-32 and Intel 64 processor states
// following power-up, reset, or INIT"), plus MTRRs enabled with write-back as the default type so
// a guest that never programs MTRRs (our test guests, PVH kernels) does not run uncached.
struct MsrInit {
  uint32_t index;
  uint64_t value;
};
constexpr MsrInit kBootMsrs[] = {
    {0x10, 0},                // IA32_TIME_STAMP_COUNTER
    {0x174, 0},               // IA32_SYSENTER_CS
    {0x175, 0},               // IA32_SYSENTER_ESP
    {0x176, 0},               // IA32_SYSENTER_EIP
    {0xc0000081, 0},          // STAR
    {0xc0000082, 0},          // LSTAR
    {0xc0000083, 0},          // CSTAR
    {0xc0000084, 0},          // SFMASK
    {0xc0000102, 0},          // KERNEL_GS_BASE
    {0x1a0, 1},               // IA32_MISC_ENABLE: fast strings
    {0x2ff, (1u << 11) | 6},  // IA32_MTRR_DEF_TYPE: enabled, write-back
};

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool long_mode, bool db) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = db ? 1 : 0;
  s.s = 1;
  s.l = long_mode ? 1 : 0;
  s.g = 1;
  return s;
}

}  // namespace

Result<> KvmVcpu::configure(std::vector<kvm_cpuid_entry2> cpuid) {
  install_kick_handler();
  filter_cpuid(cpuid, index_, vm_->vcpu_count());
  auto buf = counted_buffer(kCpuid2Header, static_cast<uint32_t>(cpuid.size()), cpuid.data());
  if (ioctl(fd_.get(), kSetCpuid2, buf.data()) < 0)
    return errno_error("kvm: KVM_SET_CPUID2 on vCPU {}", index_);
  CORVID_TRY_VOID(set_msrs());
  // x87 and SSE control words at their FNINIT / reset values (SDM vol. 1, 8.1.5 and 10.2.3).
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  if (ioctl(fd_.get(), KVM_SET_FPU, &fpu) < 0)
    return errno_error("kvm: KVM_SET_FPU on vCPU {}", index_);
  return {};
}

Result<> KvmVcpu::set_msrs() {
  std::vector<kvm_msr_entry> entries;
  for (const auto& m : kBootMsrs) {
    if (!vm_->supports_msr(m.index)) continue;
    kvm_msr_entry e{};
    e.index = m.index;
    e.data = m.value;
    entries.push_back(e);
  }
  auto buf = counted_buffer(kMsrsHeader, static_cast<uint32_t>(entries.size()), entries.data());
  int set = ioctl(fd_.get(), kSetMsrs, buf.data());
  if (set < 0) return errno_error("kvm: KVM_SET_MSRS on vCPU {}", index_);
  if (static_cast<size_t>(set) != entries.size())
    return errorf(EINVAL, "kvm: vCPU {} refused MSR {:#x}", index_,
                  entries[static_cast<size_t>(set)].index);
  return {};
}

Result<> KvmVcpu::set_boot_state(const BootState& state) {
  kvm_sregs sregs{};
  if (ioctl(fd_.get(), KVM_GET_SREGS, &sregs) < 0) return errno_error("kvm: KVM_GET_SREGS");
  const bool long_mode = state.mode == BootState::Mode::kLong64;
  // Code: execute/read, accessed (type 0xb); data: read/write, accessed (type 0x3).
  sregs.cs = flat_segment(state.code_selector, 0xb, long_mode, !long_mode);
  kvm_segment data = flat_segment(state.data_selector, 0x3, false, true);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.gdt.base = state.gdt_base;
  sregs.gdt.limit = state.gdt_limit;
  sregs.cr0 = state.cr0;
  sregs.cr3 = state.cr3;
  sregs.cr4 = state.cr4;
  sregs.efer = state.efer;
  if (ioctl(fd_.get(), KVM_SET_SREGS, &sregs) < 0) return errno_error("kvm: KVM_SET_SREGS");

  kvm_regs regs{};
  regs.rflags = 0x2;  // bit 1 is reserved and always set; interrupts off
  regs.rip = state.rip;
  regs.rsp = state.rsp;
  regs.rsi = state.rsi;
  regs.rbx = state.rbx;
  regs.rax = state.rax;
  regs.rdi = state.rdi;
  if (ioctl(fd_.get(), KVM_SET_REGS, &regs) < 0) return errno_error("kvm: KVM_SET_REGS");
  return {};
}

// Where the vCPU was, for diagnosing guests that hang or crash (CORVID_LOG=debug).
void KvmVcpu::log_state(const char* why) {
  kvm_regs regs{};
  kvm_sregs sregs{};
  if (ioctl(fd_.get(), KVM_GET_REGS, &regs) < 0 || ioctl(fd_.get(), KVM_GET_SREGS, &sregs) < 0)
    return;
  LOG_DEBUG(
      "vcpu {} {}: rip={:#x} rsp={:#x} rflags={:#x} rax={:#x} cr0={:#x} cr3={:#x} cr4={:#x} "
      "efer={:#x} cs={:#x}",
      index_, why, regs.rip, regs.rsp, regs.rflags, regs.rax, sregs.cr0, sregs.cr3, sregs.cr4,
      sregs.efer, sregs.cs.selector);
}

void KvmVcpu::request_stop() {
  stop_.store(true);
  std::atomic_ref<uint8_t>(run_state()->immediate_exit).store(1);
  std::lock_guard lock(kick_mutex_);
  if (running_) pthread_kill(thread_, kick_signal());
}

void KvmVcpu::handle_io() {
  auto& io = run_state()->io;
  uint8_t* data = reinterpret_cast<uint8_t*>(run_state()) + io.data_offset;
  const hw::IoBus* bus = vm_->buses().pio;
  for (uint32_t i = 0; i < io.count; ++i, data += io.size) {
    if (io.direction == KVM_EXIT_IO_OUT) {
      uint64_t v = io.size == 1 ? data[0] : io.size == 2 ? load_le16(data) : load_le32(data);
      if (!bus->write(io.port, io.size, v))
        LOG_TRACE("vcpu {}: out {:#x} to unclaimed port {:#x}", index_, v, io.port);
    } else {
      uint64_t v = 0;
      if (!bus->read(io.port, io.size, &v))
        LOG_TRACE("vcpu {}: in from unclaimed port {:#x}", index_, io.port);
      if (io.size == 1)
        data[0] = static_cast<uint8_t>(v);
      else if (io.size == 2)
        store_le16(data, static_cast<uint16_t>(v));
      else
        store_le32(data, static_cast<uint32_t>(v));
    }
  }
}

void KvmVcpu::handle_mmio() {
  auto& mmio = run_state()->mmio;
  const hw::IoBus* bus = vm_->buses().mmio;
  const unsigned len = mmio.len;
  if (len == 0 || len > 8) return;
  if (mmio.is_write) {
    uint64_t v = 0;
    std::memcpy(&v, mmio.data, len);  // x86 hosts are little-endian, as is the guest
    if (!bus->write(mmio.phys_addr, len, v))
      LOG_TRACE("vcpu {}: write {:#x} to unclaimed MMIO {:#x}", index_, v, mmio.phys_addr);
  } else {
    uint64_t v = 0;
    if (!bus->read(mmio.phys_addr, len, &v))
      LOG_TRACE("vcpu {}: read from unclaimed MMIO {:#x}", index_, mmio.phys_addr);
    std::memcpy(mmio.data, &v, len);
  }
}

VcpuExit KvmVcpu::run() {
  {
    std::lock_guard lock(kick_mutex_);
    running_ = true;
    thread_ = pthread_self();
  }
  struct Done {
    KvmVcpu* self;
    ~Done() {
      std::lock_guard lock(self->kick_mutex_);
      self->running_ = false;
    }
  } done{this};

  if (!memory_ready_) {
    if (auto ready = vm_->wait_for_memory(); !ready)
      return {ExitReason::kInternalError, 0, ready.error().to_string()};
    memory_ready_ = true;
  }
  kvm_run* run = run_state();
  for (;;) {
    // A stop request is consumed here, so the next run() (after a pause) enters the guest again.
    if (stop_.exchange(false)) {
      std::atomic_ref<uint8_t>(run->immediate_exit).store(0);
      if (log_enabled(LogLevel::kDebug)) log_state("stopped");
      return {ExitReason::kStopRequested, 0, {}};
    }
    if (ioctl(fd_.get(), KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        // immediate_exit left over from a request already consumed: clear it, or KVM_RUN would
        // return at once forever. A new request sets stop_ before immediate_exit, so it is seen.
        if (!stop_.load()) std::atomic_ref<uint8_t>(run->immediate_exit).store(0);
        continue;
      }
      return {ExitReason::kInternalError, 0,
              fmt::format("kvm: KVM_RUN on vCPU {}: {}", index_, strerror(errno))};
    }
    switch (run->exit_reason) {
      case KVM_EXIT_IO: {
        auto pit = route_to_in_kernel_pit();
        if (!pit) return {ExitReason::kInternalError, 0, pit.error().to_string()};
        if (!*pit) handle_io();
        break;
      }
      case KVM_EXIT_MMIO:
        handle_mmio();
        break;
      case KVM_EXIT_INTR:
        break;
      case KVM_EXIT_HLT:
        return {ExitReason::kHalt, 0, {}};
      case KVM_EXIT_SHUTDOWN:
        if (log_enabled(LogLevel::kDebug)) log_state("shutdown");
        return {ExitReason::kShutdown, 0, fmt::format("vCPU {}: triple fault", index_)};
      case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
          case KVM_SYSTEM_EVENT_SHUTDOWN:
            return {ExitReason::kPowerOff, 0, {}};
          case KVM_SYSTEM_EVENT_RESET:
            return {ExitReason::kReset, 0, {}};
          default:
            return {ExitReason::kShutdown, 0,
                    fmt::format("vCPU {}: system event {}", index_, run->system_event.type)};
        }
      case KVM_EXIT_FAIL_ENTRY:
        return {
            ExitReason::kInternalError, 0,
            fmt::format("kvm: vCPU {} failed to enter the guest (hardware reason {:#x})", index_,
                        static_cast<uint64_t>(run->fail_entry.hardware_entry_failure_reason))};
      case KVM_EXIT_INTERNAL_ERROR:
        if (log_enabled(LogLevel::kDebug)) log_state("internal error");
        return {ExitReason::kInternalError, 0,
                fmt::format("kvm: internal error on vCPU {} (suberror {})", index_,
                            run->internal.suberror)};
      default:
        return {ExitReason::kInternalError, 0,
                fmt::format("kvm: vCPU {}: unhandled exit reason {}", index_, run->exit_reason)};
    }
  }
}

}  // namespace corvid::accel::kvm
