#include "fdt/fdt_builder.h"

#include <libfdt.h>

#include <fmt/format.h>

#include <string>

namespace corvid::fdt {

namespace {

// PCI bus binding (IEEE 1275 PCI bus binding §2.2.1.1): phys.hi space codes.
constexpr uint32_t kPciSpaceIo = 0x01000000;
constexpr uint32_t kPciSpaceMem32 = 0x02000000;
constexpr uint32_t kPciSpaceMem64 = 0x03000000;
// ISA binding: the first address cell says I/O (1) or memory (0).
constexpr uint32_t kIsaIo = 1;

uint32_t hi(uint64_t v) {
  return static_cast<uint32_t>(v >> 32);
}
uint32_t lo(uint64_t v) {
  return static_cast<uint32_t>(v);
}

// A thin wrapper over libfdt's sequential-write API that remembers the first error.
class Writer {
 public:
  explicit Writer(size_t size) : blob_(size) {
    err_ = fdt_create(blob_.data(), static_cast<int>(size));
  }
  int error() const { return err_; }
  std::vector<uint8_t>& blob() { return blob_; }

  void reserve_done() { check(fdt_finish_reservemap(blob_.data())); }
  void begin(const std::string& name) { check(fdt_begin_node(blob_.data(), name.c_str())); }
  void end() { check(fdt_end_node(blob_.data())); }
  void finish() { check(fdt_finish(blob_.data())); }
  void prop(const char* name, const std::string& s) {
    check(fdt_property_string(blob_.data(), name, s.c_str()));
  }
  void prop(const char* name) { check(fdt_property(blob_.data(), name, nullptr, 0)); }
  void u32(const char* name, uint32_t v) { check(fdt_property_u32(blob_.data(), name, v)); }
  void cells(const char* name, const std::vector<uint32_t>& v) {
    std::vector<fdt32_t> be;
    be.reserve(v.size());
    for (uint32_t c : v) be.push_back(cpu_to_fdt32(c));
    check(
        fdt_property(blob_.data(), name, be.data(), static_cast<int>(be.size() * sizeof(fdt32_t))));
  }
  // "compatible"-style string lists.
  void strings(const char* name, const std::vector<std::string>& list) {
    std::string joined;
    for (const std::string& s : list) joined.append(s).push_back('\0');
    check(fdt_property(blob_.data(), name, joined.data(), static_cast<int>(joined.size())));
  }

 private:
  void check(int r) {
    if (err_ == 0 && r < 0) err_ = r;
  }
  std::vector<uint8_t> blob_;
  int err_ = 0;
};

void write_cpus(Writer& w, const MachineDescription& m) {
  w.begin("cpus");
  w.u32("#address-cells", 1);
  w.u32("#size-cells", 0);
  for (int i = 0; i < m.cpus; ++i) {
    w.begin(fmt::format("cpu@{:x}", i));
    w.prop("device_type", "cpu");
    w.u32("reg", static_cast<uint32_t>(i));  // the local APIC id
    w.end();
  }
  w.end();
}

void write_apics(Writer& w, const MachineDescription& m) {
  w.begin(fmt::format("lapic@{:x}", m.lapic_base));
  w.prop("compatible", "intel,ce4100-lapic");
  w.cells("reg", {hi(m.lapic_base), lo(m.lapic_base), 0, 0x1000});
  w.end();
  w.begin(fmt::format("ioapic@{:x}", m.ioapic_base));
  w.prop("compatible", "intel,ce4100-ioapic");
  w.prop("interrupt-controller");
  w.u32("#interrupt-cells", 2);
  w.u32("#address-cells", 0);
  w.cells("reg", {hi(m.ioapic_base), lo(m.ioapic_base), 0, 0x1000});
  w.u32("corvid,pins", m.ioapic_pins);
  w.u32("phandle", kIoapicPhandle);
  w.end();
}

void write_isa(Writer& w, const MachineDescription& m) {
  w.begin("isa");
  w.prop("compatible", "isa");
  w.prop("device_type", "isa");
  w.u32("#address-cells", 2);
  w.u32("#size-cells", 1);
  w.prop("ranges");  // I/O ports are not translated on x86
  for (const UartDesc& u : m.uarts) {
    w.begin(fmt::format("serial@{:x}", u.port));
    w.prop("compatible", "ns16550a");
    w.cells("reg", {kIsaIo, u.port, 8});
    w.u32("clock-frequency", u.clock_hz);
    w.cells("interrupts", {u.irq, kIrqTypeEdgeRising});
    w.end();
  }
  if (m.debug_exit_port != 0) {
    w.begin(fmt::format("debug-exit@{:x}", m.debug_exit_port));
    w.prop("compatible", "corvid,debug-exit");
    w.cells("reg", {kIsaIo, m.debug_exit_port, 4});
    w.end();
  }
  w.end();
}

void write_pci(Writer& w, const PciHostDesc& pci) {
  const bool ecam = pci.ecam_size != 0;
  w.begin(ecam ? fmt::format("pci@{:x}", pci.ecam_base) : fmt::format("pci@{:x}", pci.conf1_port));
  if (ecam) {
    w.prop("compatible", "pci-host-ecam-generic");
    w.cells("reg", {hi(pci.ecam_base), lo(pci.ecam_base), hi(pci.ecam_size), lo(pci.ecam_size)});
  } else {
    // Configuration mechanism #1 through I/O ports: no reg in the memory space.
    w.prop("compatible", "corvid,pci-host-conf1");
    w.u32("corvid,conf1-port", pci.conf1_port);
  }
  w.prop("device_type", "pci");
  w.u32("#address-cells", 3);
  w.u32("#size-cells", 2);
  w.u32("#interrupt-cells", 1);
  w.cells("bus-range", {0, 0});
  // ranges: child (3 cells) -> parent (2 cells), size (2 cells); identity on x86.
  std::vector<uint32_t> ranges;
  auto add_range = [&](uint32_t space, uint64_t base, uint64_t size) {
    if (size == 0) return;
    ranges.insert(ranges.end(),
                  {space, hi(base), lo(base), hi(base), lo(base), hi(size), lo(size)});
  };
  add_range(kPciSpaceIo, pci.io_base, pci.io_size);
  add_range(kPciSpaceMem32, pci.mmio32_base, pci.mmio32_size);
  add_range(kPciSpaceMem64, pci.mmio64_base, pci.mmio64_size);
  if (!ranges.empty()) w.cells("ranges", ranges);

  // interrupt-map (PCI bus binding / "Open Firmware Recommended Practice: Interrupt Mapping"):
  // every slot's INTA..INTD to an IOAPIC input, with the usual swizzle (slot + pin - 1) mod 4.
  if (!pci.intx_gsis.empty()) {
    std::vector<uint32_t> map;
    for (uint32_t slot = 0; slot < 32; ++slot) {
      for (uint32_t pin = 1; pin <= 4; ++pin) {
        const uint32_t gsi = pci.intx_gsis[(slot + pin - 1) % pci.intx_gsis.size()];
        map.insert(map.end(), {slot << 11, 0, 0, pin, kIoapicPhandle, gsi, kIrqTypeLevelHigh});
      }
    }
    w.cells("interrupt-map", map);
    w.cells("interrupt-map-mask", {0xf800, 0, 0, 7});
  }
  for (const PciHostDesc::Device& d : pci.devices) {
    w.begin(fmt::format("{}@{:x}", d.name.empty() ? "pci" : d.name, d.slot));
    w.prop("compatible", fmt::format("pci{:x},{:x}", d.vendor, d.device));
    w.cells("reg", {uint32_t{d.slot} << 11, 0, 0, 0, 0});
    w.end();
  }
  w.end();
}

}  // namespace

Result<std::vector<uint8_t>> build_fdt(const MachineDescription& m) {
  if (m.cpus < 1) return errorf(EINVAL, "device tree: {} CPUs", m.cpus);
  bool any_ram = false;
  for (const MemoryRange& r : m.memory) any_ram |= r.type == MemoryRange::Type::kRam && r.size != 0;
  if (!any_ram) return errorf(EINVAL, "device tree: the machine has no RAM");
  for (const VirtioMmioDesc& v : m.virtio_mmio) {
    if (v.size == 0)
      return errorf(EINVAL, "device tree: virtio-mmio device at 0x{:x} has no size", v.base);
  }
  if (m.pci.present && m.pci.intx_gsis.size() > 4) {
    return errorf(EINVAL, "device tree: {} INTx lines (at most 4)", m.pci.intx_gsis.size());
  }

  // Grow the buffer until the tree fits (a PCI interrupt-map alone is ~3.5 KiB).
  for (size_t size = 16 << 10; size <= (4u << 20); size *= 2) {
    Writer w(size);
    w.reserve_done();
    w.begin("");
    w.u32("#address-cells", 2);
    w.u32("#size-cells", 2);
    w.prop("compatible", "corvid,x86-virt");
    w.prop("model", "corvid");
    w.u32("interrupt-parent", kIoapicPhandle);

    w.begin("chosen");
    w.prop("bootargs", m.cmdline);
    if (!m.uarts.empty())
      w.prop("stdout-path", fmt::format("/isa/serial@{:x}", m.uarts.front().port));
    w.end();

    for (const MemoryRange& r : m.memory) {
      if (r.type != MemoryRange::Type::kRam || r.size == 0) continue;
      w.begin(fmt::format("memory@{:x}", r.base));
      w.prop("device_type", "memory");
      w.cells("reg", {hi(r.base), lo(r.base), hi(r.size), lo(r.size)});
      w.end();
    }
    write_cpus(w, m);
    write_apics(w, m);
    write_isa(w, m);
    if (m.pci.present) write_pci(w, m.pci);
    for (const VirtioMmioDesc& v : m.virtio_mmio) {
      // virtio-mmio binding (Linux Documentation/devicetree/bindings/virtio/mmio.yaml).
      w.begin(fmt::format("virtio_mmio@{:x}", v.base));
      w.prop("compatible", "virtio,mmio");
      w.cells("reg", {hi(v.base), lo(v.base), hi(v.size), lo(v.size)});
      w.cells("interrupts", {v.irq, kIrqTypeLevelHigh});
      w.prop("dma-coherent");
      if (v.device_id != 0) w.u32("corvid,device-id", v.device_id);
      w.end();
    }
    w.end();
    w.finish();
    if (w.error() == -FDT_ERR_NOSPACE) continue;
    if (w.error() != 0) return errorf(EINVAL, "device tree: libfdt: {}", fdt_strerror(w.error()));
    std::vector<uint8_t> blob = std::move(w.blob());
    blob.resize(fdt_totalsize(blob.data()));
    return blob;
  }
  return errorf(E2BIG, "device tree: larger than 4 MiB");
}

}  // namespace corvid::fdt
