#include "hw/machine_devices.h"

#include <cstdlib>

#include "block/image.h"
#include "block/stats.h"
#include "fdt/fdt_builder.h"
#include "hw/machine_options.h"
#include "hw/pci/pci_host.h"
#include "hw/x86/memory_map.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/mmio_transport.h"
#include "virtio/pci_transport.h"
#include "virtio/rng.h"

namespace corvid::hw {
namespace {

// virtio-mmio devices take GSIs 16.. and must stay clear of the PCI INTx lines (20..23).
constexpr uint32_t kMaxMmioDevices = x86::kPciIntxFirstGsi - x86::kVirtioMmioFirstGsi;

Result<block::CacheMode> cache_mode(const std::string& s) {
  if (s == "writeback" || s.empty()) return block::CacheMode::kWriteback;
  if (s == "writethrough") return block::CacheMode::kWritethrough;
  if (s == "none") return block::CacheMode::kNone;
  if (s == "directsync") return block::CacheMode::kDirectSync;
  if (s == "unsafe") return block::CacheMode::kUnsafe;
  return errorf(EINVAL, "unknown cache mode '{}'", s);
}

}  // namespace

struct MachineDevices::State {
  // Destroyed in reverse: transports (which own the devices and disks) go first.
  std::vector<std::unique_ptr<virtio::PciTransport>> pci;
  std::vector<std::unique_ptr<virtio::MmioTransport>> mmio;
  std::vector<std::string> cmdline;  // virtio_mmio.device= entries for the guest
};

MachineDevices::MachineDevices() = default;
MachineDevices::~MachineDevices() = default;
MachineDevices::MachineDevices(MachineDevices&&) noexcept = default;
MachineDevices& MachineDevices::operator=(MachineDevices&&) noexcept = default;

Result<> MachineDevices::build(const Context& ctx, const MachineOptions& options) {
  state_ = std::make_unique<State>();
  virtio::DeviceServices svc;
  svc.memory = ctx.memory;
  svc.interrupts = ctx.interrupts;
  svc.loop = ctx.loop;
  accel::Accelerator* accel = ctx.accel;
  // CORVID_NO_IOEVENTFD=1 sends queue notifications through the IoBus instead (for debugging
  // and for measuring what ioeventfd saves).
  const bool ioeventfd = getenv("CORVID_NO_IOEVENTFD") == nullptr;
  svc.add_ioeventfd = [accel, ioeventfd](IoSpace space, uint64_t addr, unsigned size,
                                         int fd) -> Result<> {
    if (!ioeventfd) return make_error(ENOTSUP, "ioeventfd disabled by CORVID_NO_IOEVENTFD");
    return accel->add_ioeventfd(space, addr, size, fd);
  };
  svc.remove_ioeventfd = [accel](IoSpace space, uint64_t addr, unsigned size, int fd) {
    return accel->remove_ioeventfd(space, addr, size, fd);
  };
  // Shared INTx lines are the OR of every function on them: the bridge drives the GSIs.
  ctx.pci->set_interrupt_sink(ctx.interrupts);

  auto attach = [&](std::unique_ptr<virtio::VirtioDevice> dev, bool mmio) -> Result<> {
    const uint32_t type = dev->device_id();
    const std::string name = dev->name();
    if (!mmio) {
      auto t = CORVID_TRY(virtio::make_virtio_pci(std::move(dev), svc));
      CORVID_TRY_VOID(ctx.pci->add_device(t.get()));
      state_->pci.push_back(std::move(t));
      return {};
    }
    const uint32_t i = static_cast<uint32_t>(state_->mmio.size());
    if (i >= kMaxMmioDevices)
      return errorf(ENOSPC, "{}: at most {} virtio-mmio devices", name, kMaxMmioDevices);
    const uint64_t base = x86::kVirtioMmioBase + i * x86::kVirtioMmioStride;
    const uint32_t gsi = x86::kVirtioMmioFirstGsi + i;
    auto t = CORVID_TRY(virtio::make_virtio_mmio(std::move(dev), svc, base, gsi));
    CORVID_TRY_VOID(ctx.mmio->add(base, virtio::MmioTransport::kWindowSize, t.get(),
                                  fmt::format("virtio-mmio{}", i)));
    ctx.desc->virtio_mmio.push_back({base, virtio::MmioTransport::kWindowSize, gsi, type});
    // The syntax of Linux's virtio_mmio.device= (drivers/virtio/virtio_mmio.c), which our PVH
    // guests also read.
    state_->cmdline.push_back(fmt::format("virtio_mmio.device={}@{:#x}:{}",
                                          virtio::MmioTransport::kWindowSize, base, gsi));
    state_->mmio.push_back(std::move(t));
    return {};
  };

  for (const auto& d : options.drives) {
    block::OpenOptions oo;
    oo.read_only = d.read_only;
    oo.format = d.format;
    oo.aio = d.aio == "threads" ? block::AioMode::kThreads : block::AioMode::kIoUring;
    auto cache = cache_mode(d.cache);
    if (!cache) return tl::unexpected(with_context(cache.error(), "--drive file=" + d.file));
    oo.cache = *cache;
    auto disk = block::open_image(d.file, oo);
    if (!disk) return tl::unexpected(with_context(disk.error(), "--drive file=" + d.file));
    if (d.stats) *disk = block::make_counting_device(std::move(*disk), d.stats);
    virtio::BlkConfig bc;
    bc.serial = d.serial;
    bc.num_queues = d.num_queues;
    bc.stats = d.stats;
    auto blk = virtio::make_virtio_blk(svc, std::move(*disk), bc);
    if (!blk) return tl::unexpected(with_context(blk.error(), "--drive file=" + d.file));
    CORVID_TRY_VOID(attach(std::move(*blk), d.mmio));
  }
  if (options.virtio_rng) CORVID_TRY_VOID(attach(CORVID_TRY(virtio::make_virtio_rng(svc)), false));
  if (options.virtio_console)
    CORVID_TRY_VOID(attach(CORVID_TRY(virtio::make_virtio_console(svc, 0, 1)), false));
  return {};
}

std::string MachineDevices::cmdline_additions() const {
  std::string s;
  if (!state_) return s;
  for (const auto& c : state_->cmdline) s += (s.empty() ? "" : " ") + c;
  return s;
}

Result<std::vector<uint8_t>> MachineDevices::encode_device_tree(
    const fdt::MachineDescription& desc) {
  return fdt::build_fdt(desc);
}

}  // namespace corvid::hw
