// <devices> of a libvirt domain (formatdomain.html "Devices") onto VmConfig: disks, the serial
// port and console, virtio-rng, the balloon; every other device is named in a warning.
#include "config/domain_devices.h"

#include <cstdlib>
#include <map>

namespace corvid::config {
namespace {

const char* device_reason(const std::string& name) {
  static const std::map<std::string, const char*> kReasons = {
      {"interface", "networking is not supported yet"},
      {"graphics", "corvid has no display"},
      {"video", "corvid has no display"},
      {"input", "corvid has no input devices"},
      {"sound", "corvid has no sound devices"},
      {"audio", "corvid has no sound devices"},
      {"hostdev", "device passthrough is not supported"},
      {"filesystem", "shared filesystems are not supported"},
      {"channel", "guest agent channels are not supported"},
      {"watchdog", "there is no watchdog device"},
      {"tpm", "there is no TPM"},
      {"emulator", "corvid is the emulator"},
      {"parallel", "there is no parallel port"},
      {"redirdev", "USB redirection is not supported"},
      {"smartcard", "there is no smartcard reader"},
      {"panic", "there is no pvpanic device"},
      {"vsock", "vsock is not supported"},
      {"controller", "corvid wires its own buses"},
  };
  auto it = kReasons.find(name);
  return it == kReasons.end() ? "not supported by corvid" : it->second;
}

Result<> map_driver(XmlNode& drv, DriveConfig& d, const std::string& where,
                    std::vector<std::string>& w) {
  if (auto name = drv.attr("name"); name && *name != "qemu")
    w.push_back(
        fmt::format("ignoring name='{}' on <driver> of {}: corvid is the driver", *name, where));
  if (auto type = drv.attr("type")) {
    if (*type != "raw" && *type != "qcow2")
      return errorf(0, "{}: image format '{}' is not supported (raw, qcow2)", where, *type);
    d.format = *type;
  }
  if (auto cache = drv.attr("cache")) d.cache = *cache == "default" ? "writeback" : *cache;
  if (auto io = drv.attr("io")) {
    // io='native' is Linux AIO in QEMU; corvid's native asynchronous engine is io_uring.
    d.aio = *io == "threads" ? "threads" : "io_uring";
  }
  if (auto discard = drv.attr("discard")) d.discard = *discard == "unmap";
  if (auto queues = drv.attr("queues")) {
    // libvirt's multiqueue virtio-blk: the device's num-queues.
    char* end = nullptr;
    unsigned long n = std::strtoul(queues->c_str(), &end, 10);
    if (queues->empty() || *end || n < 1 || n > 64)
      return errorf(0, "{}: queues='{}' is not a number of queues (1..64)", where, *queues);
    d.num_queues = static_cast<unsigned>(n);
  }
  drv.report_rest("<driver> of " + where, w);
  return {};
}

Result<> map_disk(XmlNode disk, DomainConfig& out) {
  auto& w = out.warnings;
  std::string type = disk.attr("type").value_or("file");
  std::string device = disk.attr("device").value_or("disk");
  if ((type != "file" && type != "block") || device != "disk") {
    w.push_back(
        fmt::format("ignoring {}: only file and block disks with device='disk' are "
                    "supported",
                    disk.tag()));
    return {};
  }
  DriveConfig d;
  auto target = disk.child("target");
  if (target) d.id = target->attr("dev").value_or("");
  std::string where = fmt::format("<disk> '{}'", d.id);
  auto source = disk.child("source");
  if (source) d.file = source->attr(type == "file" ? "file" : "dev").value_or("");
  if (d.file.empty()) {
    w.push_back(
        fmt::format("ignoring {} without a source: there is no removable media", disk.tag()));
    return {};
  }
  if (auto drv = disk.child("driver")) CORVID_TRY_VOID(map_driver(*drv, d, where, w));
  if (target) {
    if (auto bus = target->attr("bus"); bus && *bus != "virtio")
      w.push_back(
          fmt::format("ignoring bus='{}' on <target> of {}: attached as virtio-blk", *bus, where));
    target->report_rest("<target> of " + where, w);
  }
  if (disk.child("readonly")) d.read_only = true;
  if (auto serial = disk.child("serial")) d.serial = serial->text();
  source->report_rest("<source> of " + where, w);
  // libvirt writes an empty <backingStore/> for images without one; corvid follows the image's
  // own backing file name, as QEMU does.
  for (auto& b : disk.children("backingStore"))
    if (!b.all_children().empty() || b.raw()->properties)
      w.push_back(fmt::format(
          "ignoring <backingStore> of {}: the image header names its backing file", where));
  for (auto& b : disk.children("boot"))
    w.push_back(
        fmt::format("ignoring {} in {}: corvid boots the <kernel> directly", b.tag(), where));
  for (auto& a : disk.children("address"))
    w.push_back(
        fmt::format("ignoring {} in {}: corvid assigns device addresses itself", a.tag(), where));
  disk.report_rest(where, w);
  out.config.drives.push_back(std::move(d));
  return {};
}

// A character device backend (formatdomain.html "Character device backends").
bool map_chardev(XmlNode& dev, SerialConfig& s, const std::string& where,
                 std::vector<std::string>& w) {
  std::string type = dev.attr("type").value_or("pty");
  if (type == "pty" || type == "stdio") {
    s.kind = type;
  } else if (type == "null") {
    s.kind = "none";
  } else if (type == "file") {
    auto src = dev.child("source");
    s.kind = "file";
    s.path = src ? src->attr("path").value_or("") : "";
    if (src) {
      src->accept_attr("append");  // corvid appends to an existing file, as append='on' does
      src->report_rest("<source> of " + where, w);
    }
  } else {
    w.push_back(fmt::format("ignoring {}: backends are pty, file, stdio and null", dev.tag()));
    return false;
  }
  return true;
}

void map_serial(XmlNode serial, DomainConfig& out, bool& have_serial) {
  auto& w = out.warnings;
  if (have_serial) {
    w.push_back(fmt::format("ignoring {}: corvid has one serial port (COM1)", serial.tag()));
    return;
  }
  SerialConfig s;
  if (!map_chardev(serial, s, "<serial>", w)) return;
  if (auto target = serial.child("target")) {
    if (auto port = target->attr("port"); port && *port != "0")
      w.push_back(fmt::format("ignoring port='{}' on <serial><target>: the port is COM1", *port));
    target->accept_attr("type");  // isa-serial is what COM1 is
    target->child("model");
    target->report_rest("<serial><target>", w);
  }
  serial.report_rest("<serial>", w);
  out.config.serial = s;
  have_serial = true;
}

void map_console(XmlNode console, DomainConfig& out, bool& have_serial) {
  auto& w = out.warnings;
  auto target = console.child("target");
  std::string ttype = target ? target->attr("type").value_or("serial") : "serial";
  if (target) target->accept_attr("port");
  if (ttype == "serial") {
    // libvirt mirrors the first <serial> as a serial <console>; it is the same port.
    if (have_serial) return;
    map_serial(console, out, have_serial);
    return;
  }
  if (ttype != "virtio") {
    w.push_back(fmt::format("ignoring {} with target type='{}': consoles are serial or virtio",
                            console.tag(), ttype));
    return;
  }
  SerialConfig s;
  if (!map_chardev(console, s, "<console>", w)) return;
  out.config.virtio_console = true;
  // VmConfig has one character backend: the virtio console shares it with the serial port.
  if (!have_serial) {
    out.config.serial = s;
    have_serial = true;
  } else if (s.kind != out.config.serial.kind || s.path != out.config.serial.path) {
    w.push_back(
        fmt::format("ignoring the backend of {}: the virtio console shares the serial "
                    "port's {} backend",
                    console.tag(), out.config.serial.kind));
  }
  console.report_rest("<console>", w);
}

void map_rng(XmlNode rng, DomainConfig& out) {
  auto& w = out.warnings;
  if (rng.attr("model") != "virtio") {
    w.push_back(fmt::format("ignoring {}: only virtio rng is supported", rng.tag()));
    return;
  }
  out.config.virtio_rng = true;
  // corvid's virtio-rng reads getrandom(2): the same entropy as /dev/urandom or /dev/random.
  if (auto backend = rng.child("backend"); backend && backend->attr("model") != "random")
    w.push_back(
        fmt::format("ignoring {} of <rng>: entropy comes from getrandom(2)", backend->tag()));
  rng.report_rest("<rng>", w);
}

}  // namespace

Result<> map_devices(XmlNode devices, DomainConfig& out) {
  auto& w = out.warnings;
  bool have_serial = false;
  // Serial ports first, so the console mirror libvirt adds is recognised whatever the order;
  // consoles next, so the virtio-serial controller libvirt adds for one is known to be implied.
  for (auto& s : devices.children("serial")) map_serial(s, out, have_serial);
  for (auto& c : devices.children("console")) map_console(c, out, have_serial);
  // libvirt semantics: a domain without <serial> or <console> has no serial port.
  if (!have_serial) out.config.serial = SerialConfig{.kind = "none"};
  for (auto& dev : devices.all_children()) {
    std::string n = dev.name();
    if (n == "serial" || n == "console") continue;
    if (n == "disk") {
      CORVID_TRY_VOID(map_disk(dev, out));
    } else if (n == "rng") {
      map_rng(dev, out);
    } else if (n == "memballoon") {
      if (dev.attr("model") != "none")
        w.push_back(fmt::format("ignoring {}: there is no balloon device", dev.tag()));
    } else if (n == "controller" && dev.attr("type") == "virtio-serial" &&
               out.config.virtio_console) {
      continue;  // libvirt adds it for the virtio console, which corvid provides on its own
    } else if (n == "controller" &&
               (dev.attr("model") == "pci-root" || dev.attr("model") == "pcie-root")) {
      continue;  // corvid's board has its PCI root bus
    } else {
      w.push_back(fmt::format("ignoring {}: {}", dev.tag(), device_reason(n)));
    }
  }
  return {};
}

}  // namespace corvid::config
