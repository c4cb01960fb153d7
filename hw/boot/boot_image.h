// Loading a kernel into guest RAM: PVH ELF images (Xen's PVH boot ABI, used by our test guests
// and by Linux's vmlinux with CONFIG_PVH), Linux bzImages (the x86 boot protocol) and multiboot v1
// images (ELF or a.out kludge), as qemu-system-x86_64 -kernel takes them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "accel/accelerator.h"
#include "fdt/machine_description.h"
#include "hw/core/guest_memory.h"

namespace corvid::hw::boot {

struct BootInputs {
  std::span<const uint8_t> kernel;  // the whole file
  std::string kernel_name;          // its path: multiboot's command line starts with it
  std::string cmdline;
  std::span<const uint8_t> initrd;  // empty when none
  std::string initrd_name;          // the initrd's file name: a multiboot module's string
  std::span<const uint8_t> dtb;     // the machine's device tree blob, empty when none
  std::vector<fdt::MemoryRange> e820;
  uint64_t low_ram_top = 0;  // modules and initrd go below this
  uint64_t rsdp_addr = 0;    // ACPI RSDP: PVH rsdp_paddr, boot_params.acpi_rsdp_addr; 0 = none
};

struct LoadedKernel {
  accel::BootState state;  // for the boot vCPU
  std::string format;      // "pvh", "bzImage" or "multiboot"
  uint64_t kernel_start = 0, kernel_end = 0;
  uint64_t initrd_addr = 0, dtb_addr = 0;
};

// Picks the loader from the file's magic, in QEMU's order: a bzImage's "HdrS", then a multiboot
// header, then a PVH ELF note. Every offset and size read from the file is checked:
// a truncated or malformed kernel is an error naming what is wrong, never a crash.
Result<LoadedKernel> load_kernel(const GuestMemory& memory, const BootInputs& in);

// The loaders, exposed for tests.
Result<LoadedKernel> load_pvh_elf(const GuestMemory& memory, const BootInputs& in);
Result<LoadedKernel> load_bzimage(const GuestMemory& memory, const BootInputs& in);

// The multiboot v1 header search (first 8192 bytes, 4-byte aligned): found with a valid
// checksum, or the offset of a magic whose checksum is wrong.
struct MultibootProbe {
  bool found = false, bad_checksum = false;
  uint64_t offset = 0;
};
MultibootProbe probe_multiboot(std::span<const uint8_t> kernel);
Result<LoadedKernel> load_multiboot(const GuestMemory& memory, const BootInputs& in,
                                    uint64_t header_offset);

// Shared helpers: copies cmdline (NUL-terminated) to x86::kCmdline; places `data` page-aligned
// just below `top`, not below `floor`; returns its address.
Result<uint64_t> write_cmdline(const GuestMemory& memory, const std::string& cmdline, uint64_t max);
Result<uint64_t> place_below(const GuestMemory& memory, std::span<const uint8_t> data, uint64_t top,
                             uint64_t floor, const char* what);

}  // namespace corvid::hw::boot
