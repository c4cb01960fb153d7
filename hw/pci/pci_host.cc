#include "hw/pci/pci_host.h"

#include "base/log.h"
#include "hw/x86/mptable.h"

namespace corvid::hw {
namespace {

constexpr uint16_t kCmdIo = 0x1, kCmdMem = 0x2, kCmdMaster = 0x4;
constexpr uint32_t kRegCommand = 0x04, kRegBar0 = 0x10, kRegBar5End = 0x28, kRegRom = 0x30,
                   kRegIntLine = 0x3c;
constexpr uint8_t kResetCpu = 0x04;  // 0xcf9 bit 2: RST_CPU

// Device 00:00.0, so that Linux's conf1 sanity check (arch/x86/pci/direct.c: a host bridge or
// VGA class on bus 0) passes. Red Hat's generic PCIe host bridge ID, which no driver quirks.
class HostBridge final : public PciDevice {
 public:
  std::string name() const override { return "host-bridge"; }
  uint32_t config_read(uint32_t offset, unsigned size) override {
    uint32_t dword = 0;
    switch (offset & ~3u) {
      case 0x00:
        dword = 0x00081b36;
        break;  // device 0x0008, vendor 0x1b36
      case 0x08:
        dword = 0x06000000;
        break;  // class: bridge / host bridge, revision 0
      default:
        break;
    }
    return (dword >> ((offset & 3) * 8)) & (size == 4 ? ~0u : (1u << (size * 8)) - 1);
  }
  void config_write(uint32_t, unsigned, uint32_t) override {}
  PciBar bar(int) const override { return {}; }
  uint8_t interrupt_pin() const override { return 0; }
};

uint32_t bar_flags(const PciBar& b) {
  if (b.io) return 0x1;
  return (b.is64 ? 0x4u : 0u) | (b.prefetchable ? 0x8u : 0u);
}

}  // namespace

PciHost::PciHost(IoBus* pio, IoBus* mmio, MachineEvents* events, fdt::PciHostDesc* desc)
    : pio_(pio),
      mmio_(mmio),
      events_(events),
      desc_(desc),
      bridge_(std::make_unique<HostBridge>()),
      next_mmio_(desc->mmio32_base),
      next_io_(desc->io_base) {
  slots_[0].device = bridge_.get();
  slots_[0].command = kCmdMem | kCmdIo;
  desc_->present = true;
  desc_->devices.push_back({0, 0x1b36, 0x0008, "host-bridge"});
}

PciHost::~PciHost() {
  for (auto& s : slots_) {
    for (int i = 0; i < 6; ++i) {
      if (!s.mapped[i]) continue;
      (s.mapped_io[i] ? pio_ : mmio_)->remove(s.mapped[i]);
    }
  }
}

Result<uint8_t> PciHost::add_device(PciDevice* device) {
  std::lock_guard lock(mutex_);
  uint8_t slot = 1;
  while (slot < slots_.size() && slots_[slot].device) ++slot;
  if (slot == slots_.size()) return errorf(ENOSPC, "pci: no free slot for {}", device->name());
  Slot& s = slots_[slot];
  s.device = device;
  // Firmware duty: naturally aligned BARs from the windows. 64-bit BARs also go below 4 GiB so
  // guests that identity-map only the low 4 GiB reach them.
  for (int i = 0; i < 6; ++i) {
    PciBar b = device->bar(i);
    if (b.size == 0) continue;
    if (b.size & (b.size - 1))
      return errorf(EINVAL, "pci: {} BAR {} size {:#x} is not a power of two", device->name(), i,
                    b.size);
    uint64_t& next = b.io ? next_io_ : next_mmio_;
    const uint64_t end =
        b.io ? desc_->io_base + desc_->io_size : desc_->mmio32_base + desc_->mmio32_size;
    uint64_t addr = (next + b.size - 1) & ~(b.size - 1);
    if (addr + b.size > end)
      return errorf(ENOSPC, "pci: no room for {} BAR {} ({:#x} bytes)", device->name(), i, b.size);
    next = addr + b.size;
    s.bar_regs[i] = static_cast<uint32_t>(addr) | bar_flags(b);
    if (!b.io && b.is64) {
      if (i == 5) return errorf(EINVAL, "pci: {} has a 64-bit BAR 5", device->name());
      s.bar_regs[++i] = static_cast<uint32_t>(addr >> 32);
    }
  }
  s.command = kCmdIo | kCmdMem | kCmdMaster;
  remap(s);
  const uint8_t pin = device->interrupt_pin();
  if (pin >= 1 && pin <= 4) {
    uint32_t gsi = x86::pci_intx_gsi(*desc_, slot, pin);
    device->config_write(kRegIntLine, 1, gsi);
    device->set_intx_gsi(gsi);
    if (sink_) {
      pins_[slot] = IntxPin{};
      pins_[slot].host = this;
      pins_[slot].slot = slot;
      pins_[slot].gsi = gsi;
      device->set_intx_pin(&pins_[slot]);
    }
  }
  uint32_t id = device->config_read(0, 4);
  desc_->devices.push_back(
      {slot, static_cast<uint16_t>(id), static_cast<uint16_t>(id >> 16), device->name()});
  return slot;
}

void PciHost::set_intx(uint8_t slot, uint32_t gsi, bool asserted) {
  std::lock_guard lock(intx_mutex_);
  uint32_t& line = asserted_[gsi];
  const uint32_t before = line;
  if (asserted)
    line |= 1u << slot;
  else
    line &= ~(1u << slot);
  // Only a change of the OR reaches the interrupt controller: a second device asserting a line
  // that is already high, or one of two releasing it, is invisible to the IOAPIC.
  if ((before != 0) != (line != 0)) sink_->set_irq(gsi, line != 0);
}

uint64_t PciHost::bar_address(const Slot& s, int i) const {
  PciBar b = s.device->bar(i);
  if (b.io) return s.bar_regs[i] & ~0x3u;
  uint64_t addr = s.bar_regs[i] & ~0xfu;
  if (b.is64 && i < 5) addr |= uint64_t{s.bar_regs[i + 1]} << 32;
  return addr;
}

// Registers each BAR where its register points when decoding for its space is on; removes stale
// registrations. A BAR being sized (all ones) or overlapping something is left unmapped.
void PciHost::remap(Slot& s) {
  for (int i = 0; i < 6; ++i) {
    PciBar b = s.device->bar(i);
    if (b.size == 0) continue;
    IoBus* bus = b.io ? pio_ : mmio_;
    const bool enabled = s.command & (b.io ? kCmdIo : kCmdMem);
    uint64_t want = enabled ? bar_address(s, i) : 0;
    if (want + b.size < want || (b.io && want + b.size > 0x10000)) want = 0;
    if (want != s.mapped[i]) {
      if (s.mapped[i]) bus->remove(s.mapped[i]);
      s.mapped[i] = 0;
      if (want && b.handler) {
        auto added =
            bus->add(want, b.size, b.handler, s.device->name() + " BAR" + std::to_string(i));
        if (added) {
          s.mapped[i] = want;
          s.mapped_io[i] = b.io;
        } else {
          LOG_DEBUG("pci: {}", added.error().to_string());
        }
      }
      s.device->bar_mapped(i, s.mapped[i]);
    }
    if (!b.io && b.is64) ++i;
  }
}

uint32_t PciHost::read_dword(Slot& s, uint32_t reg) {
  if (reg >= kRegBar0 && reg < kRegBar5End) return s.bar_regs[(reg - kRegBar0) / 4];
  if (reg == kRegRom) return 0;  // no expansion ROM
  uint32_t v = s.device->config_read(reg, 4);
  if (reg == kRegCommand) v = (v & 0xffff0000u) | s.command;
  return v;
}

void PciHost::write_dword(Slot& s, uint32_t reg, uint32_t value) {
  if (reg >= kRegBar0 && reg < kRegBar5End) {
    const int i = static_cast<int>((reg - kRegBar0) / 4);
    // Find which BAR this register belongs to (the high half of a 64-bit BAR is i-1's).
    if (i > 0) {
      PciBar lo = s.device->bar(i - 1);
      if (lo.size && !lo.io && lo.is64) {
        s.bar_regs[i] = value & static_cast<uint32_t>(~(lo.size - 1) >> 32);
        remap(s);
        return;
      }
    }
    PciBar b = s.device->bar(i);
    if (b.size == 0) return;  // unimplemented BAR: reads as 0
    const uint64_t mask = ~(b.size - 1);
    s.bar_regs[i] = (value & static_cast<uint32_t>(mask) & (b.io ? ~0x3u : ~0xfu)) | bar_flags(b);
    remap(s);
    return;
  }
  if (reg == kRegRom) return;
  if (reg == kRegCommand) {
    s.command = static_cast<uint16_t>(value & 0x0507);  // I/O, memory, master, SERR, INTx disable
    remap(s);
  }
  s.device->config_write(reg, 4, value);
}

uint32_t PciHost::config_read(uint8_t slot, uint32_t reg, unsigned size) {
  Slot& s = slots_[slot];
  if (!s.device) return ~0u;
  const uint32_t base = reg & ~3u, shift = (reg & 3) * 8;
  uint32_t v;
  if ((base >= kRegBar0 && base < kRegBar5End) || base == kRegRom || base == kRegCommand)
    v = read_dword(s, base) >> shift;
  else
    return s.device->config_read(reg, size);
  return size == 4 ? v : v & ((1u << (size * 8)) - 1);
}

void PciHost::config_write(uint8_t slot, uint32_t reg, unsigned size, uint32_t value) {
  Slot& s = slots_[slot];
  if (!s.device) return;
  const uint32_t base = reg & ~3u, shift = (reg & 3) * 8;
  if ((base >= kRegBar0 && base < kRegBar5End) || base == kRegRom || base == kRegCommand) {
    if (size == 4) {
      write_dword(s, base, value);
    } else if (base == kRegCommand && shift == 0) {
      // A 16-bit command write must not touch the device's status register.
      s.command = static_cast<uint16_t>(value & 0x0507);
      remap(s);
      s.device->config_write(reg, size, value);
    } else {
      const uint32_t mask = ((1u << (size * 8)) - 1) << shift;
      uint32_t old = read_dword(s, base);
      if (base == kRegCommand) old &= 0xffff;  // status bits are write-1-to-clear: never echo them
      write_dword(s, base, (old & ~mask) | ((value << shift) & mask));
    }
    return;
  }
  s.device->config_write(reg, size, value);
}

uint64_t PciHost::io_read(uint64_t offset, unsigned size) {
  std::lock_guard lock(mutex_);
  if (offset == 0 && size == 4) return address_;
  if (offset < 4) return offset == 1 && size == 1 ? 0 : ~0u;
  // 0xcfc..0xcff: data window for the register selected by 0xcf8.
  if (!(address_ & 0x80000000u)) return ~0u;
  const uint8_t bus = (address_ >> 16) & 0xff, dev = (address_ >> 11) & 0x1f,
                fn = (address_ >> 8) & 0x7;
  if (bus != 0 || fn != 0) return size == 4 ? ~0u : (1u << (size * 8)) - 1;
  const uint32_t reg = (address_ & 0xfc) | static_cast<uint32_t>(offset - 4);
  return config_read(dev, reg, size);
}

void PciHost::io_write(uint64_t offset, unsigned size, uint64_t value) {
  std::unique_lock lock(mutex_);
  if (offset == 0 && size == 4) {
    address_ = static_cast<uint32_t>(value);
    return;
  }
  if (offset == 1 && size == 1) {
    if (value & kResetCpu) {
      lock.unlock();
      events_->request_reset();
    }
    return;
  }
  if (offset < 4 || !(address_ & 0x80000000u)) return;
  const uint8_t bus = (address_ >> 16) & 0xff, dev = (address_ >> 11) & 0x1f,
                fn = (address_ >> 8) & 0x7;
  if (bus != 0 || fn != 0) return;
  const uint32_t reg = (address_ & 0xfc) | static_cast<uint32_t>(offset - 4);
  config_write(dev, reg, size, static_cast<uint32_t>(value));
}

}  // namespace corvid::hw
