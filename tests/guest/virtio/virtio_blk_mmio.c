/* virtio_blk_mmio: finds a virtio-blk device on virtio-mmio (the device tree corvid passes as a PVH
 * module, the command line QEMU's microvm passes, or probing), writes two patterns, flushes and
 * reads them back. Exit status 0 on success. */
#include "virtio/virtio_blk_test.h"

int guest_main(struct hvm_start_info* info) {
  serial_init();
  const char* cmdline =
      (info && info->cmdline_paddr) ? (const char*)(uintptr_t)info->cmdline_paddr : "";
  printf_serial("virtio_blk_mmio: cmdline \"%s\"\n", cmdline);
  struct vdev dev;
  const void* fdt = pvh_find_fdt(info);
  int found = fdt ? virtio_mmio_find_fdt(fdt, 2, &dev, 1) : 0;
  if (found < 1) found = virtio_mmio_find(cmdline, 2, &dev, 1);
  if (found < 1) {
    puts_serial("virtio_blk_mmio: no virtio-blk device found\n");
    return 2;
  }
  int r = virtio_blk_exercise(&dev);
  if (r == 0) puts_serial("virtio_blk_mmio: PASS\n");
  return r;
}
