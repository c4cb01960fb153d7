#include "hw/machine.h"

#include <cpuid.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/size.h"
#include "hw/acpi/acpi_registers.h"
#include "hw/acpi/tables.h"
#include "hw/boot/boot_image.h"
#include "hw/char/serial8250.h"
#include "hw/fw_cfg/fw_cfg.h"
#include "hw/machine_devices.h"
#include "hw/misc/debug_exit.h"
#include "hw/misc/i8042.h"
#include "hw/pci/pci_host.h"
#include "hw/rtc/cmos_rtc.h"
#include "hw/testdev/pc_testdev.h"
#include "hw/x86/memory_map.h"
#include "hw/x86/mptable.h"
#include "hw/x86/reset_vector.h"

namespace corvid::hw {
namespace {

constexpr uint16_t kCom1 = 0x3f8;
constexpr uint32_t kCom1Gsi = 4;
constexpr uint64_t kMinMemory = 2ull << 20;

Result<std::vector<uint8_t>> read_file(const std::string& path, const char* what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("{} {}", what, path);
  UniqueFd owner(fd);
  struct stat st {};
  if (fstat(fd, &st) < 0) return errno_error("{} {}", what, path);
  if (!S_ISREG(st.st_mode)) return errorf(EINVAL, "{} {}: not a regular file", what, path);
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("{} {}: read", what, path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

// --dump-acpi DIR: each table as DIR/<signature>.dat, the names `iasl -d` expects.
Result<> dump_acpi(const acpi::AcpiTables& tables, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) return errno_error("--dump-acpi {}", dir);
  for (const auto& t : tables.tables) {
    std::string name = t.signature;
    for (char& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    const std::string path = dir + "/" + name + ".dat";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno_error("--dump-acpi {}", path);
    UniqueFd out(fd);
    const uint8_t* p = tables.blob.data() + (t.address - tables.base);
    if (::write(fd, p, t.length) != static_cast<ssize_t>(t.length))
      return errno_error("--dump-acpi {}: write", path);
  }
  return {};
}

}  // namespace

struct Machine::Impl {
  std::unique_ptr<Serial8250> serial;
  std::unique_ptr<DebugExit> debug_exit;
  std::unique_ptr<I8042> i8042;
  std::unique_ptr<CmosRtc> rtc;
  std::unique_ptr<FwCfg> fw_cfg;
  std::unique_ptr<PcTestdev> testdev;
  std::unique_ptr<PciHost> pci;
  std::unique_ptr<acpi::AcpiRegisters> acpi;
  MachineDevices devices;  // virtio devices and their disks
  std::vector<std::thread> vcpu_threads;
  std::thread io_thread;
};

Result<std::unique_ptr<Machine>> Machine::create(const MachineOptions& options,
                                                 std::unique_ptr<GuestMemory> memory,
                                                 CharBackend* serial) {
  std::unique_ptr<Machine> m(new Machine(options));
  CORVID_TRY_VOID(m->build(std::move(memory), serial));
  return m;
}

Machine::Machine(const MachineOptions& options)
    : options_(options), pause_requested_(options.start_paused) {}

Machine::~Machine() {
  stop_vcpus();
  if (impl_) {
    for (auto& t : impl_->vcpu_threads)
      if (t.joinable()) t.join();
    if (loop_) loop_->stop();
    if (impl_->io_thread.joinable()) impl_->io_thread.join();
    if (serial_) serial_->stop_input();
    if (impl_->rtc) impl_->rtc->stop_timer();
    // The bridge lets go of its devices' BARs first; devices go before the loop they registered
    // with (virtio's lifetime rule).
    impl_->pci.reset();
    impl_->devices = MachineDevices();
  }
}

Result<> Machine::build(std::unique_ptr<GuestMemory> memory, CharBackend* serial) {
  const MachineOptions& o = options_;
  if (o.memory_bytes < kMinMemory)
    return errorf(EINVAL, "memory size {} is too small (at least {})", format_size(o.memory_bytes),
                  format_size(kMinMemory));
  if (o.memory_bytes & 0xfff)
    return errorf(EINVAL, "memory size {} is not a multiple of 4 KiB", o.memory_bytes);
  if (o.vcpus < 1 || o.vcpus > 254)
    return errorf(EINVAL, "{} vCPUs: corvid supports 1 to 254", o.vcpus);

  accel::AccelOptions ao;
  ao.requested = o.accel;
  ao.vcpus = o.vcpus;
  accel_ = CORVID_TRY(accel::create_accelerator(ao));

  const x86::RamLayout layout = x86::ram_layout(o.memory_bytes);
  if (memory) {
    memory_ = std::move(memory);
  } else {
    memory_ = std::make_unique<GuestMemory>();
    CORVID_TRY_VOID(memory_->add_ram(0, layout.low_size));
    if (layout.high_size) CORVID_TRY_VOID(memory_->add_ram(x86::kFourGiB, layout.high_size));
  }
  CORVID_TRY_VOID(accel_->attach({memory_.get(), &pio_, &mmio_}));
  loop_ = CORVID_TRY(EventLoop::create());

  desc_.memory = x86::e820_map(layout);
  desc_.cpus = o.vcpus;
  desc_.cmdline = o.cmdline;
  desc_.uarts.push_back({kCom1, kCom1Gsi, 1843200});
  auto& pci = desc_.pci;
  pci.mmio32_base = x86::kPciMmio32Base;
  pci.mmio32_size = x86::kPciMmio32Size;
  pci.io_base = x86::kPciIoBase;
  pci.io_size = x86::kPciIoSize;
  for (uint32_t i = 0; i < 4; ++i) pci.intx_gsis.push_back(x86::kPciIntxFirstGsi + i);
  auto& hw = desc_.acpi;
  hw.block_base = x86::kAcpiRegisters;
  hw.block_size = acpi::AcpiRegisters::kSize;
  hw.ged_event = x86::kAcpiRegisters + acpi::AcpiRegisters::kGedEvent;
  hw.ged_gsi = x86::kAcpiGedGsi;
  hw.sleep_control = x86::kAcpiRegisters + acpi::AcpiRegisters::kSleepControl;
  hw.sleep_status = x86::kAcpiRegisters + acpi::AcpiRegisters::kSleepStatus;
  hw.reset = x86::kAcpiRegisters + acpi::AcpiRegisters::kReset;
  hw.reset_value = acpi::AcpiRegisters::kResetValue;
  // The GED's interrupt is level-triggered on an ISA line: both the MP table and the MADT say so.
  desc_.isa_irq_overrides.push_back({static_cast<uint8_t>(x86::kAcpiGedGsi), x86::kAcpiGedGsi,
                                     /*level=*/true, /*active_low=*/false});

  CORVID_TRY_VOID(build_devices(serial));
  CORVID_TRY_VOID(load(o.kernel));

  for (int i = 0; i < o.vcpus; ++i) vcpus_.push_back(CORVID_TRY(accel_->create_vcpu(i)));
  return {};
}

Result<> Machine::build_devices(CharBackend* serial) {
  impl_ = std::make_unique<Impl>();
  serial_ = serial;
  auto* irq = accel_->interrupts();
  impl_->serial = std::make_unique<Serial8250>(serial, irq, kCom1Gsi);
  CORVID_TRY_VOID(pio_.add(kCom1, 8, impl_->serial.get(), "serial0"));
  CORVID_TRY_VOID(serial->start_input(
      loop_.get(), [s = impl_->serial.get()](std::span<const uint8_t> b) { s->receive(b); }));
  impl_->debug_exit = std::make_unique<DebugExit>(this);
  CORVID_TRY_VOID(pio_.add(desc_.debug_exit_port, 4, impl_->debug_exit.get(), "debug-exit"));
  impl_->i8042 = std::make_unique<I8042>(this, irq);
  CORVID_TRY_VOID(pio_.add(I8042::kDataPort, 1, impl_->i8042->data(), "i8042-data"));
  CORVID_TRY_VOID(pio_.add(I8042::kCommandPort, 1, impl_->i8042->command(), "i8042-command"));
  const x86::RamLayout layout = x86::ram_layout(options_.memory_bytes);
  impl_->rtc =
      std::make_unique<CmosRtc>(CmosRtc::Config{layout.low_size, layout.high_size, options_.vcpus,
                                                options_.rtc_retained.get()},
                                irq);
  CORVID_TRY_VOID(pio_.add(CmosRtc::kBasePort, CmosRtc::kPortCount, impl_->rtc.get(), "rtc"));
  CORVID_TRY_VOID(impl_->rtc->start_timer(loop_.get()));
  impl_->fw_cfg = std::make_unique<FwCfg>(
      FwCfg::Config{options_.memory_bytes, static_cast<uint16_t>(options_.vcpus)});
  CORVID_TRY_VOID(pio_.add(FwCfg::kBasePort, FwCfg::kPortCount, impl_->fw_cfg.get(), "fw_cfg"));
  // QEMU's pc-testdev, beside debug-exit: the two devices bare-metal CPU test programs expect.
  impl_->testdev = std::make_unique<PcTestdev>(irq);
  auto* td = impl_->testdev.get();
  CORVID_TRY_VOID(pio_.add(PcTestdev::kDataPort, 4, td->data(), "pc-testdev"));
  CORVID_TRY_VOID(pio_.add(PcTestdev::kFlushPort, 4, td->flush(), "pc-testdev-flush"));
  CORVID_TRY_VOID(pio_.add(PcTestdev::kBytePort, 4, td->data(), "pc-testdev-byte"));
  CORVID_TRY_VOID(
      pio_.add(PcTestdev::kIrqBase, PcTestdev::kIrqLines, td->irq_lines(), "pc-testdev-irq"));
  CORVID_TRY_VOID(
      mmio_.add(PcTestdev::kIomemBase, PcTestdev::kIomemSize, td->iomem(), "pc-testdev-iomem"));
  // What the FADT (IAPC_BOOT_ARCH, CENTURY) and the DSDT (PNP0B00, PNP0303) announce.
  desc_.legacy.cmos_rtc = true;
  desc_.legacy.rtc_century = CmosRtc::kCenturyIndex;
  desc_.legacy.i8042 = true;
  impl_->pci = std::make_unique<PciHost>(&pio_, &mmio_, this, &desc_.pci);
  CORVID_TRY_VOID(
      pio_.add(PciHost::kConfigPort, PciHost::kConfigPortLen, impl_->pci.get(), "pci-conf1"));

  impl_->acpi = std::make_unique<acpi::AcpiRegisters>(this, irq, desc_.acpi.ged_gsi);
  CORVID_TRY_VOID(
      mmio_.add(desc_.acpi.block_base, desc_.acpi.block_size, impl_->acpi.get(), "acpi-registers"));

  MachineDevices::Context ctx{memory_.get(),    irq,   loop_.get(), accel_.get(), &mmio_,
                              impl_->pci.get(), &desc_};
  CORVID_TRY_VOID(impl_->devices.build(ctx, options_));
  return {};
}

Result<> Machine::load(const std::string& kernel_path) {
  if (kernel_path.empty()) return make_error(EINVAL, "no kernel given (--kernel FILE)");
  auto kernel = CORVID_TRY(read_file(kernel_path, "kernel"));
  std::vector<uint8_t> initrd;
  if (!options_.initrd.empty()) initrd = CORVID_TRY(read_file(options_.initrd, "initrd"));

  // Like QEMU's microvm, name the virtio-mmio devices on the command line: the PVH guests and
  // Linux (with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES) find them there; the FDT describes them too.
  std::string cmdline = options_.cmdline;
  if (std::string extra = impl_->devices.cmdline_additions(); !extra.empty())
    cmdline += (cmdline.empty() ? "" : " ") + extra;
  desc_.cmdline = cmdline;
  dtb_ = CORVID_TRY(MachineDevices::encode_device_tree(desc_));
  if (!options_.dump_dtb.empty()) {
    int fd = ::open(options_.dump_dtb.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno_error("--dump-dtb {}", options_.dump_dtb);
    UniqueFd out(fd);
    if (::write(fd, dtb_.data(), dtb_.size()) != static_cast<ssize_t>(dtb_.size()))
      return errno_error("--dump-dtb {}: write", options_.dump_dtb);
  }

  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __get_cpuid(1, &eax, &ebx, &ecx, &edx);
  auto mp = CORVID_TRY(x86::encode_mptable(desc_, eax, edx));
  CORVID_TRY_VOID(x86::write_mptable(*memory_, mp));

  auto tables = CORVID_TRY(acpi::build_acpi_tables(desc_, x86::kAcpiTables, x86::kAcpiTablesEnd));
  CORVID_TRY_VOID(memory_->write(tables.base, tables.blob.data(), tables.blob.size()));
  if (!options_.dump_acpi.empty()) CORVID_TRY_VOID(dump_acpi(tables, options_.dump_acpi));
  CORVID_TRY_VOID(x86::write_reset_vector(*memory_));

  boot::BootInputs in;
  in.rsdp_addr = tables.rsdp;
  in.kernel = kernel;
  in.kernel_name = kernel_path;
  in.cmdline = cmdline;
  in.initrd = initrd;
  in.initrd_name = options_.initrd;
  in.dtb = dtb_;
  in.e820 = desc_.memory;
  in.low_ram_top = x86::low_ram_top(x86::ram_layout(options_.memory_bytes));
  auto loaded = boot::load_kernel(*memory_, in);
  if (!loaded) return tl::unexpected(with_context(loaded.error(), "kernel " + kernel_path));
  LOG_INFO("loaded {} kernel [{:#x}, {:#x}), entry {:#x}", loaded->format, loaded->kernel_start,
           loaded->kernel_end, loaded->state.rip);
  boot_state_ = loaded->state;
  return {};
}

void Machine::finish(RunResult result) {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;  // the first event wins
    finished_ = true;
    result_ = std::move(result);
  }
  cv_.notify_all();
  stop_vcpus();
}

void Machine::stop_vcpus() {
  for (auto& v : vcpus_) v->request_stop();
}

void Machine::request_power_off(int status) {
  finish({RunResult::Kind::kPowerOff, status, {}});
}
void Machine::request_reset() {
  finish({RunResult::Kind::kReset, 0, {}});
}
void Machine::request_quit(int signal) {
  finish({RunResult::Kind::kQuit, signal, {}});
}
Result<> Machine::request_power_button() {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return make_error(ECANCELED, "the VM has already stopped");
  }
  impl_->acpi->press_power_button();
  return {};
}

void Machine::pause() {
  std::unique_lock lock(mutex_);
  if (finished_ || pause_requested_) return;
  pause_requested_ = true;
  lock.unlock();
  stop_vcpus();
  lock.lock();
  cv_.wait(lock, [&] {
    return finished_ || vcpus_parked_ + vcpus_halted_ == static_cast<int>(vcpus_.size());
  });
}

void Machine::resume() {
  std::lock_guard lock(mutex_);
  pause_requested_ = false;
  cv_.notify_all();
}

bool Machine::paused() const {
  std::lock_guard lock(mutex_);
  return pause_requested_;
}

std::vector<int> Machine::vcpu_thread_ids() const {
  std::lock_guard lock(mutex_);
  std::vector<int> tids = vcpu_tids_;
  tids.resize(vcpus_.size());
  return tids;
}

void Machine::vcpu_thread(int index) {
  accel::Vcpu& vcpu = *vcpus_[static_cast<size_t>(index)];
  {
    std::lock_guard lock(mutex_);
    if (vcpu_tids_.size() < vcpus_.size()) vcpu_tids_.resize(vcpus_.size());
    vcpu_tids_[static_cast<size_t>(index)] = static_cast<int>(gettid());
  }
  // Started paused (-S): park before the first guest instruction.
  if (!park_while_paused()) return;
  for (;;) {
    accel::VcpuExit exit = vcpu.run();
    switch (exit.reason) {
      case accel::ExitReason::kStopRequested:
        if (!park_while_paused()) return;
        continue;
      case accel::ExitReason::kHalt: {
        // Only accelerators without an in-kernel irqchip report this: HLT with nothing that can
        // wake the vCPU. When every vCPU is there, the guest is done.
        std::unique_lock lock(mutex_);
        if (++vcpus_halted_ == static_cast<int>(vcpus_.size())) {
          lock.unlock();
          finish({RunResult::Kind::kHalted, 0, "every vCPU halted with interrupts disabled"});
        }
        return;
      }
      case accel::ExitReason::kShutdown:
        // A triple fault resets a PC (and QEMU); --no-reboot turns that into an exit.
        LOG_INFO("{}: resetting", exit.message);
        request_reset();
        return;
      case accel::ExitReason::kReset:
        request_reset();
        return;
      case accel::ExitReason::kPowerOff:
        request_power_off(exit.status);
        return;
      case accel::ExitReason::kInternalError:
        finish({RunResult::Kind::kError, 0, exit.message});
        return;
    }
  }
}

bool Machine::park_while_paused() {
  std::unique_lock lock(mutex_);
  if (finished_) return false;
  if (!pause_requested_) return true;
  ++vcpus_parked_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return finished_ || !pause_requested_; });
  --vcpus_parked_;
  return !finished_;
}

RunResult Machine::run() {
  // The boot vCPU starts at the kernel's entry; the others wait in the in-kernel LAPIC for
  // INIT/SIPI (or, under the translator, in its LAPIC model).
  if (auto r = vcpus_[0]->set_boot_state(boot_state_); !r)
    return {RunResult::Kind::kError, 0, r.error().to_string()};
  impl_->io_thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "corvid-io");
    if (auto r = loop_->run(); !r) finish({RunResult::Kind::kError, 0, r.error().to_string()});
  });
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    impl_->vcpu_threads.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), fmt::format("corvid-vcpu{}", i).c_str());
      vcpu_thread(static_cast<int>(i));
    });
  }
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return finished_; });
  }
  stop_vcpus();
  for (auto& t : impl_->vcpu_threads) t.join();
  impl_->vcpu_threads.clear();
  loop_->stop();
  impl_->io_thread.join();
  LOG_INFO("guest RAM resident: {} KiB of {} KiB", memory_->resident_bytes() >> 10,
           memory_->ram_size() >> 10);
  std::lock_guard lock(mutex_);
  return result_;
}

}  // namespace corvid::hw
