// The translator's local APIC: global enable through IA32_APIC_BASE (SDM Vol. 3 §11.4.3).
#include "hw/intc/lapic.h"

#include <gtest/gtest.h>

namespace corvid::hw {
namespace {

constexpr uint64_t kSvr = 0xf0, kTpr = 0x80, kLvtTimer = 0x320;

TEST(TcgLapic, GloballyDisabledApicAcceptsNothingAndResets) {
  Lapic apic(0, {});
  apic.io_write(kSvr, 4, 0x1ff);  // software-enable
  apic.io_write(kTpr, 4, 0x20);
  apic.io_write(kLvtTimer, 4, 0x40);
  apic.accept(0x40, false);
  EXPECT_TRUE(apic.has_interrupt());

  apic.set_apic_base(Lapic::kDefaultBase);  // EN clear
  EXPECT_FALSE(apic.enabled());
  EXPECT_FALSE(apic.has_interrupt());
  apic.accept(0x50, false);
  EXPECT_FALSE(apic.has_interrupt());

  apic.set_apic_base(Lapic::kDefaultBase | Lapic::kGlobalEnable);
  EXPECT_TRUE(apic.enabled());
  EXPECT_EQ(apic.apic_base() & 0x100, 0x100u);  // still the BSP
  EXPECT_EQ(apic.io_read(kSvr, 4), 0xffu);      // power-up state: software-disabled
  EXPECT_EQ(apic.io_read(kTpr, 4), 0u);
  EXPECT_EQ(apic.io_read(kLvtTimer, 4), 0x10000u);  // masked
  EXPECT_FALSE(apic.has_interrupt());               // the pending 0x40 was dropped
}

TEST(TcgLapic, Cr8IsTheTprHighNibble) {
  // mov cr8 goes through set_tpr/tpr (SDM Vol. 3 §11.8.6): both views are one register, and a
  // TPR that masks a pending vector hides it until CR8 lowers it again.
  Lapic apic(0, {});
  apic.io_write(kSvr, 4, 0x1ff);
  apic.set_tpr(0x50);
  EXPECT_EQ(apic.io_read(kTpr, 4), 0x50u);
  apic.io_write(kTpr, 4, 0x30);
  EXPECT_EQ(apic.tpr(), 0x30u);
  apic.set_tpr(0xf0);
  apic.accept(0x40, false);
  EXPECT_FALSE(apic.has_interrupt());
  apic.set_tpr(0x00);
  EXPECT_TRUE(apic.has_interrupt());
}

TEST(TcgLapic, EnabledApicKeepsItsStateAcrossBaseRewrites) {
  Lapic apic(1, {});
  apic.io_write(kSvr, 4, 0x1ff);
  apic.set_apic_base(Lapic::kDefaultBase | Lapic::kGlobalEnable);
  EXPECT_EQ(apic.io_read(kSvr, 4), 0x1ffu);
  EXPECT_EQ(apic.apic_base() & 0x100, 0u);  // an AP
}

}  // namespace
}  // namespace corvid::hw
