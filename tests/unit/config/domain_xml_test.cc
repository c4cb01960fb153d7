#include "config/domain_xml.h"

#include <gtest/gtest.h>

#include <string>

namespace corvid::config {
namespace {

std::string domain(std::string type, std::string devices, std::string extra = "") {
  return "<domain type='" + type +
         "'><name>t</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"
         "<memory unit='MiB'>64</memory><os><type>hvm</type><kernel>/k</kernel></os>" +
         extra + "<devices>" + devices + "</devices></domain>";
}

TEST(DomainXml, DomainTypeSelectsTheAccelerator) {
  EXPECT_EQ(load_domain_xml(domain("kvm", ""))->config.accel, "kvm");
  EXPECT_EQ(load_domain_xml(domain("xen", ""))->config.accel, "xen");
  EXPECT_EQ(load_domain_xml(domain("qemu", ""))->config.accel, "tcg");
}

TEST(DomainXml, MissingFileIsOneClearLine) {
  auto r = load_domain_xml_file("/nonexistent/dir/vm.xml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "/nonexistent/dir/vm.xml: No such file or directory");
}

TEST(DomainXml, DirectoryIsRefusedWithItsErrno) {
  auto r = load_domain_xml_file("/tmp");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "/tmp: Is a directory");
}

TEST(DomainXml, SchemaViolationCarriesLibvirtsMessage) {
  auto r = load_domain_xml(domain("kvm", "", "<bogus/>"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("XML document failed to validate against schema"),
            std::string::npos);
  EXPECT_NE(r.error().message.find("bogus"), std::string::npos);
}

TEST(DomainXml, InterfaceIsWarnedNotDropped) {
  auto r = load_domain_xml(
      domain("kvm", "<interface type='network'><source network='default'/></interface>"));
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0], "ignoring <interface type='network'>: networking is not supported yet");
}

TEST(DomainXml, DiskDriverAttributesAreMapped) {
  auto r = load_domain_xml(
      domain("kvm",
             "<disk type='file' device='disk'><driver name='qemu' "
             "type='qcow2' cache='unsafe' io='threads' "
             "discard='unmap' queues='4'/><source file='/d.qcow2'/><target dev='vdc' "
             "bus='virtio'/><readonly/></disk>"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->warnings.empty());
  ASSERT_EQ(r->config.drives.size(), 1u);
  const auto& d = r->config.drives[0];
  EXPECT_EQ(d.id, "vdc");
  EXPECT_EQ(d.file, "/d.qcow2");
  EXPECT_EQ(d.format, "qcow2");
  EXPECT_EQ(d.cache, "unsafe");
  EXPECT_EQ(d.aio, "threads");
  EXPECT_TRUE(d.discard);
  EXPECT_TRUE(d.read_only);
  EXPECT_EQ(d.num_queues, 4u);
  EXPECT_FALSE(load_domain_xml(domain("kvm",
                                      "<disk type='file' device='disk'><driver queues='0'/>"
                                      "<source file='/d.qcow2'/><target dev='vdc'/></disk>")));
}

TEST(DomainXml, LifecycleActionsAreMapped) {
  auto r = load_domain_xml(domain("kvm", "",
                                  "<on_poweroff>preserve</on_poweroff>"
                                  "<on_reboot>destroy</on_reboot><on_crash>restart</on_crash>"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->config.on_poweroff, LifecycleAction::kPreserve);
  EXPECT_EQ(r->config.on_reboot, LifecycleAction::kDestroy);
  EXPECT_EQ(r->config.on_crash, LifecycleAction::kRestart);
}

TEST(DomainXml, UuidIsKeptAndGeneratedOneIsFlagged) {
  auto r = load_domain_xml(domain("kvm", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->config.uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
  EXPECT_FALSE(r->uuid_generated);
  auto g = load_domain_xml(
      "<domain type='kvm'><name>g</name><memory>65536</memory>"
      "<os><type>hvm</type></os></domain>");
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->uuid_generated);
  EXPECT_EQ(g->config.uuid.size(), 36u);
}

TEST(DomainXml, SameNameCanBeLoadedTwice) {
  // The test driver's state is process-wide; corvid undefines after reading.
  ASSERT_TRUE(load_domain_xml(domain("kvm", "")));
  ASSERT_TRUE(load_domain_xml(domain("kvm", "")));
}

}  // namespace
}  // namespace corvid::config

namespace corvid::config {
namespace {

TEST(DomainXml, UuidInACommentDoesNotCount) {
  auto g = load_domain_xml(
      "<domain type='kvm'><!-- <uuid>x</uuid> --><name>c</name><memory>65536</memory>"
      "<os><type>hvm</type></os></domain>");
  ASSERT_TRUE(g) << g.error().to_string();
  EXPECT_TRUE(g->uuid_generated);
}

}  // namespace
}  // namespace corvid::config
