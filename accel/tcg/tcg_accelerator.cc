#include "accel/tcg/tcg_accelerator.h"

#include <algorithm>

#include "accel/tcg/tcg_vcpu.h"
#include "base/log.h"

namespace corvid::accel {

TcgAccelerator::TcgAccelerator(const AccelOptions& options)
    : vcpu_count_(static_cast<unsigned>(std::max(1, options.vcpus))),
      start_(std::chrono::steady_clock::now()),
      ioapic_([this](uint32_t dest, bool logical, uint8_t vector, bool level) {
        deliver(dest, logical, vector, level);
      }),
      pit_([this] { return now_ns(); }, [this](bool level) { set_irq(0, level); }) {}

TcgAccelerator::~TcgAccelerator() {
  // The machine's RAM outlives its accelerator (and is kept across a reset): stop it calling us.
  if (buses_.memory) buses_.memory->set_dma_write_observer(nullptr);
}

std::string TcgAccelerator::describe() const {
  return "tcg (corvid translator: interpreter, userspace LAPIC/IOAPIC/PIC/PIT)";
}

uint64_t TcgAccelerator::now_ns() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now() - start_)
                                   .count()) +
         1;
}

Result<> TcgAccelerator::attach(const MachineBuses& buses) {
  buses_ = buses;
  // Device DMA (virtio completions, io_uring reads straight into RAM) bypasses the vCPUs' store
  // slow path: the devices report what they wrote so translated code on those pages is dropped
  // before the guest can see the completion and jump to the new code (issue 7).
  if (buses.memory) {
    buses.memory->set_dma_write_observer(
        [this](uint64_t gpa, uint64_t len) { code_pages_.notify_write(gpa, len, -1); });
  }
  struct Reg {
    hw::IoBus* bus;
    uint64_t base, len;
    hw::IoHandler* h;
    const char* name;
  };
  Reg regs[] = {
      {buses.mmio, hw::Ioapic::kBase, 0x1000, &ioapic_, "ioapic"},
      {buses.pio, 0x20, 2, &pic_.master, "pic-master"},
      {buses.pio, 0xa0, 2, &pic_.slave, "pic-slave"},
      {buses.pio, 0x40, 4, &pit_, "pit"},
      // NMI status and control: PIT channel 2's gate and output (Linux's PIT calibration).
      {buses.pio, 0x61, 1, &pit_.port61, "pit-port61"},
  };
  for (const Reg& r : regs) {
    if (!r.bus) continue;
    if (auto res = r.bus->add(r.base, r.len, r.h, r.name); !res) {
      // The board may already model a device there; keep its.
      LOG_WARN("tcg: {} not registered: {}", r.name, res.error().to_string());
    }
  }
  return {};
}

Result<std::unique_ptr<Vcpu>> TcgAccelerator::create_vcpu(int index) {
  if (!buses_.memory) return make_error(EINVAL, "tcg: create_vcpu before attach");
  auto v = std::make_unique<TcgVcpu>(this, index);
  std::lock_guard lock(vcpus_mutex_);
  if (vcpus_.size() <= static_cast<size_t>(index)) vcpus_.resize(index + 1, nullptr);
  vcpus_[index] = v.get();
  return std::unique_ptr<Vcpu>(std::move(v));
}

void TcgAccelerator::vcpu_gone(TcgVcpu* v) {
  std::lock_guard lock(vcpus_mutex_);
  for (auto& p : vcpus_) {
    if (p == v) p = nullptr;
  }
}

void TcgAccelerator::park() {
  std::lock_guard lock(vcpus_mutex_);
  ++parked_;
  check_all_parked_locked();
}

bool TcgAccelerator::unpark_if(const std::function<bool()>& wake) {
  std::lock_guard lock(vcpus_mutex_);
  if (!wake()) {
    // wake() may have consumed an INIT that held the census back.
    check_all_parked_locked();
    return false;
  }
  --parked_;
  return true;
}

void TcgAccelerator::check_all_parked_locked() {
  if (all_parked_) return;
  int present = 0;
  for (TcgVcpu* v : vcpus_) {
    if (!v) continue;
    ++present;
    if (v->lapic().startup_pending()) return;
  }
  if (parked_ < present) return;
  all_parked_ = true;
  for (TcgVcpu* v : vcpus_) {
    if (v) v->kick();
  }
}

void TcgAccelerator::unpark() {
  std::lock_guard lock(vcpus_mutex_);
  --parked_;
}

void TcgAccelerator::set_irq(uint32_t gsi, bool level) {
  ioapic_.set_irq(gsi, level);
  if (gsi < 16) {
    pic_.set_irq(gsi, level);
    std::lock_guard lock(vcpus_mutex_);
    if (!vcpus_.empty() && vcpus_[0]) vcpus_[0]->kick();
  }
}

void TcgAccelerator::signal_msi(uint64_t address, uint32_t data) {
  // MSI address/data format (SDM Vol. 3 §11.11): destination ID in address[19:12], DM in bit 2.
  deliver(static_cast<uint32_t>((address >> 12) & 0xff), address & 4,
          static_cast<uint8_t>(data & 0xff), false);
}

void TcgAccelerator::deliver(uint32_t dest, bool logical, uint8_t vector, bool level) {
  std::lock_guard lock(vcpus_mutex_);
  for (TcgVcpu* v : vcpus_) {
    if (!v) continue;
    hw::Lapic& l = v->lapic();
    bool match = logical ? l.matches_logical(dest) : (dest == 0xff || dest == l.id());
    if (match) {
      l.accept(vector, level);
      if (!logical || dest != 0xff) {
        if (!logical) break;
      }
    }
  }
}

void TcgAccelerator::ipi(int from, uint32_t dest, uint32_t shorthand, hw::Lapic::DeliveryMode mode,
                         uint8_t vector, bool logical) {
  std::lock_guard lock(vcpus_mutex_);
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    TcgVcpu* v = vcpus_[i];
    if (!v) continue;
    bool self = static_cast<int>(i) == from;
    bool match;
    switch (shorthand) {
      case 1:
        match = self;
        break;
      case 2:
        match = true;
        break;
      case 3:
        match = !self;
        break;
      default:
        match =
            logical ? v->lapic().matches_logical(dest) : (dest == 0xff || dest == v->lapic().id());
    }
    if (!match) continue;
    switch (mode) {
      case hw::Lapic::DeliveryMode::kInit:
        v->lapic().post_init();
        v->kick();
        break;
      case hw::Lapic::DeliveryMode::kStartup:
        v->lapic().post_sipi(vector);
        v->kick();
        break;
      case hw::Lapic::DeliveryMode::kFixed:
      case hw::Lapic::DeliveryMode::kLowest:
        v->lapic().accept(vector, false);
        break;
      case hw::Lapic::DeliveryMode::kNmi:
        v->post_nmi();  // the vector field is ignored: NMI is vector 2 (SDM Vol. 3 §11.6.1)
        break;
      default:
        break;  // SMI, ExtINT: not modelled
    }
  }
}

Result<std::unique_ptr<Accelerator>> create_tcg_accelerator(const AccelOptions& options) {
  return std::unique_ptr<Accelerator>(std::make_unique<TcgAccelerator>(options));
}

}  // namespace corvid::accel
