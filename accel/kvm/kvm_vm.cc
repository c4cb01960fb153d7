#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstring>

#include "accel/kvm/kvm_abi.h"
#include "accel/kvm/kvm_accelerator.h"
#include "accel/kvm/kvm_vm.h"
#include "base/log.h"

namespace corvid::accel::kvm {
namespace {

// Below the 4 GiB boundary, above the IOAPIC/LAPIC and outside guest RAM: the three pages KVM
// needs for the real-mode TSS on Intel (KVM_SET_TSS_ADDR) and the page before it for the EPT
// identity map. Same placement as other VMMs use, so guests never see it as RAM.
constexpr uint64_t kTssAddr = 0xfffbd000;
constexpr uint64_t kIdentityMapAddr = 0xfffbc000;

struct Capability {
  int cap;
  const char* name;
  const char* why;
};
constexpr Capability kRequiredCaps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC/IOAPIC/LAPIC"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2", "in-kernel PIT"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", "GSI routing"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "x86 real-mode support"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "CPUID model"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs without races"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "virtqueue notifications"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "device interrupts"},
    {KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI", "MSI-X interrupts"},
};

Result<std::vector<kvm_cpuid_entry2>> supported_cpuid(int kvm_fd) {
  // 256 entries fit every CPU seen so far, so the (slow, when nested) ioctl normally runs once.
  for (uint32_t n = 256; n <= 4096; n *= 2) {
    auto buf = counted_buffer<kvm_cpuid_entry2>(kCpuid2Header, n);
    if (ioctl(kvm_fd, kGetSupportedCpuid, buf.data()) == 0)
      return buffer_items<kvm_cpuid_entry2>(buf, kCpuid2Header);
    if (errno != E2BIG) return errno_error("kvm: KVM_GET_SUPPORTED_CPUID");
  }
  return make_error(E2BIG, "kvm: KVM_GET_SUPPORTED_CPUID: too many entries");
}

Result<std::vector<uint32_t>> msr_index_list(int kvm_fd) {
  auto probe = counted_buffer<uint32_t>(kMsrListHeader, 0);
  if (ioctl(kvm_fd, kGetMsrIndexList, probe.data()) < 0 && errno != E2BIG)
    return errno_error("kvm: KVM_GET_MSR_INDEX_LIST");
  auto buf = counted_buffer<uint32_t>(kMsrListHeader, buffer_count(probe));
  if (ioctl(kvm_fd, kGetMsrIndexList, buf.data()) < 0)
    return errno_error("kvm: KVM_GET_MSR_INDEX_LIST");
  return buffer_items<uint32_t>(buf, kMsrListHeader);
}

}  // namespace

void KvmInterrupts::set_irq(uint32_t gsi, bool level) {
  kvm_irq_level irq{};
  irq.irq = gsi;
  irq.level = level ? 1 : 0;
  if (ioctl(vm_fd_, KVM_IRQ_LINE, &irq) < 0)
    LOG_WARN("kvm: KVM_IRQ_LINE gsi {}: {}", gsi, strerror(errno));
}

void KvmInterrupts::signal_msi(uint64_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  // Returns 0 when the interrupt was blocked by the guest (masked), > 0 when delivered.
  if (ioctl(vm_fd_, KVM_SIGNAL_MSI, &msi) < 0)
    LOG_WARN("kvm: KVM_SIGNAL_MSI {:#x}/{:#x}: {}", address, data, strerror(errno));
}

Result<> KvmVm::setup_platform() {
  if (ioctl(vm_.get(), KVM_SET_TSS_ADDR, kTssAddr) < 0) return errno_error("kvm: KVM_SET_TSS_ADDR");
  uint64_t identity = kIdentityMapAddr;
  if (ioctl(vm_.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
    return errno_error("kvm: KVM_SET_IDENTITY_MAP_ADDR");
  // The irqchip must exist before any vCPU so each gets an in-kernel LAPIC; its default GSI
  // routing maps GSI 0-15 to the PIC and IOAPIC and 16-23 to the IOAPIC.
  if (ioctl(vm_.get(), KVM_CREATE_IRQCHIP) < 0) return errno_error("kvm: KVM_CREATE_IRQCHIP");
  return {};
}

Result<> KvmVm::ensure_pit() {
  std::lock_guard lock(pit_mutex_);
  if (pit_created_.load(std::memory_order_relaxed)) return {};
  kvm_pit_config pit{};
  // Port 0x61 (speaker / PIT gate 2) handled in the kernel too: Linux polls it while calibrating.
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  if (ioctl(vm_.get(), KVM_CREATE_PIT2, &pit) < 0) return errno_error("kvm: KVM_CREATE_PIT2");
  pit_created_.store(true, std::memory_order_release);
  LOG_DEBUG("kvm: in-kernel PIT created on the guest's first access to it");
  return {};
}

KvmVm::~KvmVm() {
  // Nothing may outlive the VM fd it uses.
  if (memory_thread_.joinable()) memory_thread_.join();
}

Result<> KvmVm::attach(const MachineBuses& buses) {
  buses_ = buses;
  std::lock_guard lock(memory_mutex_);
  if (memory_thread_.joinable() || memory_result_)
    return make_error(EBUSY, "kvm: guest RAM is already attached");
  try {
    memory_thread_ = std::thread([this] {
      auto r = register_memory();
      {
        std::lock_guard done(memory_mutex_);
        memory_result_ = std::move(r);
      }
      memory_ready_.notify_all();
    });
  } catch (const std::system_error&) {
    // No thread to spare: register in place.
    memory_result_ = register_memory();
    return *memory_result_;
  }
  return {};
}

Result<> KvmVm::wait_for_memory() {
  std::unique_lock lock(memory_mutex_);
  if (!memory_thread_.joinable() && !memory_result_)
    return make_error(EINVAL, "kvm: no guest RAM attached");
  memory_ready_.wait(lock, [&] { return memory_result_.has_value(); });
  return *memory_result_;
}

Result<> KvmVm::register_memory() {
  uint32_t slot = 0;
  for (const auto& r : buses_.memory->regions()) {
    kvm_userspace_memory_region region{};
    region.slot = slot++;
    region.guest_phys_addr = r.gpa;
    region.memory_size = r.size;
    region.userspace_addr = reinterpret_cast<uint64_t>(r.host);
    if (ioctl(vm_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
      return errno_error("kvm: KVM_SET_USER_MEMORY_REGION slot {} [{:#x}, +{:#x})", region.slot,
                         r.gpa, r.size);
  }
  return {};
}

Result<> KvmVm::load_host_model() {
  std::lock_guard lock(host_model_mutex_);
  if (host_model_loaded_) return {};
  cpuid_ = CORVID_TRY(supported_cpuid(kvm_.get()));
  msr_index_ = CORVID_TRY(msr_index_list(kvm_.get()));
  host_model_loaded_ = true;
  return {};
}

Result<std::unique_ptr<Vcpu>> KvmVm::create_vcpu(int index) {
  if (index < 0 || index >= vcpus_)
    return errorf(EINVAL, "kvm: vCPU index {} outside 0..{}", index, vcpus_ - 1);
  CORVID_TRY_VOID(load_host_model());
  int fd = ioctl(vm_.get(), KVM_CREATE_VCPU, index);
  if (fd < 0) return errno_error("kvm: KVM_CREATE_VCPU {}", index);
  UniqueFd vcpu_fd(fd);
  auto run = Mapping::file(vcpu_fd.get(), static_cast<size_t>(run_size_), PROT_READ | PROT_WRITE,
                           MAP_SHARED);
  if (!run) return tl::unexpected(with_context(run.error(), "kvm: kvm_run"));
  auto vcpu = std::make_unique<KvmVcpu>(this, index, std::move(vcpu_fd), std::move(*run));
  CORVID_TRY_VOID(vcpu->configure(cpuid_));
  return std::unique_ptr<Vcpu>(std::move(vcpu));
}

namespace {
// KVM_IOEVENTFD assigns, or with KVM_IOEVENTFD_FLAG_DEASSIGN removes, a binding; a removal must
// name the same address, length, eventfd and flags as the assignment (KVM API, 4.59).
Result<> ioeventfd(int vm_fd, hw::IoSpace space, uint64_t addr, unsigned size, int eventfd,
                   bool assign) {
  kvm_ioeventfd io{};
  io.addr = addr;
  io.len = size;
  io.fd = eventfd;
  io.flags = (space == hw::IoSpace::kPio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
             (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN);
  if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
    return errno_error("kvm: KVM_IOEVENTFD {} {:#x}/{}", assign ? "at" : "removing", addr, size);
  return {};
}
}  // namespace

Result<> KvmVm::add_ioeventfd(hw::IoSpace space, uint64_t addr, unsigned size, int eventfd) {
  return ioeventfd(vm_.get(), space, addr, size, eventfd, true);
}

Result<> KvmVm::remove_ioeventfd(hw::IoSpace space, uint64_t addr, unsigned size, int eventfd) {
  return ioeventfd(vm_.get(), space, addr, size, eventfd, false);
}

Result<> KvmVm::add_irqfd(uint32_t gsi, int eventfd) {
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(eventfd);
  irqfd.gsi = gsi;
  if (ioctl(vm_.get(), KVM_IRQFD, &irqfd) < 0) return errno_error("kvm: KVM_IRQFD gsi {}", gsi);
  return {};
}

std::string KvmVm::describe() const {
  std::string leaves;
  {
    std::lock_guard lock(host_model_mutex_);
    if (host_model_loaded_) leaves = fmt::format(", {} CPUID leaves", cpuid_.size());
  }
  return fmt::format("kvm ({} vCPU{}, in-kernel irqchip, PIT on first use{})", vcpus_,
                     vcpus_ == 1 ? "" : "s", leaves);
}

bool KvmVm::supports_msr(uint32_t index) const {
  for (uint32_t m : msr_index_)
    if (m == index) return true;
  return false;
}

}  // namespace corvid::accel::kvm

namespace corvid::accel {

Result<std::unique_ptr<Accelerator>> create_kvm_accelerator(const AccelOptions& options) {
  const std::string& dev = options.kvm_device;
  int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
      return errorf(e,
                    "kvm: {} is absent: load the kvm_intel or kvm_amd module, and enable "
                    "virtualization in the firmware (or nested virtualization on the host)",
                    dev);
    if (e == EACCES || e == EPERM)
      return errorf(e,
                    "kvm: no permission to open {}: add the user to the 'kvm' group (or run "
                    "as root)",
                    dev);
    return errorf(e, "kvm: cannot open {}", dev);
  }
  UniqueFd kvm(fd);
  int version = ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (version < 0) return errno_error("kvm: {} is not a KVM device (KVM_GET_API_VERSION)", dev);
  if (version != KVM_API_VERSION)
    return errorf(EINVAL, "kvm: {} speaks API version {}, corvid needs {}", dev, version,
                  KVM_API_VERSION);
  for (const auto& c : kvm::kRequiredCaps) {
    if (ioctl(kvm.get(), KVM_CHECK_EXTENSION, c.cap) <= 0)
      return errorf(ENOTSUP, "kvm: the host kernel lacks {} (needed for {})", c.name, c.why);
  }
  int run_size = ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return errno_error("kvm: KVM_GET_VCPU_MMAP_SIZE");
  int max_vcpus = ioctl(kvm.get(), KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
  if (max_vcpus <= 0) max_vcpus = ioctl(kvm.get(), KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
  if (max_vcpus > 0 && options.vcpus > max_vcpus)
    return errorf(EINVAL, "kvm: {} vCPUs requested, the host allows {}", options.vcpus, max_vcpus);

  int vm_fd = ioctl(kvm.get(), KVM_CREATE_VM, 0);
  if (vm_fd < 0) {
    int e = errno;
    if (e == EBUSY || e == EIO)
      return errorf(e,
                    "kvm: KVM_CREATE_VM failed: hardware virtualization is in use by another "
                    "hypervisor or disabled");
    return errorf(e, "kvm: KVM_CREATE_VM");
  }
  auto vm = std::make_unique<kvm::KvmVm>(std::move(kvm), UniqueFd(vm_fd), options.vcpus, run_size);
  CORVID_TRY_VOID(vm->setup_platform());
  return std::unique_ptr<Accelerator>(std::move(vm));
}

}  // namespace corvid::accel
