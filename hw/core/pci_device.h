// A device on corvid's PCI host bridge (conf1 at 0xcf8/0xcfc, and optionally ECAM). The bridge owns
// bus/device numbering and BAR placement; the device owns its config space contents and BAR I/O.
#pragma once

#include <cstdint>
#include <string>

#include "hw/core/io_bus.h"

namespace corvid::hw {

struct PciBar {
  uint64_t size = 0;  // power of two, 0 = unused
  bool io = false;    // I/O space BAR (else memory)
  bool is64 = true;   // 64-bit memory BAR (takes two slots)
  bool prefetchable = false;
  IoHandler* handler = nullptr;  // receives accesses at offsets within the BAR
};

// The bridge's end of a device's INTx pin. PCI interrupt lines are shared, level-triggered and
// wired-OR (PCI Local Bus 3.0, 2.2.6): the bridge keeps the GSI asserted while any device on it
// asserts its pin, so a device must drive its pin through this, not the GSI directly.
class PciIntxPin {
 public:
  virtual ~PciIntxPin() = default;
  virtual void set_level(bool asserted) = 0;
};

class PciDevice {
 public:
  virtual ~PciDevice() = default;
  virtual std::string name() const = 0;
  // Config space accesses (offset < 4096, size 1/2/4). The bridge handles BAR registers through
  // bars() and the command register; everything else is the device's.
  virtual uint32_t config_read(uint32_t offset, unsigned size) = 0;
  virtual void config_write(uint32_t offset, unsigned size, uint32_t value) = 0;
  virtual PciBar bar(int index) const = 0;  // 0..5
  // Called by the bridge when the guest moves or enables/disables a BAR (addr 0 = unmapped).
  virtual void bar_mapped(int index, uint64_t addr) { (void)index, (void)addr; }
  // The INTx pin (1 = INTA) or 0 for none; the bridge routes it to a GSI and tells the device.
  virtual uint8_t interrupt_pin() const { return 1; }
  virtual void set_intx_gsi(uint32_t gsi) { (void)gsi; }
  // The pin object the bridge drives the device's line through (null: none; then the device
  // signals set_intx_gsi's GSI itself). Outlives the device's use of it.
  virtual void set_intx_pin(PciIntxPin* pin) { (void)pin; }
};

}  // namespace corvid::hw
