// fw_cfg's port interface as QEMU-targeted guests read it: select with a 16-bit write to 0x510,
// then read bytes from 0x511.
#include "hw/fw_cfg/fw_cfg.h"

#include <gtest/gtest.h>

#include <string>

namespace corvid::hw {
namespace {

uint64_t read_le(FwCfg& cfg, uint16_t key, unsigned bytes) {
  cfg.io_write(0, 2, key);
  uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v |= cfg.io_read(1, 1) << (8 * i);
  return v;
}

TEST(FwCfg, SignatureAndIdSayPortInterfaceOnly) {
  FwCfg cfg({256ull << 20, 2});
  cfg.io_write(0, 2, FwCfg::kSignature);
  std::string sig;
  for (int i = 0; i < 4; ++i) sig += static_cast<char>(cfg.io_read(1, 1));
  EXPECT_EQ(sig, "QEMU");
  EXPECT_EQ(read_le(cfg, FwCfg::kId, 4), 1u);
}

TEST(FwCfg, RamSizeAndCpuCountAreLittleEndian) {
  FwCfg cfg({0x123456789ull, 3});
  EXPECT_EQ(read_le(cfg, FwCfg::kRamSize, 8), 0x123456789ull);
  EXPECT_EQ(read_le(cfg, FwCfg::kNbCpus, 2), 3u);
  EXPECT_EQ(read_le(cfg, FwCfg::kMaxCpus, 2), 3u);
}

TEST(FwCfg, SelectingRewindsAndReadsPastTheEndAreZero) {
  FwCfg cfg({128ull << 20, 4});
  EXPECT_EQ(read_le(cfg, FwCfg::kNbCpus, 2), 4u);
  EXPECT_EQ(cfg.io_read(1, 1), 0u);                // past the 2-byte item
  EXPECT_EQ(read_le(cfg, FwCfg::kNbCpus, 2), 4u);  // a new select starts over
}

TEST(FwCfg, UnknownItemsReadZeroAndWritesAreIgnored) {
  FwCfg cfg({128ull << 20, 1});
  EXPECT_EQ(read_le(cfg, 0x11, 8), 0u);
  EXPECT_EQ(read_le(cfg, 0x8003, 8), 0u);
  cfg.io_write(0, 2, FwCfg::kNbCpus);
  cfg.io_write(1, 1, 0x55);  // data-port writes do nothing (QEMU >= 2.4)
  EXPECT_EQ(cfg.io_read(1, 1), 1u);
  EXPECT_EQ(cfg.io_read(0, 2), 0u);  // the selector is write-only
}

TEST(FwCfg, WideDataReadsPutTheFirstByteHighest) {
  FwCfg cfg({0x0102ull, 1});
  cfg.io_write(0, 2, FwCfg::kRamSize);
  EXPECT_EQ(cfg.io_read(1, 2), 0x0201u);
}

}  // namespace
}  // namespace corvid::hw
