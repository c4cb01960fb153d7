// The in-kernel PIT, created on the guest's first access to it.
//
// Why: a VM's PIT costs little to create but its teardown (kvm_free_pit: two I/O bus
// unregistrations, the ack and mask notifiers, each waiting for an SRCU grace period, and the
// PIT's kthread) measured ~14 ms on nested hosts, most of a small guest's launch-to-exit time.
// An untouched 8254 never interrupts (KVM resets every channel to "not programmed", mode 0xff),
// so a PIT made at the first access behaves exactly like one made at boot.
//
// How: until the PIT exists its ports (0x40-0x43, and 0x61 for the speaker gate) exit to us. We
// create it, complete the exit without entering the guest (kvm_run.immediate_exit), put the
// registers back as they were before the instruction, and let the guest execute it again, now
// against the kernel's PIT. Whether RIP already points past the instruction depends on KVM's
// path: the VMX/SVM fast path and every IN advance RIP only on completion; the instruction
// emulator advances it for an OUT before exiting, so for that case the OUT is found by its
// encoding just before RIP (Intel SDM vol. 2B, OUT: E6 ib, E7 ib, EE, EF; 66h selects the other
// operand size).
#include <sys/ioctl.h>

#include <atomic>
#include <cstring>

#include "accel/kvm/kvm_vm.h"
#include "base/log.h"

namespace corvid::accel::kvm {
namespace {

bool is_pit_port(uint16_t port) {
  return (port >= 0x40 && port <= 0x43) || port == 0x61;
}

}  // namespace

Result<uint64_t> KvmVcpu::out_instruction_start(const kvm_regs& regs, uint16_t port,
                                                unsigned size) {
  kvm_sregs sregs{};
  if (ioctl(fd_.get(), KVM_GET_SREGS, &sregs) < 0) return errno_error("kvm: KVM_GET_SREGS");
  const bool long_mode = sregs.cs.l != 0;
  const unsigned default_size = (long_mode || sregs.cs.db) ? 4 : 2;
  // Linear address of the instruction's last byte and the ones before it.
  auto byte_before = [&](unsigned back) -> Result<uint8_t> {
    uint64_t linear = regs.rip - back;
    if (!long_mode) linear = (sregs.cs.base + linear) & 0xffffffffu;
    kvm_translation t{};
    t.linear_address = linear;
    if (ioctl(fd_.get(), KVM_TRANSLATE, &t) < 0) return errno_error("kvm: KVM_TRANSLATE");
    if (!t.valid) return errorf(EFAULT, "guest address {:#x} is not mapped", linear);
    return vm_->buses().memory->read_u8(t.physical_address);
  };
  unsigned len = 0;
  bool wide = false;  // E7/EF: a word or doubleword
  const uint8_t last = CORVID_TRY(byte_before(1));
  if (last == 0xee || last == 0xef) {
    if ((regs.rdx & 0xffff) != port) return errorf(EINVAL, "OUT DX with DX != {:#x}", port);
    len = 1;
    wide = last == 0xef;
  } else if (last == port) {
    const uint8_t op = CORVID_TRY(byte_before(2));
    if (op != 0xe6 && op != 0xe7) return errorf(EINVAL, "no OUT imm8 before RIP");
    len = 2;
    wide = op == 0xe7;
  } else {
    return errorf(EINVAL, "no OUT instruction ends at RIP");
  }
  if (wide != (size != 1)) return errorf(EINVAL, "OUT operand size does not match {}", size);
  if (wide && size != default_size) {
    if (CORVID_TRY(byte_before(len + 1)) != 0x66) return errorf(EINVAL, "no operand-size prefix");
    ++len;
  }
  return regs.rip - len;
}

Result<bool> KvmVcpu::route_to_in_kernel_pit() {
  kvm_run* run = run_state();
  const auto io = run->io;
  if (!is_pit_port(io.port)) return false;
  kvm_regs before{};
  if (ioctl(fd_.get(), KVM_GET_REGS, &before) < 0) return errno_error("kvm: KVM_GET_REGS");
  // With the PIT in place its ports no longer exit, except for an access that was on its way
  // while another vCPU created it: repeat that one too, but never the same one twice.
  if (vm_->pit_created() && before.rip == pit_replayed_rip_) return false;
  CORVID_TRY_VOID(vm_->ensure_pit());

  // Complete the exit without entering the guest; an IN reads all ones, overwritten below.
  if (io.direction == KVM_EXIT_IO_IN)
    std::memset(reinterpret_cast<uint8_t*>(run) + io.data_offset, 0xff, size_t{io.size} * io.count);
  std::atomic_ref<uint8_t>(run->immediate_exit).store(1);
  const int r = ioctl(fd_.get(), KVM_RUN, 0);
  const int err = errno;
  if (!stop_.load()) std::atomic_ref<uint8_t>(run->immediate_exit).store(0);
  if (r == 0 || (err != EINTR && err != EAGAIN))
    return errorf(r == 0 ? EIO : err, "kvm: completing PIT access at port {:#x} on vCPU {}",
                  io.port, index_);
  kvm_regs after{};
  if (ioctl(fd_.get(), KVM_GET_REGS, &after) < 0) return errno_error("kvm: KVM_GET_REGS");

  kvm_regs replay = before;
  if (after.rip == before.rip) {
    // Emulated OUT: completed before the exit, RIP is past it.
    Result<uint64_t> start = make_error(EINVAL, "a string instruction cannot be repeated");
    if (io.direction == KVM_EXIT_IO_OUT && io.count == 1)
      start = out_instruction_start(before, io.port, io.size);
    if (!start) {
      LOG_WARN("vcpu {}: PIT access at port {:#x} (rip {:#x}) lost: {}", index_, io.port,
               before.rip, start.error().to_string());
      return true;
    }
    replay.rip = *start;
  }
  pit_replayed_rip_ = replay.rip;
  if (ioctl(fd_.get(), KVM_SET_REGS, &replay) < 0) return errno_error("kvm: KVM_SET_REGS");
  return true;
}

}  // namespace corvid::accel::kvm
