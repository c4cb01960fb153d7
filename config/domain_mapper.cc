// The mapping step: libvirt-normalised domain XML (libxml2) onto VmConfig. The element names and
// their meaning are libvirt's (https://libvirt.org/formatdomain.html); anything corvid does not
// honour becomes one warning line naming it.
#include <libxml/parser.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <memory>

#include "config/domain_devices.h"
#include "config/domain_xml.h"
#include "config/xml_node.h"

namespace corvid::config {
namespace {

// formatdomain.html "Memory Allocation": unit names and their multipliers.
std::optional<uint64_t> unit_multiplier(std::string unit) {
  static const std::map<std::string, uint64_t> kUnits = {
      {"b", 1},          {"bytes", 1},        {"KB", 1000},
      {"k", 1024},       {"KiB", 1024},       {"MB", 1000000},
      {"M", 1 << 20},    {"MiB", 1 << 20},    {"GB", 1000000000},
      {"G", 1 << 30},    {"GiB", 1 << 30},    {"TB", 1000000000000},
      {"T", 1ull << 40}, {"TiB", 1ull << 40}, {"PB", 1000000000000000},
      {"P", 1ull << 50}, {"PiB", 1ull << 50}, {"EB", 1000000000000000000},
      {"E", 1ull << 60}, {"EiB", 1ull << 60}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return std::nullopt;
  return it->second;
}

Result<uint64_t> parse_memory(XmlNode& node) {
  std::string unit = node.attr("unit").value_or("KiB");
  auto mult = unit_multiplier(unit);
  if (!mult) return errorf(0, "<{}>: unknown unit '{}'", node.name(), unit);
  std::string text = node.text();
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end || errno || v > UINT64_MAX / *mult)
    return errorf(0, "<{}>: '{}' is not a size", node.name(), text);
  return v * *mult;
}

Result<LifecycleAction> parse_lifecycle(XmlNode node, std::vector<std::string>& warnings) {
  std::string v = node.text();
  if (v == "destroy") return LifecycleAction::kDestroy;
  if (v == "restart") return LifecycleAction::kRestart;
  if (v == "preserve") return LifecycleAction::kPreserve;
  // The coredump/rename variants need a dump or a renamed domain that corvid does not keep.
  if (v == "coredump-destroy" || v == "rename-restart" || v == "coredump-restart") {
    bool restart = v != "coredump-destroy";
    warnings.push_back(fmt::format("ignoring <{}>{}</{}>: treated as {}", node.name(), v,
                                   node.name(), restart ? "restart" : "destroy"));
    return restart ? LifecycleAction::kRestart : LifecycleAction::kDestroy;
  }
  return errorf(0, "<{}>: unknown action '{}'", node.name(), v);
}

Result<> map_os(XmlNode os, DomainConfig& out) {
  auto& w = out.warnings;
  if (auto type = os.child("type")) {
    if (type->text() != "hvm")
      return errorf(0, "<os><type>{}</type>: corvid runs only full (hvm) guests", type->text());
    // Without an arch the test driver picks i686; both run on corvid's x86-64 board.
    std::string arch = type->attr("arch").value_or("x86_64");
    if (arch != "x86_64" && arch != "i686")
      return errorf(0, "<os><type arch='{}'>: corvid runs only x86 guests", arch);
    if (auto machine = type->attr("machine"))
      w.push_back(
          fmt::format("ignoring machine='{}' on <os><type>: corvid has one x86 board", *machine));
    type->report_rest("<os><type>", w);
  }
  if (auto k = os.child("kernel")) out.config.kernel = k->text();
  if (auto i = os.child("initrd")) out.config.initrd = i->text();
  if (auto c = os.child("cmdline")) out.config.cmdline = c->text();
  auto boots = os.children("boot");
  // libvirt adds <boot dev='hd'/> to every domain; with a <kernel> the boot order has no meaning.
  for (auto& b : boots) {
    if (boots.size() == 1 && b.attr("dev") == "hd" && !out.config.kernel.empty()) continue;
    w.push_back(fmt::format("ignoring {} in <os>: corvid boots the <kernel> directly", b.tag()));
  }
  os.report_rest("<os>", w, "corvid boots the <kernel> directly, without firmware");
  return {};
}

// Elements corvid knows it does not honour, with the reason users see.
const char* top_level_reason(const std::string& name) {
  static const std::map<std::string, const char*> kReasons = {
      {"title", "descriptive metadata is not used by corvid"},
      {"description", "descriptive metadata is not used by corvid"},
      {"metadata", "descriptive metadata is not used by corvid"},
      {"cpu", "the guest sees the accelerator's default CPU model"},
      {"features", "corvid's board decides the platform features"},
      {"clock", "the guest clock is the host's UTC"},
      {"pm", "guest suspend is not supported"},
      {"memoryBacking", "guest RAM is anonymous host memory"},
      {"maxMemory", "memory hotplug is not supported"},
      {"cputune", "vCPU tuning is not supported"},
      {"numatune", "NUMA placement is not supported"},
      {"blkiotune", "block I/O tuning is not supported"},
      {"iothreads", "corvid has one I/O thread"},
      {"seclabel", "security labels are not applied"},
      {"resource", "resource partitions are not supported"},
      {"sysinfo", "SMBIOS tables are not provided"},
  };
  auto it = kReasons.find(name);
  return it == kReasons.end() ? "not supported by corvid" : it->second;
}

struct XmlDocDeleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

}  // namespace

Result<DomainConfig> map_domain_xml(std::string_view xml) {
  std::unique_ptr<xmlDoc, XmlDocDeleter> doc(xmlReadMemory(
      xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
      XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc || !xmlDocGetRootElement(doc.get())) return errorf(0, "normalised XML does not parse");
  XmlNode dom(xmlDocGetRootElement(doc.get()));
  if (dom.name() != "domain") return errorf(0, "root element is <{}>, not <domain>", dom.name());

  DomainConfig out;
  VmConfig& c = out.config;
  auto& w = out.warnings;

  std::string type = dom.attr("type").value_or("");
  if (type == "kvm" || type == "xen") {
    c.accel = type;
  } else if (type == "qemu") {
    c.accel = "tcg";  // libvirt's type='qemu' is plain emulation: corvid's translator
  } else {
    return errorf(0, "<domain type='{}'>: corvid runs kvm, xen and qemu (translator) domains",
                  type);
  }
  if (auto n = dom.child("name")) c.name = n->text();
  if (auto u = dom.child("uuid")) c.uuid = u->text();
  if (auto m = dom.child("memory")) {
    c.memory_bytes = CORVID_TRY(parse_memory(*m));
    m->report_rest("<memory>", w);
  }
  if (auto m = dom.child("currentMemory")) {
    uint64_t current = CORVID_TRY(parse_memory(*m));
    if (current != c.memory_bytes)
      w.push_back(fmt::format(
          "ignoring <currentMemory> of {} KiB: there is no balloon, the guest gets all {} KiB of "
          "<memory>",
          current >> 10, c.memory_bytes >> 10));
    m->report_rest("<currentMemory>", w);
  }
  if (auto v = dom.child("vcpu")) {
    long n = std::strtol(v->text().c_str(), nullptr, 10);
    c.vcpus = n > 0 && n < 100000 ? static_cast<int>(n) : 0;
    if (v->attr("placement") != "static" && v->attr("placement"))
      w.push_back(fmt::format("ignoring placement='{}' on <vcpu>: vCPU threads float",
                              *v->attr("placement")));
    if (auto cur = v->attr("current"); cur && std::atoi(cur->c_str()) != c.vcpus)
      w.push_back(
          fmt::format("ignoring current='{}' on <vcpu>: all {} vCPUs are started", *cur, c.vcpus));
    v->report_rest("<vcpu>", w, "vCPU pinning is not supported");
  }
  if (auto os = dom.child("os")) CORVID_TRY_VOID(map_os(*os, out));
  if (auto a = dom.child("on_poweroff")) c.on_poweroff = CORVID_TRY(parse_lifecycle(*a, w));
  if (auto a = dom.child("on_reboot")) c.on_reboot = CORVID_TRY(parse_lifecycle(*a, w));
  if (auto a = dom.child("on_crash")) c.on_crash = CORVID_TRY(parse_lifecycle(*a, w));
  // libvirt adds <clock offset='utc'/> to every domain; that is what corvid's guests see.
  if (auto clock = dom.child("clock")) {
    if (clock->attr("offset") != "utc" || !clock->all_children().empty())
      w.push_back(fmt::format("ignoring {}: {}", clock->tag(), top_level_reason("clock")));
  }
  if (auto devices = dom.child("devices")) {
    CORVID_TRY_VOID(map_devices(*devices, out));
  } else {
    c.serial = SerialConfig{.kind = "none"};  // no <serial>, no serial port
  }

  for (auto& child : dom.all_children()) {
    std::string n = child.name();
    static const std::array kDone = {"name",     "uuid",  "memory",      "currentMemory",
                                     "vcpu",     "os",    "on_poweroff", "on_reboot",
                                     "on_crash", "clock", "devices"};
    if (std::find(kDone.begin(), kDone.end(), n) != kDone.end()) continue;
    if (n == "features") {
      std::string list;
      for (auto& f : child.all_children()) list += (list.empty() ? "" : ", ") + f.name();
      w.push_back(fmt::format("ignoring <features> ({}): {}", list, top_level_reason(n)));
      continue;
    }
    w.push_back(fmt::format("ignoring {}: {}", child.tag(), top_level_reason(n)));
  }
  for (const char* a : {"type", "id"}) dom.accept_attr(a);
  dom.report_rest("<domain>", w, "not supported by corvid", /*include_children=*/false);
  return out;
}

Result<DomainConfig> load_domain_xml(std::string_view xml) {
  auto normalized = CORVID_TRY(normalize_domain_xml(xml));
  auto out = CORVID_TRY(map_domain_xml(normalized));
  // libvirt accepted the document, so it parses; look for the user's own <uuid>.
  std::unique_ptr<xmlDoc, XmlDocDeleter> original(
      xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  xmlNode* root = original ? xmlDocGetRootElement(original.get()) : nullptr;
  out.uuid_generated = !root || !XmlNode(root).child("uuid");
  return out;
}

}  // namespace corvid::config
