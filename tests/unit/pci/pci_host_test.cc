// The PCI host bridge with several functions: shared INTx lines are the wired-OR of every
// function on them, and a virtio-pci function's notify eventfds and handlers follow BAR 0 when the
// guest moves or disables it.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "hw/pci/pci_host.h"
#include "tests/unit/virtio/virtio_test_support.h"
#include "virtio/pci_transport.h"
#include "virtio/rng.h"

namespace corvid::hw {
namespace {

struct NoEvents : MachineEvents {
  void request_power_off(int) override {}
  void request_reset() override {}
};

// Records every level change the bridge sends to the interrupt controller.
class LineRecorder : public InterruptSink {
 public:
  void set_irq(uint32_t gsi, bool level) override {
    changes.emplace_back(gsi, level);
    levels[gsi] = level;
  }
  void signal_msi(uint64_t, uint32_t) override {}
  bool high(uint32_t gsi) const {
    auto it = levels.find(gsi);
    return it != levels.end() && it->second;
  }
  std::vector<std::pair<uint32_t, bool>> changes;
  std::map<uint32_t, bool> levels;
};

// A function with no BARs whose INTA pin the test drives.
class PinDevice : public PciDevice {
 public:
  std::string name() const override { return "pin"; }
  uint32_t config_read(uint32_t, unsigned) override { return 0x00011234; }
  void config_write(uint32_t, unsigned, uint32_t) override {}
  PciBar bar(int) const override { return {}; }
  void set_intx_gsi(uint32_t gsi) override { gsi_ = gsi; }
  void set_intx_pin(PciIntxPin* pin) override { pin_ = pin; }
  void assert_pin(bool level) { pin_->set_level(level); }
  uint32_t gsi_ = 0;
  PciIntxPin* pin_ = nullptr;
};

struct PciHostTest : ::testing::Test {
  IoBus pio{IoSpace::kPio}, mmio{IoSpace::kMmio};
  NoEvents events;
  LineRecorder lines;
  fdt::PciHostDesc desc;
  std::unique_ptr<PciHost> host;
  void SetUp() override {
    desc.mmio32_base = 0xc0000000;
    desc.mmio32_size = 0x10000000;
    desc.io_base = 0xc000;
    desc.io_size = 0x1000;
    desc.intx_gsis = {20, 21, 22, 23};
    host = std::make_unique<PciHost>(&pio, &mmio, &events, &desc);
    host->set_interrupt_sink(&lines);
  }
  void cfg_write(uint8_t dev, uint32_t reg, uint32_t v) {
    host->io_write(0, 4, 0x80000000u | (dev << 11) | reg);
    host->io_write(4, 4, v);
  }
};

TEST_F(PciHostTest, SharedIntxLineIsTheOrOfEveryFunctionOnIt) {
  // Six functions on four lines: slots 1 and 5 both swizzle INTA to GSI 21, slots 2 and 6 to 22.
  std::vector<std::unique_ptr<PinDevice>> devs;
  for (int i = 0; i < 6; ++i) {
    devs.push_back(std::make_unique<PinDevice>());
    ASSERT_TRUE(host->add_device(devs.back().get()));
  }
  PinDevice& a = *devs[0];  // slot 1
  PinDevice& b = *devs[4];  // slot 5
  ASSERT_EQ(a.gsi_, 21u);
  ASSERT_EQ(b.gsi_, 21u);
  ASSERT_NE(a.pin_, nullptr);

  a.assert_pin(true);
  EXPECT_TRUE(lines.high(21));
  b.assert_pin(true);
  a.assert_pin(false);
  EXPECT_TRUE(lines.high(21)) << "slot 5 still asserts the shared line";
  b.assert_pin(false);
  EXPECT_FALSE(lines.high(21)) << "released once no function asserts it";
  // The controller saw exactly one rising and one falling edge: the second assertion and the
  // first release were invisible to it.
  EXPECT_EQ(lines.changes, (std::vector<std::pair<uint32_t, bool>>{{21, true}, {21, false}}));

  // A function re-asserting a line it already holds changes nothing; other lines are separate.
  devs[1]->assert_pin(true);  // slot 2: GSI 22
  devs[1]->assert_pin(true);
  devs[5]->assert_pin(false);  // slot 6 (GSI 22) never asserted: must not drop slot 2's level
  EXPECT_TRUE(lines.high(22));
  EXPECT_FALSE(lines.high(21));
  EXPECT_EQ(lines.changes.size(), 3u);
}

// virtio-rng over PCI, plugged into the bridge, with the notify eventfd bindings recorded the way
// the board hands them to KVM.
struct VirtioOnBridge : PciHostTest {
  virtio::testing::TestVm vm;
  std::vector<std::tuple<uint64_t, unsigned, int>> bound;
  std::vector<std::tuple<uint64_t, unsigned, int>> unbound;
  std::unique_ptr<virtio::PciTransport> fn;
  void SetUp() override {
    PciHostTest::SetUp();
    auto svc = vm.services();
    svc.interrupts = &lines;
    svc.add_ioeventfd = [this](IoSpace space, uint64_t addr, unsigned size, int fd) -> Result<> {
      EXPECT_EQ(space, IoSpace::kMmio);
      bound.emplace_back(addr, size, fd);
      return {};
    };
    svc.remove_ioeventfd = [this](IoSpace, uint64_t addr, unsigned size, int fd) -> Result<> {
      unbound.emplace_back(addr, size, fd);
      return {};
    };
    auto rng = virtio::make_virtio_rng(svc);
    ASSERT_TRUE(rng);
    auto t = virtio::make_virtio_pci(std::move(*rng), svc);
    ASSERT_TRUE(t);
    fn = std::move(*t);
    ASSERT_TRUE(host->add_device(fn.get()));
  }
  bool decodes(uint64_t addr) {
    uint64_t v = 0;
    return mmio.read(addr, 2, &v);
  }
};

TEST_F(VirtioOnBridge, NotifyEventfdFollowsBar0WhenTheGuestMovesIt) {
  const uint64_t notify = virtio::PciTransport::kNotifyOffset;
  ASSERT_EQ(bound.size(), 1u) << "bound where firmware placed BAR 0";
  const uint64_t first = std::get<0>(bound[0]) - notify;
  const int kick = std::get<2>(bound[0]);
  EXPECT_TRUE(decodes(first + notify));

  // The guest turns memory decoding off, moves BAR 0 and turns decoding back on.
  cfg_write(1, 0x04, 0);
  ASSERT_EQ(unbound.size(), 1u) << "disabling the BAR removes its eventfd";
  EXPECT_EQ(unbound[0], std::make_tuple(first + notify, 2u, kick));
  EXPECT_FALSE(decodes(first + notify));
  const uint64_t moved = first + 0x100000;
  cfg_write(1, 0x10, static_cast<uint32_t>(moved));
  cfg_write(1, 0x14, 0);
  EXPECT_EQ(bound.size(), 1u) << "nothing is bound while decoding is off";
  cfg_write(1, 0x04, 0x6);
  ASSERT_EQ(bound.size(), 2u);
  EXPECT_EQ(bound[1], std::make_tuple(moved + notify, 2u, kick));
  EXPECT_TRUE(decodes(moved + notify)) << "the MMIO handler moved with the eventfd";
  EXPECT_FALSE(decodes(first + notify));

  // Moving it while decoding stays on (no disable in between) also re-binds.
  const uint64_t third = moved + 0x100000;
  cfg_write(1, 0x10, static_cast<uint32_t>(third));
  ASSERT_EQ(unbound.size(), 2u);
  EXPECT_EQ(unbound[1], std::make_tuple(moved + notify, 2u, kick));
  ASSERT_EQ(bound.size(), 3u);
  EXPECT_EQ(bound[2], std::make_tuple(third + notify, 2u, kick));

  // The function going away leaves nothing bound.
  fn.reset();
  EXPECT_EQ(unbound.size(), 3u);
  EXPECT_EQ(unbound[2], std::make_tuple(third + notify, 2u, kick));
}

TEST_F(VirtioOnBridge, LegacyInterruptGoesThroughTheSharedLine) {
  // Another function on the same line as slot 1 (slot 5) holds it high; the virtio function's
  // ISR read must not drop it.
  std::vector<std::unique_ptr<PinDevice>> others;
  for (int i = 0; i < 4; ++i) {
    others.push_back(std::make_unique<PinDevice>());
    ASSERT_TRUE(host->add_device(others.back().get()));
  }
  PinDevice& sharer = *others[3];  // slot 5
  ASSERT_EQ(sharer.gsi_, 21u);
  sharer.assert_pin(true);
  hw::IoHandler* bar0 = fn->bar(0).handler;
  // A configuration change with MSI-X off sets ISR bit 1 and asserts INTA (virtio 1.2 §4.1.5.3).
  fn->signal_config();
  EXPECT_TRUE(lines.high(21));
  EXPECT_EQ(bar0->io_read(virtio::PciTransport::kIsrOffset, 1), 2u);
  EXPECT_TRUE(lines.high(21)) << "slot 5 still asserts the line";
  sharer.assert_pin(false);
  EXPECT_FALSE(lines.high(21));
}

}  // namespace
}  // namespace corvid::hw
