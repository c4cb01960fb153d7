#include "config/validate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace corvid::config {
namespace {

class ValidateVmConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corvid-validate-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/kernel") << "k";
    std::ofstream(dir_ + "/disk.raw") << "d";
    config_.kernel = dir_ + "/kernel";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string error() {
    auto r = validate_vm_config(config_);
    return r ? "" : r.error().to_string();
  }

  std::string dir_;
  VmConfig config_;
};

TEST_F(ValidateVmConfig, DefaultsWithAKernelAreValid) {
  EXPECT_EQ(error(), "");
}

TEST_F(ValidateVmConfig, MemoryOutOfRangeOrUnalignedIsRefused) {
  config_.memory_bytes = 1 << 20;
  EXPECT_EQ(error(), "memory 1 MiB is out of range (2 MiB to 1 TiB)");
  config_.memory_bytes = (64 << 20) + 100;
  EXPECT_EQ(error(), "memory 67108964 bytes is not a multiple of the 4 KiB page size");
  config_.memory_bytes = kMaxMemoryBytes;
  EXPECT_EQ(error(), "");
}

TEST_F(ValidateVmConfig, VcpuCountMustBeOneTo255) {
  config_.vcpus = 0;
  EXPECT_EQ(error(), "0 vCPUs is out of range (1 to 255)");
  config_.vcpus = 256;
  EXPECT_EQ(error(), "256 vCPUs is out of range (1 to 255)");
  config_.vcpus = 255;
  EXPECT_EQ(error(), "");
}

TEST_F(ValidateVmConfig, MissingFilesAreNamedWithTheirErrno) {
  config_.kernel = dir_ + "/nope";
  EXPECT_EQ(error(), "kernel '" + dir_ + "/nope': No such file or directory");
  config_.kernel = dir_ + "/kernel";
  config_.initrd = dir_ + "/initrd";
  EXPECT_EQ(error(), "initrd '" + dir_ + "/initrd': No such file or directory");
  config_.initrd.clear();
  config_.drives.push_back({.id = "vda", .file = dir_ + "/missing.qcow2"});
  EXPECT_EQ(error(), "drive vda '" + dir_ + "/missing.qcow2': No such file or directory");
}

TEST_F(ValidateVmConfig, NoKernelIsRefused) {
  config_.kernel.clear();
  EXPECT_EQ(error(), "no kernel: corvid boots a kernel image directly");
}

TEST_F(ValidateVmConfig, EnumeratedDriveOptionsAreChecked) {
  config_.drives.push_back({.id = "vda", .file = dir_ + "/disk.raw"});
  EXPECT_EQ(error(), "");
  config_.drives[0].format = "vmdk";
  EXPECT_EQ(error(), "drive vda: format 'vmdk' is not raw or qcow2");
  config_.drives[0].format = "raw";
  config_.drives[0].cache = "fast";
  EXPECT_EQ(error(),
            "drive vda: cache 'fast' is not one of writeback, writethrough, none, "
            "directsync, unsafe");
  config_.drives[0].cache = "none";
  config_.drives[0].aio = "native";
  EXPECT_EQ(error(), "drive vda: aio 'native' is not one of io_uring, threads");
  config_.drives[0].aio = "threads";
  config_.drives.push_back(config_.drives[0]);
  EXPECT_EQ(error(), "two drives are named 'vda'");
}

TEST_F(ValidateVmConfig, UuidMustBeCanonical) {
  config_.uuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0";
  EXPECT_EQ(error(), "");
  config_.uuid = "4dea22b31d52d8f32516782e98ab3fa0";
  EXPECT_EQ(error(),
            "uuid '4dea22b31d52d8f32516782e98ab3fa0' is not of the form "
            "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
}

TEST_F(ValidateVmConfig, SerialFileNeedsAPathAndAccelIsKnown) {
  config_.serial.kind = "file";
  EXPECT_EQ(error(), "serial file needs a path");
  config_.serial.kind = "stdio";
  config_.accel = "hvf";
  EXPECT_EQ(error(), "accelerator 'hvf' is not one of kvm, xen, tcg, auto");
}

TEST_F(ValidateVmConfig, QmpSocketPathMustFitSunPath) {
  config_.qmp_socket = "/tmp/" + std::string(120, 'q');
  EXPECT_NE(error().find("is longer than 107 bytes"), std::string::npos);
}

}  // namespace
}  // namespace corvid::config
