// The PCI host bridge: configuration mechanism #1 (ports 0xcf8/0xcfc, PCI Local Bus spec 3.0,
// 3.2.2.3.2), bus 0 only, with firmware-style BAR placement and INTx routing. It also decodes the
// reset control register at 0xcf9 (a byte access inside the conf1 range, as on Intel chipsets).
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "fdt/machine_description.h"
#include "hw/core/interrupts.h"
#include "hw/core/io_bus.h"
#include "hw/core/pci_device.h"
#include "hw/machine_events.h"

namespace corvid::hw {

class PciHost final : public IoHandler {
 public:
  static constexpr uint16_t kConfigPort = 0xcf8;
  static constexpr uint64_t kConfigPortLen = 8;

  // desc gives the BAR windows and INTx GSIs; devices are appended to desc.devices as they are
  // added. Buses and events are not owned.
  PciHost(IoBus* pio, IoBus* mmio, MachineEvents* events, fdt::PciHostDesc* desc);
  // Unregisters the BARs; touches no device (they may already be gone).
  ~PciHost() override;

  // Where the INTx lines end up. With a sink, each device drives its pin through the bridge,
  // which asserts a GSI while any device sharing it does (more than four devices share the four
  // lines); without one, devices signal their GSI directly. Set before add_device.
  void set_interrupt_sink(InterruptSink* sink) { sink_ = sink; }

  // Plugs a device into the next free slot (slot 0 is the host bridge itself), places its BARs,
  // enables decoding and routes its INTx pin. Returns the slot.
  Result<uint8_t> add_device(PciDevice* device);

  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

 private:
  struct Slot {
    PciDevice* device = nullptr;
    std::array<uint32_t, 6> bar_regs{};
    std::array<uint64_t, 6> mapped{};  // address registered on a bus, 0 = none
    std::array<bool, 6> mapped_io{};   // ... on the PIO bus (else MMIO)
    uint16_t command = 0;
  };
  // A slot's INTx pin: the wired-OR of every pin routed to the same GSI.
  struct IntxPin final : PciIntxPin {
    PciHost* host = nullptr;
    uint8_t slot = 0;
    uint32_t gsi = 0;
    void set_level(bool asserted) override { host->set_intx(slot, gsi, asserted); }
  };
  void set_intx(uint8_t slot, uint32_t gsi, bool asserted);
  uint32_t config_read(uint8_t slot, uint32_t reg, unsigned size);
  void config_write(uint8_t slot, uint32_t reg, unsigned size, uint32_t value);
  uint32_t read_dword(Slot& s, uint32_t reg);
  void write_dword(Slot& s, uint32_t reg, uint32_t value);
  void remap(Slot& s);
  uint64_t bar_address(const Slot& s, int i) const;

  IoBus* pio_;
  IoBus* mmio_;
  MachineEvents* events_;
  fdt::PciHostDesc* desc_;
  std::unique_ptr<PciDevice> bridge_;
  std::mutex mutex_;
  uint32_t address_ = 0;
  std::array<Slot, 32> slots_{};
  uint64_t next_mmio_, next_io_;
  InterruptSink* sink_ = nullptr;
  std::array<IntxPin, 32> pins_{};
  // Guards asserted_ only: pins are driven from device code holding the device's lock, which
  // must not wait for mutex_ (held while config writes call into devices).
  std::mutex intx_mutex_;
  std::map<uint32_t, uint32_t> asserted_;  // per INTx GSI: bit n set while slot n asserts it
};

}  // namespace corvid::hw
