// Linux bzImage loading through the 64-bit boot protocol (Linux's Documentation/arch/x86/boot.rst:
// "The Real-Mode Kernel Header", "64-bit Boot Protocol"; zero-page layout in zero-page.rst).
#include <algorithm>
#include <cstring>

#include "base/endian.h"
#include "hw/boot/boot_cpu.h"
#include "hw/boot/boot_image.h"
#include "hw/x86/memory_map.h"

namespace corvid::hw::boot {
namespace {

// Setup header fields (offsets in the file and in boot_params).
constexpr uint64_t kSetupSects = 0x1f1, kBootFlag = 0x1fe, kJump = 0x200, kVersion = 0x206,
                   kTypeOfLoader = 0x210, kLoadFlags = 0x211, kRamdiskImage = 0x218,
                   kRamdiskSize = 0x21c, kHeapEndPtr = 0x224, kCmdLinePtr = 0x228,
                   kInitrdAddrMax = 0x22c, kXloadflags = 0x236, kCmdlineSize = 0x238,
                   kSetupDataPtr = 0x250, kInitSize = 0x260;
// boot_params fields outside the header.
constexpr uint64_t kE820Entries = 0x1e8, kE820Table = 0x2d0;
constexpr size_t kE820Max = 128;

constexpr uint8_t kLoadedHigh = 0x01, kCanUseHeap = 0x80;
constexpr uint16_t kXlfKernel64 = 0x01;
constexpr uint16_t kMinVersion = 0x20c;  // 2.12: xloadflags, the 64-bit entry flag
constexpr uint32_t kSetupDtb = 2;        // setup_data type SETUP_DTB
constexpr uint64_t kLoadAddr = x86::kHighMemStart;

}  // namespace

Result<LoadedKernel> load_bzimage(const GuestMemory& memory, const BootInputs& in) {
  auto f = in.kernel;
  if (f.size() < 0x270)
    return errorf(ENOEXEC, "bzImage: {} bytes is too short for a boot header", f.size());
  if (load_le16(&f[kBootFlag]) != 0xaa55)
    return make_error(ENOEXEC, "bzImage: boot flag 0xaa55 missing");
  const uint16_t version = load_le16(&f[kVersion]);
  if (version < kMinVersion)
    return errorf(ENOEXEC, "bzImage: boot protocol {}.{:02} is too old; 64-bit entry needs 2.12",
                  version >> 8, version & 0xff);
  if (!(f[kLoadFlags] & kLoadedHigh))
    return make_error(ENOEXEC, "bzImage: not a bzImage (zImage loads low)");
  if (!(load_le16(&f[kXloadflags]) & kXlfKernel64))
    return make_error(ENOEXEC, "bzImage: the kernel has no 64-bit entry point (XLF_KERNEL_64)");
  uint64_t setup_sects = f[kSetupSects] ? f[kSetupSects] : 4;
  const uint64_t setup_size = (setup_sects + 1) * 512;
  if (setup_size >= f.size())
    return make_error(ENOEXEC, "bzImage: setup code covers the whole file");
  const uint64_t header_end = kJump + 2 + f[kJump + 1];
  if (header_end > setup_size || header_end > 0x1000)
    return make_error(ENOEXEC, "bzImage: setup header overruns");

  const auto kernel = f.subspan(setup_size);
  const uint64_t init_size = load_le32(&f[kInitSize]);
  const uint64_t need = std::max<uint64_t>(kernel.size(), init_size);
  if (!memory.contains(kLoadAddr, need))
    return errorf(ENOMEM, "bzImage: the kernel needs {} MiB from 1 MiB on; guest RAM is too small",
                  (need + (1 << 20) - 1) >> 20);
  CORVID_TRY_VOID(memory.write(kLoadAddr, kernel.data(), kernel.size()));

  LoadedKernel k;
  k.format = "bzImage";
  k.kernel_start = kLoadAddr;
  k.kernel_end = kLoadAddr + need;

  // The zero page: cleared, then the kernel's own setup header copied in and amended.
  const uint64_t zp = x86::kZeroPage;
  CORVID_TRY_VOID(memory.fill(zp, 0, 0x1000));
  CORVID_TRY_VOID(memory.write(zp + kSetupSects, &f[kSetupSects], header_end - kSetupSects));
  CORVID_TRY_VOID(memory.write_u8(zp + kTypeOfLoader, 0xff));  // "undefined" boot loader
  CORVID_TRY_VOID(memory.write_u8(zp + kLoadFlags, f[kLoadFlags] | kCanUseHeap));
  CORVID_TRY_VOID(memory.write_le16(zp + kHeapEndPtr, 0xfe00));

  uint32_t cmdline_limit = load_le32(&f[kCmdlineSize]);
  if (cmdline_limit == 0) cmdline_limit = 255;  // protocol < 2.06 default; kept for safety
  if (in.cmdline.size() > cmdline_limit)
    return errorf(E2BIG, "bzImage: command line of {} bytes exceeds the kernel's limit of {}",
                  in.cmdline.size(), cmdline_limit);
  uint64_t cmdline = CORVID_TRY(write_cmdline(memory, in.cmdline, x86::kCmdlineMax));
  CORVID_TRY_VOID(memory.write_le32(zp + kCmdLinePtr, static_cast<uint32_t>(cmdline)));

  if (!in.initrd.empty()) {
    // "initrd at the top of low memory", below the kernel's initrd_addr_max.
    uint64_t top = std::min<uint64_t>(in.low_ram_top, uint64_t{load_le32(&f[kInitrdAddrMax])} + 1);
    k.initrd_addr = CORVID_TRY(place_below(memory, in.initrd, top, k.kernel_end, "initrd"));
    CORVID_TRY_VOID(memory.write_le32(zp + kRamdiskImage, static_cast<uint32_t>(k.initrd_addr)));
    CORVID_TRY_VOID(memory.write_le32(zp + kRamdiskSize, static_cast<uint32_t>(in.initrd.size())));
  }

  if (!in.dtb.empty()) {
    // struct setup_data { u64 next; u32 type; u32 len; u8 data[]; } chained from hdr.setup_data.
    if (in.dtb.size() + 16 > x86::kSetupDataMax)
      return errorf(E2BIG, "device tree of {} bytes is too large for setup_data", in.dtb.size());
    CORVID_TRY_VOID(memory.write_le64(x86::kSetupData, 0));
    CORVID_TRY_VOID(memory.write_le32(x86::kSetupData + 8, kSetupDtb));
    CORVID_TRY_VOID(memory.write_le32(x86::kSetupData + 12, static_cast<uint32_t>(in.dtb.size())));
    CORVID_TRY_VOID(memory.write(x86::kSetupData + 16, in.dtb.data(), in.dtb.size()));
    CORVID_TRY_VOID(memory.write_le64(zp + kSetupDataPtr, x86::kSetupData));
    k.dtb_addr = x86::kSetupData + 16;
  }

  if (in.e820.size() > kE820Max)
    return errorf(E2BIG, "{} e820 entries (max {})", in.e820.size(), kE820Max);
  // boot_params.acpi_rsdp_addr (zero-page.rst, offset 0x070): Linux takes the RSDP from here
  // before scanning the BIOS area.
  CORVID_TRY_VOID(memory.write_le64(zp + 0x070, in.rsdp_addr));
  CORVID_TRY_VOID(memory.write_u8(zp + kE820Entries, static_cast<uint8_t>(in.e820.size())));
  for (size_t i = 0; i < in.e820.size(); ++i) {
    const uint64_t e = zp + kE820Table + i * 20;
    CORVID_TRY_VOID(memory.write_le64(e, in.e820[i].base));
    CORVID_TRY_VOID(memory.write_le64(e + 8, in.e820[i].size));
    CORVID_TRY_VOID(memory.write_le32(e + 16, static_cast<uint32_t>(in.e820[i].type)));
  }

  // 64-bit entry is 0x200 past the protected-mode kernel's start; %rsi = boot_params.
  k.state = CORVID_TRY(long_mode_entry(memory, kLoadAddr + 0x200));
  k.state.rsi = zp;
  k.state.rsp = x86::kBootStack;
  return k;
}

}  // namespace corvid::hw::boot
