// build_fdt: the blob is valid for libfdt, and dtc decompiles it into the nodes the machine
// description asks for.
#include "fdt/fdt_builder.h"

#include <gtest/gtest.h>
#include <libfdt.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace corvid::fdt {
namespace {

MachineDescription sample_machine() {
  MachineDescription m;
  m.memory = {{0, 0x9fc00, MemoryRange::Type::kRam},
              {0x9fc00, 0x400, MemoryRange::Type::kReserved},
              {0x100000, 0x7f00000, MemoryRange::Type::kRam},
              {0x100000000, 0x40000000, MemoryRange::Type::kRam}};
  m.cpus = 2;
  m.uarts = {UartDesc{}};
  m.pci.present = true;
  m.pci.mmio32_base = 0xc0000000;
  m.pci.mmio32_size = 0x10000000;
  m.pci.io_base = 0xc000;
  m.pci.io_size = 0x1000;
  m.pci.intx_gsis = {10, 11, 12, 13};
  m.pci.devices = {{1, 0x1af4, 0x1042, "virtio-blk"}};
  m.virtio_mmio = {{0xd0000000, 0x200, 16, 2}, {0xd0001000, 0x200, 17, 4}};
  m.cmdline = "console=ttyS0 root=/dev/vda";
  return m;
}

// `dtc -I dtb -O dts` of the blob: the reference decompiler.
std::string decompile(const std::vector<uint8_t>& blob) {
  char path[] = "/tmp/corvid-fdt-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, blob.data(), blob.size()), static_cast<ssize_t>(blob.size()));
  close(fd);
  std::string cmd = std::string("dtc -q -I dtb -O dts ") + path + " 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    EXPECT_EQ(pclose(p), 0) << out;
  }
  unlink(path);
  return out;
}

TEST(FdtBuilder, BlobIsValidAndNodesAreFindable) {
  auto blob = build_fdt(sample_machine());
  ASSERT_TRUE(blob.has_value()) << blob.error().message;
  const void* fdt = blob->data();
  ASSERT_EQ(fdt_check_header(fdt), 0);
  EXPECT_EQ(fdt_totalsize(fdt), blob->size());
  EXPECT_GE(fdt_path_offset(fdt, "/cpus/cpu@1"), 0);
  EXPECT_LT(fdt_path_offset(fdt, "/cpus/cpu@2"), 0);
  EXPECT_GE(fdt_path_offset(fdt, "/memory@100000000"), 0);
  EXPECT_LT(fdt_path_offset(fdt, "/memory@9fc00"), 0);  // reserved ranges are not memory
  int chosen = fdt_path_offset(fdt, "/chosen");
  ASSERT_GE(chosen, 0);
  EXPECT_STREQ(static_cast<const char*>(fdt_getprop(fdt, chosen, "bootargs", nullptr)),
               "console=ttyS0 root=/dev/vda");
  int n = 0;
  for (int off = fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio"); off >= 0;
       off = fdt_node_offset_by_compatible(fdt, off, "virtio,mmio")) {
    ++n;
  }
  EXPECT_EQ(n, 2);
  EXPECT_EQ(fdt_node_offset_by_phandle(fdt, kIoapicPhandle),
            fdt_path_offset(fdt, "/ioapic@fec00000"));
}

TEST(FdtBuilder, DtcDecompilesTheExpectedNodes) {
  auto blob = build_fdt(sample_machine());
  ASSERT_TRUE(blob.has_value());
  const std::string dts = decompile(*blob);
  for (const char* want : {
           "compatible = \"corvid,x86-virt\";",
           "bootargs = \"console=ttyS0 root=/dev/vda\";",
           "stdout-path = \"/isa/serial@3f8\";",
           "memory@0 {",
           "reg = <0x00 0x00 0x00 0x9fc00>;",
           "memory@100000 {",
           "reg = <0x01 0x00 0x00 0x40000000>;",
           "cpu@0 {",
           "cpu@1 {",
           "device_type = \"cpu\";",
           "ioapic@fec00000 {",
           "interrupt-controller;",
           "serial@3f8 {",
           "compatible = \"ns16550a\";",
           "reg = <0x01 0x3f8 0x08>;",
           "interrupts = <0x04 0x03>;",
           "debug-exit@f4 {",
           "pci@cf8 {",
           "device_type = \"pci\";",
           "ranges = <0x1000000 0x00 0xc000 0x00 0xc000 0x00 0x1000 0x2000000 0x00 0xc0000000 0x00 "
           "0xc0000000 0x00 0x10000000>;",
           "interrupt-map-mask = <0xf800 0x00 0x00 0x07>;",
           "virtio-blk@1 {",
           "compatible = \"pci1af4,1042\";",
           "virtio_mmio@d0000000 {",
           "compatible = \"virtio,mmio\";",
           "reg = <0x00 0xd0000000 0x00 0x200>;",
           "interrupts = <0x10 0x01>;",
           "virtio_mmio@d0001000 {",
           "interrupts = <0x11 0x01>;",
       }) {
    EXPECT_NE(dts.find(want), std::string::npos) << "missing: " << want << "\n" << dts;
  }
}

TEST(FdtBuilder, InterruptMapSwizzlesPinsPerSlot) {
  auto blob = build_fdt(sample_machine());
  ASSERT_TRUE(blob.has_value());
  const void* fdt = blob->data();
  int pci = fdt_path_offset(fdt, "/pci@cf8");
  ASSERT_GE(pci, 0);
  int len = 0;
  auto* map = static_cast<const fdt32_t*>(fdt_getprop(fdt, pci, "interrupt-map", &len));
  ASSERT_NE(map, nullptr);
  ASSERT_EQ(len, 32 * 4 * 7 * 4);  // 32 slots x 4 pins x 7 cells
  auto entry_gsi = [&](uint32_t slot, uint32_t pin) {
    const fdt32_t* e = map + ((slot * 4) + (pin - 1)) * 7;
    EXPECT_EQ(fdt32_to_cpu(e[0]), slot << 11);
    EXPECT_EQ(fdt32_to_cpu(e[3]), pin);
    EXPECT_EQ(fdt32_to_cpu(e[4]), kIoapicPhandle);
    return fdt32_to_cpu(e[5]);
  };
  EXPECT_EQ(entry_gsi(0, 1), 10u);
  EXPECT_EQ(entry_gsi(1, 1), 11u);  // slot 1 INTA -> line B
  EXPECT_EQ(entry_gsi(3, 2), 10u);  // (3 + 2 - 1) mod 4 = 0
  EXPECT_EQ(entry_gsi(31, 4), 12u);
}

TEST(FdtBuilder, EcamHostAndNoPci) {
  MachineDescription m = sample_machine();
  m.pci.ecam_base = 0xb0000000;
  m.pci.ecam_size = 0x100000;
  auto blob = build_fdt(m);
  ASSERT_TRUE(blob.has_value());
  EXPECT_NE(decompile(*blob).find("compatible = \"pci-host-ecam-generic\";"), std::string::npos);
  m.pci.present = false;
  blob = build_fdt(m);
  ASSERT_TRUE(blob.has_value());
  EXPECT_EQ(decompile(*blob).find("device_type = \"pci\""), std::string::npos);
}

TEST(FdtBuilder, RejectsDescriptionsItCannotEncode) {
  MachineDescription m = sample_machine();
  m.cpus = 0;
  EXPECT_EQ(build_fdt(m).error().code, EINVAL);
  m = sample_machine();
  m.memory = {{0, 0x1000, MemoryRange::Type::kReserved}};
  EXPECT_FALSE(build_fdt(m).has_value());
  m = sample_machine();
  m.virtio_mmio[0].size = 0;
  EXPECT_FALSE(build_fdt(m).has_value());
}

TEST(FdtBuilder, ManyCpusGrowTheBuffer) {
  MachineDescription m = sample_machine();
  m.cpus = 255;
  m.cmdline.assign(8000, 'x');
  auto blob = build_fdt(m);
  ASSERT_TRUE(blob.has_value());
  EXPECT_GE(fdt_path_offset(blob->data(), "/cpus/cpu@fe"), 0);
}

}  // namespace
}  // namespace corvid::fdt
