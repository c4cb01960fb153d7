// The accelerator factory's choices and errors, and the KVM CPUID filter.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "accel/accelerator.h"
#include "accel/kvm/kvm_cpuid.h"
#include "base/unique_fd.h"

namespace corvid::accel {
namespace {

TEST(AcceleratorFactory, RejectsUnknownNamesAndZeroVcpus) {
  AccelOptions o;
  o.requested = "quantum";
  auto r = create_accelerator(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown accelerator 'quantum'"), std::string::npos);
  o.requested = "auto";
  o.vcpus = 0;
  EXPECT_FALSE(create_accelerator(o));
}

TEST(AcceleratorFactory, MissingKvmDeviceSaysWhatToDo) {
  AccelOptions o;
  o.requested = "kvm";
  o.kvm_device = "/nonexistent/kvm";
  auto r = create_accelerator(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message.find("/nonexistent/kvm is absent"), std::string::npos)
      << r.error().message;
}

TEST(AcceleratorFactory, NotAKvmDeviceIsRefused) {
  AccelOptions o;
  o.requested = "kvm";
  o.kvm_device = "/dev/null";
  auto r = create_accelerator(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a KVM device"), std::string::npos) << r.error().message;
}

TEST(AcceleratorFactory, XenIsReportedPlainlyWithoutAHypervisor) {
  AccelOptions o;
  o.requested = "xen";
  auto r = create_accelerator(o);
  ASSERT_FALSE(r);  // no Xen host in CI; the message names why
  EXPECT_NE(r.error().message.find("xen:"), std::string::npos);
}

TEST(AcceleratorFactory, AutoExplainsEveryRefusalWhenNothingWorks) {
  AccelOptions o;
  o.kvm_device = "/nonexistent/kvm";
  auto r = create_accelerator(o);
  if (r) GTEST_SKIP() << "an accelerator (" << (*r)->describe() << ") is available without KVM";
  EXPECT_NE(r.error().message.find("kvm:"), std::string::npos);
  EXPECT_NE(r.error().message.find("xen:"), std::string::npos);
  EXPECT_NE(r.error().message.find("tcg"), std::string::npos);
}

// With /dev/kvm: an ioeventfd binding can be removed, exactly once, and then bound elsewhere
// (what virtio-pci does when the guest moves a BAR).
TEST(KvmIoeventfd, BindingIsRemovedAndMovable) {
  if (access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm is not usable here";
  AccelOptions o;
  o.requested = "kvm";
  auto accel = create_accelerator(o);
  ASSERT_TRUE(accel) << accel.error().to_string();
  UniqueFd efd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_GE(efd.get(), 0);
  Accelerator& a = **accel;
  ASSERT_TRUE(a.add_ioeventfd(hw::IoSpace::kMmio, 0xc0003000, 2, efd.get()));
  EXPECT_FALSE(a.add_ioeventfd(hw::IoSpace::kMmio, 0xc0003000, 2, efd.get()))
      << "KVM refuses a duplicate binding";
  ASSERT_TRUE(a.remove_ioeventfd(hw::IoSpace::kMmio, 0xc0003000, 2, efd.get()));
  auto again = a.remove_ioeventfd(hw::IoSpace::kMmio, 0xc0003000, 2, efd.get());
  ASSERT_FALSE(again) << "already removed";
  EXPECT_EQ(again.error().code, ENOENT);
  EXPECT_TRUE(a.add_ioeventfd(hw::IoSpace::kMmio, 0xc1003000, 2, efd.get()));
  EXPECT_TRUE(a.add_ioeventfd(hw::IoSpace::kMmio, 0xc0003000, 2, efd.get()))
      << "the old address is free again";
}

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx,
                      uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.eax = eax, e.ebx = ebx, e.ecx = ecx, e.edx = edx;
  return e;
}

TEST(KvmCpuid, FiltersHostOnlyFeaturesAndSetsTopology) {
  std::vector<kvm_cpuid_entry2> e = {
      leaf(0x1, 0, 0x806f8, 0x00000800, 0xffffffff, 0xffffffff),
      leaf(0x6, 0, 1, 2, 3, 4),
      leaf(0xa, 0, 1, 2, 3, 4),
      leaf(0xb, 0, 0, 0, 0, 0),
      leaf(0xb, 1, 0, 0, 0, 0),
  };
  kvm::filter_cpuid(e, 2, 4);
  ASSERT_EQ(e.size(), 3u) << "thermal and PMU leaves removed";
  const auto& l1 = e[0];
  EXPECT_EQ(l1.ebx >> 24, 2u) << "initial APIC ID";
  EXPECT_EQ((l1.ebx >> 16) & 0xff, 4u) << "logical processors";
  EXPECT_EQ(l1.ebx & 0xffff, 0x0800u) << "CLFLUSH size kept";
  EXPECT_EQ(l1.ecx & (1u << 5), 0u) << "no VMX";
  EXPECT_EQ(l1.ecx & (1u << 3), 0u) << "no MONITOR";
  EXPECT_NE(l1.ecx & (1u << 31), 0u) << "hypervisor bit";
  EXPECT_NE(l1.edx & (1u << 28), 0u) << "HTT with several CPUs";
  EXPECT_EQ(e[1].edx, 2u) << "x2APIC ID in leaf 0xb";
  EXPECT_EQ(e[2].ebx, 4u) << "cores at level 1";
  EXPECT_EQ(e[2].eax, 2u) << "two bits of core ID";
}

}  // namespace
}  // namespace corvid::accel
