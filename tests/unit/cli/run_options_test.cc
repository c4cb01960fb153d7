// `corvid run` parses QEMU's spellings of what corvid has into the same VmConfig as its own.
#include "tools/corvid/run_options.h"

#include <gtest/gtest.h>

namespace corvid::tools {
namespace {

using Args = std::vector<std::string>;

TEST(RunOptions, QemuOneDashSpellingsMatchCorvidsOwn) {
  auto q = parse_run_args({"-kernel",     "k.elf",
                           "-append",     "console=ttyS0",
                           "-initrd",     "i.img",
                           "-m",          "128",
                           "-smp",        "cpus=4,sockets=1",
                           "-accel",      "tcg,thread=multi",
                           "-serial",     "mon:stdio",
                           "-no-reboot",  "-nographic",
                           "-nodefaults", "-no-user-config",
                           "-display",    "none",
                           "-cpu",        "max",
                           "-M",          "microvm,x-option-roms=off",
                           "-name",       "guest=vm1,debug-threads=on"});
  ASSERT_TRUE(q) << q.error().message;
  const auto& c = q->config;
  EXPECT_EQ(c.kernel, "k.elf");
  EXPECT_EQ(c.cmdline, "console=ttyS0");
  EXPECT_EQ(c.initrd, "i.img");
  EXPECT_EQ(c.memory_bytes, 128ull << 20);
  EXPECT_EQ(c.vcpus, 4);
  EXPECT_EQ(c.accel, "tcg");
  EXPECT_EQ(c.serial.kind, "stdio");
  EXPECT_TRUE(q->no_reboot);
  EXPECT_EQ(c.name, "vm1");
  EXPECT_EQ(parse_run_args({"-kernel", "k", "-smp", "2"})->config.vcpus, 2);
  EXPECT_EQ(parse_run_args({"-kernel", "k", "-enable-kvm"})->config.accel, "kvm");
  EXPECT_TRUE(parse_run_args({"-kernel", "k", "-S"})->start_paused);
  EXPECT_FALSE(q->start_paused);
  EXPECT_EQ(parse_run_args({"-kernel", "k", "-machine", "pc,accel=kvm:tcg"})->config.accel, "auto");
  EXPECT_EQ(parse_run_args({"-kernel", "k", "-M", "q35,accel=tcg"})->config.accel, "tcg");
  auto sock = parse_run_args({"-kernel", "k", "-serial", "unix:/tmp/s.sock,server,nowait"});
  ASSERT_TRUE(sock);
  EXPECT_EQ(sock->config.serial.kind, "socket");
  EXPECT_EQ(sock->config.serial.path, "/tmp/s.sock");
}

TEST(RunOptions, DriveIfNoneTakesItsTransportFromDevice) {
  auto r =
      parse_run_args({"-kernel", "k", "-drive", "file=a.qcow2,if=none,id=d0,format=qcow2", "-drive",
                      "file=b.raw,if=none,id=d1,format=raw,media=disk", "-device",
                      "virtio-blk-pci,drive=d0,num-queues=4,serial=S0,disable-legacy=on", "-device",
                      "virtio-blk-device,drive=d1,id=x", "-device", "virtio-rng-pci", "-device",
                      "isa-debug-exit,iobase=0xf4,iosize=0x04", "-device", "pc-testdev"});
  ASSERT_TRUE(r) << r.error().message;
  const auto& d = r->config.drives;
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].transport, "pci");
  EXPECT_EQ(d[0].num_queues, 4u);
  EXPECT_EQ(d[0].serial, "S0");
  EXPECT_EQ(d[0].id, "d0");
  EXPECT_EQ(d[1].transport, "mmio");
  EXPECT_EQ(d[1].format, "raw");
  EXPECT_TRUE(r->config.virtio_rng);
  EXPECT_EQ(machine_options(r->config).drives[0].num_queues, 4u);
}

TEST(RunOptions, WhatCorvidLacksIsAClearError) {
  auto err = [](Args a) {
    a.insert(a.begin(), {"-kernel", "k"});
    auto r = parse_run_args(a);
    return r ? std::string("(accepted)") : r.error().message;
  };
  EXPECT_EQ(err({"-device", "e1000"}).find("-device e1000: not a device corvid has"), 0u);
  EXPECT_EQ(err({"-device", "isa-debug-exit,iobase=0x501"}),
            "-device isa-debug-exit: corvid's debug-exit port is iobase=0xf4");
  EXPECT_EQ(err({"-drive", "file=a,if=none,id=d0"}),
            "--drive id=d0,if=none: no -device virtio-blk-pci,drive=d0 uses it");
  EXPECT_NE(err({"-drive", "file=a,if=none"}).find("if=none needs an id="), std::string::npos);
  EXPECT_EQ(err({"-device", "virtio-blk-pci,drive=nope"}),
            "-device virtio-blk-pci: no -drive with id=nope");
  EXPECT_EQ(err({"-drive", "file=a,id=d0", "-device", "virtio-blk-pci,drive=d0"}),
            "-device virtio-blk-pci: drive 'd0' is already attached (give it if=none)");
  EXPECT_NE(err({"-drive", "file=a,if=none,id=d0", "-device",
                 "virtio-blk-pci,drive=d0,disable-legacy=off"})
                .find("modern-only"),
            std::string::npos);
  EXPECT_EQ(err({"-display", "gtk"}), "-display gtk: corvid has no display (only 'none')");
  EXPECT_EQ(err({"-accel", "hvf"}), "--accel hvf: expected kvm, xen, tcg or auto");
  EXPECT_EQ(err({"-serial", "unix:/tmp/x"}),
            "--serial unix:/tmp/x: corvid only listens (add ',server')");
  EXPECT_EQ(err({"-smp", "0"}), "--smp 0: expected a positive number");
  EXPECT_EQ(err({"-kernelx", "k"}), "unknown option '-kernelx' (try 'corvid run --help')");
}

}  // namespace
}  // namespace corvid::tools
