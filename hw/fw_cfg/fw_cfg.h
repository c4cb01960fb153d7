// QEMU's firmware configuration device (fw_cfg), as QEMU's x86 boards expose it: a 16-bit selector
// at I/O port 0x510 and a byte-wide data port at 0x511 (QEMU docs/specs/fw_cfg.rst, "Selector
// (Control) Register" and "Data Register"). Guests written for QEMU read the CPU count and the RAM
// size from it (bare-metal test programs such as kvm-unit-tests, SeaBIOS-style firmware); corvid
// offers the legacy port interface only (ID bit 0; no DMA interface, no writable items).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "hw/core/io_bus.h"

namespace corvid::hw {

class FwCfg final : public IoHandler {
 public:
  static constexpr uint16_t kBasePort = 0x510, kPortCount = 2;
  // Selector keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h).
  static constexpr uint16_t kSignature = 0x00, kId = 0x01, kUuid = 0x02, kRamSize = 0x03,
                            kNoGraphic = 0x04, kNbCpus = 0x05, kNuma = 0x0d, kBootMenu = 0x0e,
                            kMaxCpus = 0x0f, kFileDir = 0x19;

  struct Config {
    uint64_t ram_bytes = 0;
    uint16_t cpus = 1;
  };
  explicit FwCfg(const Config& config);

  // Offset 0: selector (writes select an item and rewind it); offset 1: data (reads return the
  // item's next bytes, 0 past its end or for an unknown item; writes are ignored, as in QEMU).
  uint64_t io_read(uint64_t offset, unsigned size) override;
  void io_write(uint64_t offset, unsigned size, uint64_t value) override;

 private:
  std::mutex mutex_;
  std::map<uint16_t, std::vector<uint8_t>> items_;
  uint16_t selector_ = 0;
  size_t position_ = 0;
};

}  // namespace corvid::hw
