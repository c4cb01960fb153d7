// The transports (virtio-mmio §4.2, virtio-pci §4.1) and the device core behind them: register
// layouts, feature negotiation, interrupts, and what a hostile driver gets (a broken device).
#include <gtest/gtest.h>

#include <tuple>

#include "base/endian.h"
#include "virtio/mmio_transport.h"
#include "virtio/pci_transport.h"
#include "virtio/rng.h"
#include "virtio_test_support.h"

namespace corvid::virtio {
namespace {

using testing::DriverRing;
using testing::MmioDriver;
using testing::TestVm;

constexpr uint64_t kBase = 0xd0000000;
constexpr uint32_t kGsi = 16;
constexpr uint64_t kBuf = 0x100000;

class MmioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dev = make_virtio_rng(vm.services());
    ASSERT_TRUE(dev.has_value());
    auto t = make_virtio_mmio(std::move(*dev), vm.services(), kBase, kGsi);
    ASSERT_TRUE(t.has_value());
    transport = std::move(*t);
    drv = std::make_unique<MmioDriver>(*transport);
    ring = std::make_unique<DriverRing>(vm.memory, 0x10000, 8);
  }
  void bring_up(uint64_t features = kFeatureVersion1) {
    ASSERT_TRUE(drv->negotiate(features));
    drv->setup_queue(0, *ring);
    drv->driver_ok();
  }
  TestVm vm;
  std::unique_ptr<MmioTransport> transport;
  std::unique_ptr<MmioDriver> drv;
  std::unique_ptr<DriverRing> ring;
};

TEST_F(MmioTest, RegistersIdentifyAVersion2Device) {
  EXPECT_EQ(drv->read(0x000), 0x74726976u);
  EXPECT_EQ(drv->read(0x004), 2u);
  EXPECT_EQ(drv->read(0x008), 4u);  // entropy
  drv->write(0x014, 1);
  EXPECT_EQ(drv->read(0x010), 1u);  // VIRTIO_F_VERSION_1 is bit 32
  drv->write(0x030, 0);
  EXPECT_EQ(drv->read(0x034), 256u);
  drv->write(0x030, 1);
  EXPECT_EQ(drv->read(0x034), 0u);              // no queue 1
  EXPECT_EQ(transport->io_read(0x000, 2), 0u);  // registers take 32-bit accesses only
}

TEST_F(MmioTest, FeaturesOkNeedsVersion1AndOfferedBitsOnly) {
  EXPECT_FALSE(drv->negotiate(0));
  EXPECT_FALSE(drv->negotiate(kFeatureVersion1 | (1ull << 40)));
  EXPECT_TRUE(drv->negotiate(kFeatureVersion1 | kFeatureRingEventIdx));
  EXPECT_EQ(transport->device().negotiated_features(), kFeatureVersion1 | kFeatureRingEventIdx);
}

TEST_F(MmioTest, UsedBufferRaisesLevelInterruptUntilAcknowledged) {
  bring_up();
  ring->set_desc(0, kBuf, 64, kDescFlagWrite);
  ring->make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(ring->used_idx(), 1);
  EXPECT_EQ(ring->used_elem(0), std::make_pair(0u, 64u));
  EXPECT_EQ(drv->read(0x060), 1u);
  EXPECT_TRUE(vm.sink.level(kGsi));
  drv->write(0x064, 1);
  EXPECT_EQ(drv->read(0x060), 0u);
  EXPECT_FALSE(vm.sink.level(kGsi));
}

TEST_F(MmioTest, NothingIsProcessedBeforeDriverOk) {
  ASSERT_TRUE(drv->negotiate(kFeatureVersion1));
  drv->setup_queue(0, *ring);
  ring->set_desc(0, kBuf, 64, kDescFlagWrite);
  ring->make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(ring->used_idx(), 0);
  drv->driver_ok();  // buffers made available earlier are used now
  vm.run_io();
  EXPECT_EQ(ring->used_idx(), 1);
}

TEST_F(MmioTest, HostileChainBreaksDeviceUntilReset) {
  bring_up();
  ring->set_desc(0, kBuf, 64, kDescFlagWrite | kDescFlagNext, 1);
  ring->set_desc(1, kBuf, 64, kDescFlagWrite | kDescFlagNext, 0);  // loop
  ring->make_available(0);
  drv->notify(0);
  vm.run_io();
  // §2.1.2: DEVICE_NEEDS_RESET plus a configuration change notification; nothing was used.
  EXPECT_TRUE(drv->status() & kStatusNeedsReset);
  EXPECT_EQ(drv->read(0x060), 2u);
  EXPECT_TRUE(vm.sink.level(kGsi));
  EXPECT_EQ(ring->used_idx(), 0);
  EXPECT_TRUE(transport->device().broken());
  // The driver cannot clear the bit by writing status; further kicks are ignored.
  drv->write(0x070, drv->status() & ~kStatusNeedsReset);
  EXPECT_TRUE(drv->status() & kStatusNeedsReset);
  ring->set_desc(2, kBuf, 64, kDescFlagWrite);
  ring->make_available(2);
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(ring->used_idx(), 0);

  // A reset brings it back (§2.4); the interrupt line drops with the status.
  drv->write(0x070, 0);
  EXPECT_EQ(drv->status(), 0u);
  EXPECT_FALSE(vm.sink.level(kGsi));
  DriverRing fresh(vm.memory, 0x20000, 8);
  ASSERT_TRUE(drv->negotiate(kFeatureVersion1));
  drv->setup_queue(0, fresh);
  drv->driver_ok();
  fresh.set_desc(0, kBuf, 32, kDescFlagWrite);
  fresh.make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(fresh.used_idx(), 1);
  EXPECT_FALSE(drv->status() & kStatusNeedsReset);
}

TEST_F(MmioTest, OutOfRamBufferBreaksDevice) {
  bring_up();
  ring->set_desc(0, 0x7fff0000, 64, kDescFlagWrite);
  ring->make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_TRUE(drv->status() & kStatusNeedsReset);
  EXPECT_EQ(ring->used_idx(), 0);
}

TEST_F(MmioTest, RingOutsideRamBreaksDeviceAtEnable) {
  ASSERT_TRUE(drv->negotiate(kFeatureVersion1));
  drv->write(0x030, 0);
  drv->write(0x038, 8);
  drv->write(0x080, 0);
  drv->write(0x084, 1);  // descriptor table at 4 GiB: not RAM
  drv->write(0x044, 1);
  EXPECT_TRUE(drv->status() & kStatusNeedsReset);
  EXPECT_EQ(drv->read(0x060), 0u);  // no interrupt before DRIVER_OK
}

TEST_F(MmioTest, QueueSizeLargerThanMaximumBreaksDevice) {
  ASSERT_TRUE(drv->negotiate(kFeatureVersion1));
  DriverRing big(vm.memory, 0x40000, 512);
  drv->setup_queue(0, big);
  EXPECT_TRUE(drv->status() & kStatusNeedsReset);
}

TEST_F(MmioTest, EventIdxSuppressesInterrupts) {
  bring_up(kFeatureVersion1 | kFeatureRingEventIdx);
  ring->set_desc(0, kBuf, 8, kDescFlagWrite);
  ring->set_used_event(5);
  ring->make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(drv->read(0x060), 1u);  // first completion always interrupts
  drv->write(0x064, 1);
  ring->make_available(0);
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(ring->used_idx(), 2);
  EXPECT_EQ(drv->read(0x060), 0u);  // used_event 5 not reached
  // The device asked to be notified at the next available index (§2.7.10).
  EXPECT_EQ(ring->avail_event(), 2);
}

TEST(MmioIoeventfd, QueueNotifyIsBoundAndScansAllQueues) {
  TestVm vm;
  std::vector<std::tuple<hw::IoSpace, uint64_t, unsigned, int>> bound;
  DeviceServices services = vm.services();
  services.add_ioeventfd = [&](hw::IoSpace space, uint64_t addr, unsigned size,
                               int fd) -> Result<> {
    bound.emplace_back(space, addr, size, fd);
    return {};
  };
  auto t = make_virtio_mmio(*make_virtio_rng(services), services, kBase, kGsi);
  ASSERT_TRUE(t.has_value());
  ASSERT_EQ(bound.size(), 1u);
  EXPECT_EQ(std::get<1>(bound[0]), kBase + 0x50);
  EXPECT_EQ(std::get<2>(bound[0]), 4u);
  MmioDriver drv(**t);
  DriverRing ring(vm.memory, 0x10000, 8);
  ASSERT_TRUE(drv.negotiate(kFeatureVersion1));
  drv.setup_queue(0, ring);
  drv.driver_ok();
  ring.set_desc(0, kBuf, 16, kDescFlagWrite);
  ring.make_available(0);
  uint64_t one = 1;  // what KVM does on a matching guest write
  ASSERT_EQ(::write(std::get<3>(bound[0]), &one, sizeof one), 8);
  vm.run_io();
  EXPECT_EQ(ring.used_idx(), 1);
}

// --- virtio-pci ---

class PciTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services = vm.services();
    services.add_ioeventfd = [this](hw::IoSpace, uint64_t addr, unsigned size, int fd) -> Result<> {
      bound.emplace_back(addr, size, fd);
      return {};
    };
    auto t = make_virtio_pci(*make_virtio_rng(services), services);
    ASSERT_TRUE(t.has_value());
    pci = std::move(*t);
    bar0 = pci->bar(0).handler;
    msix = pci->bar(2).handler;
    ring = std::make_unique<DriverRing>(vm.memory, 0x10000, 8);
  }
  // Finds the virtio capability of `type`: returns its config-space offset or 0.
  uint8_t find_cap(uint8_t type) {
    for (uint8_t at = static_cast<uint8_t>(pci->config_read(0x34, 1)); at != 0;
         at = static_cast<uint8_t>(pci->config_read(at + 1, 1))) {
      if (pci->config_read(at, 1) == 0x09 && pci->config_read(at + 3, 1) == type) return at;
    }
    return 0;
  }
  void common_write(uint64_t off, unsigned size, uint64_t v) { bar0->io_write(off, size, v); }
  uint64_t common_read(uint64_t off, unsigned size) { return bar0->io_read(off, size); }
  void bring_up() {
    common_write(0x14, 1, 0);
    common_write(0x14, 1, kStatusAcknowledge | kStatusDriver);
    common_write(0x08, 4, 1);
    common_write(0x0c, 4, 1);  // VERSION_1
    common_write(0x14, 1, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    ASSERT_TRUE(common_read(0x14, 1) & kStatusFeaturesOk);
    common_write(0x16, 2, 0);
    common_write(0x18, 2, 8);
    // 64-bit fields written as 32-bit halves (§4.1.3.1).
    common_write(0x20, 4, ring->desc());
    common_write(0x24, 4, 0);
    common_write(0x28, 4, ring->avail());
    common_write(0x2c, 4, 0);
    common_write(0x30, 8, ring->used());
    common_write(0x1a, 2, 1);  // queue 0 -> MSI-X vector 1
    common_write(0x1c, 2, 1);
    common_write(0x14, 1, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  }
  void use_one_buffer() {
    ring->set_desc(0, kBuf, 16, kDescFlagWrite);
    ring->make_available(0);
    bar0->io_write(PciTransport::kNotifyOffset + 4 * common_read(0x1e, 2), 2, 0);
    vm.run_io();
  }
  TestVm vm;
  DeviceServices services;
  std::vector<std::tuple<uint64_t, unsigned, int>> bound;
  std::unique_ptr<PciTransport> pci;
  hw::IoHandler* bar0 = nullptr;
  hw::IoHandler* msix = nullptr;
  std::unique_ptr<DriverRing> ring;
};

TEST_F(PciTest, ConfigSpaceIdentifiesAModernDevice) {
  EXPECT_EQ(pci->config_read(0x00, 2), 0x1af4u);
  EXPECT_EQ(pci->config_read(0x02, 2), 0x1044u);  // 0x1040 + entropy
  EXPECT_GE(pci->config_read(0x08, 1), 1u);
  EXPECT_GE(pci->config_read(0x2e, 2), 0x40u);
  EXPECT_TRUE(pci->config_read(0x06, 2) & 0x10);
  EXPECT_EQ(pci->config_read(0x3d, 1), 1u);
  EXPECT_EQ(pci->bar(0).size, PciTransport::kBar0Size);
  EXPECT_TRUE(pci->bar(0).is64);
  EXPECT_EQ(pci->bar(1).size, 0u);
}

TEST_F(PciTest, CapabilitiesDescribeEveryStructure) {
  const uint8_t common = find_cap(1), notify = find_cap(2), isr = find_cap(3), device = find_cap(4),
                cfg = find_cap(5);
  ASSERT_NE(common, 0);
  ASSERT_NE(notify, 0);
  ASSERT_NE(isr, 0);
  ASSERT_NE(device, 0);
  ASSERT_NE(cfg, 0);
  EXPECT_EQ(pci->config_read(common + 4, 1), 0u);  // BAR 0
  EXPECT_EQ(pci->config_read(common + 8, 4), PciTransport::kCommonOffset);
  EXPECT_GE(pci->config_read(common + 12, 4), 0x38u);
  EXPECT_EQ(pci->config_read(notify + 8, 4), PciTransport::kNotifyOffset);
  EXPECT_EQ(pci->config_read(notify + 16, 4), PciTransport::kNotifyMultiplier);
  EXPECT_EQ(pci->config_read(isr + 8, 4), PciTransport::kIsrOffset);
  EXPECT_EQ(pci->config_read(device + 8, 4), PciTransport::kDeviceOffset);
  // The MSI-X capability: 2 vectors (config + one queue), table and PBA in BAR 2.
  const uint8_t first = static_cast<uint8_t>(pci->config_read(0x34, 1));
  EXPECT_EQ(pci->config_read(first, 1), 0x11u);
  EXPECT_EQ(pci->config_read(first + 2, 2) & 0x7ff, 1u);
  EXPECT_EQ(pci->config_read(first + 4, 4) & 7, 2u);
}

TEST_F(PciTest, CommonConfigBringsUpQueueAndMsixDelivers) {
  // Program MSI-X entry 1 and enable MSI-X.
  msix->io_write(16 + 0, 4, 0xfee00000);
  msix->io_write(16 + 4, 4, 0);
  msix->io_write(16 + 8, 4, 0x4041);
  msix->io_write(16 + 12, 4, 0);  // unmask
  const uint8_t cap = static_cast<uint8_t>(pci->config_read(0x34, 1));
  pci->config_write(cap + 2, 2, 0x8000 | pci->config_read(cap + 2, 2));
  bring_up();
  EXPECT_EQ(common_read(0x1a, 2), 1u);
  EXPECT_EQ(common_read(0x20, 8), ring->desc());
  EXPECT_EQ(common_read(0x12, 2), 1u);  // num_queues
  use_one_buffer();
  EXPECT_EQ(ring->used_idx(), 1);
  ASSERT_EQ(vm.sink.msis.size(), 1u);
  EXPECT_EQ(vm.sink.msis[0], std::make_pair(uint64_t{0xfee00000}, 0x4041u));
}

TEST_F(PciTest, MaskedVectorIsPendingUntilUnmasked) {
  msix->io_write(16 + 0, 4, 0xfee00000);
  msix->io_write(16 + 8, 4, 0x31);
  const uint8_t cap = static_cast<uint8_t>(pci->config_read(0x34, 1));
  pci->config_write(cap + 2, 2, 0x8000);
  bring_up();
  use_one_buffer();  // entry 1 still masked (its reset state)
  EXPECT_TRUE(vm.sink.msis.empty());
  EXPECT_EQ(msix->io_read(MsixTable::kPbaOffset, 4) & 2, 2u);
  msix->io_write(16 + 12, 4, 0);
  ASSERT_EQ(vm.sink.msis.size(), 1u);
  EXPECT_EQ(vm.sink.msis[0].second, 0x31u);
  EXPECT_EQ(msix->io_read(MsixTable::kPbaOffset, 4) & 2, 0u);
}

TEST_F(PciTest, IntxAndIsrWhenMsixIsOff) {
  pci->set_intx_gsi(11);
  bring_up();
  use_one_buffer();
  EXPECT_TRUE(vm.sink.level(11));
  EXPECT_EQ(bar0->io_read(PciTransport::kIsrOffset, 1), 1u);  // read clears and deasserts
  EXPECT_FALSE(vm.sink.level(11));
  EXPECT_EQ(bar0->io_read(PciTransport::kIsrOffset, 1), 0u);
}

TEST_F(PciTest, IntxDisableMasksThePinUntilCleared) {
  pci->set_intx_gsi(11);
  bring_up();
  pci->config_write(0x04, 2, 1u << 10);  // Interrupt Disable
  use_one_buffer();
  EXPECT_FALSE(vm.sink.level(11)) << "masked while disabled";
  pci->config_write(0x04, 2, 0);
  EXPECT_TRUE(vm.sink.level(11)) << "the pending interrupt is signalled once unmasked";
  pci->config_write(0x04, 2, 1u << 10);
  EXPECT_FALSE(vm.sink.level(11));
  pci->config_write(0x04, 2, 0);
  EXPECT_EQ(bar0->io_read(PciTransport::kIsrOffset, 1), 1u);
  EXPECT_FALSE(vm.sink.level(11)) << "reading the ISR acknowledges it";
  pci->config_write(0x04, 2, 1u << 10);
  pci->config_write(0x04, 2, 0);
  EXPECT_FALSE(vm.sink.level(11)) << "nothing pending, nothing raised";
}

TEST_F(PciTest, VectorBeyondTableReadsAsNoVector) {
  common_write(0x10, 2, 7);
  EXPECT_EQ(common_read(0x10, 2), kNoVector);
  common_write(0x10, 2, 0);
  EXPECT_EQ(common_read(0x10, 2), 0u);
}

TEST_F(PciTest, PciCfgCapabilityReachesBar) {
  const uint8_t cap = find_cap(5);
  ASSERT_NE(cap, 0);
  pci->config_write(cap + 4, 1, 0);     // BAR 0
  pci->config_write(cap + 8, 4, 0x12);  // num_queues
  pci->config_write(cap + 12, 4, 2);
  EXPECT_EQ(pci->config_read(cap + 16, 4) & 0xffff, 1u);
}

TEST_F(PciTest, HostileChainSendsConfigVector) {
  const uint8_t cap = static_cast<uint8_t>(pci->config_read(0x34, 1));
  msix->io_write(0, 4, 0xfee00000);
  msix->io_write(8, 4, 0x55);
  msix->io_write(12, 4, 0);
  pci->config_write(cap + 2, 2, 0x8000);
  bring_up();
  common_write(0x10, 2, 0);  // config changes -> vector 0
  ring->set_desc(0, kBuf, 16, kDescFlagWrite | kDescFlagNext, 0);
  ring->make_available(0);
  bar0->io_write(PciTransport::kNotifyOffset, 2, 0);
  vm.run_io();
  EXPECT_TRUE(common_read(0x14, 1) & kStatusNeedsReset);
  ASSERT_EQ(vm.sink.msis.size(), 1u);
  EXPECT_EQ(vm.sink.msis[0].second, 0x55u);
}

TEST_F(PciTest, BarMappingBindsPerQueueNotifyEventfds) {
  pci->bar_mapped(0, 0xc0000000);
  pci->bar_mapped(0, 0xc0000000);  // no duplicate binding
  ASSERT_EQ(bound.size(), 1u);
  EXPECT_EQ(std::get<0>(bound[0]), 0xc0000000 + PciTransport::kNotifyOffset);
  EXPECT_EQ(std::get<1>(bound[0]), 2u);
  bring_up();
  ring->set_desc(0, kBuf, 16, kDescFlagWrite);
  ring->make_available(0);
  uint64_t one = 1;
  ASSERT_EQ(::write(std::get<2>(bound[0]), &one, sizeof one), 8);
  vm.run_io();
  EXPECT_EQ(ring->used_idx(), 1);
}

}  // namespace
}  // namespace corvid::virtio

namespace corvid::virtio {
namespace {

TEST_F(MmioTest, SecondQueueReadyWriteDoesNotRewindTheRing) {
  bring_up();
  ring->set_desc(0, kBuf, 8, kDescFlagWrite);
  ring->make_available(0);
  drv->notify(0);
  vm.run_io();
  ASSERT_EQ(ring->used_idx(), 1);
  drv->write(0x030, 0);
  drv->write(0x044, 1);  // QueueReady again while ready
  drv->notify(0);
  vm.run_io();
  EXPECT_EQ(ring->used_idx(), 1);  // the same buffer is not used twice
}

}  // namespace
}  // namespace corvid::virtio
