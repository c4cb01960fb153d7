/* virtio_blk_mmio: finds a virtio-blk device on virtio-mmio (command line or probing), writes two
 * patterns, flushes and reads them back. Exit status 0 on success. */
#include "virtio/virtio_blk_test.h"

int guest_main(struct hvm_start_info* info) {
  serial_init();
  const char* cmdline =
      (info && info->cmdline_paddr) ? (const char*)(uintptr_t)info->cmdline_paddr : "";
  printf_serial("virtio_blk_mmio: cmdline \"%s\"\n", cmdline);
  struct vdev dev;
  if (virtio_mmio_find(cmdline, 2, &dev, 1) < 1) {
    puts_serial("virtio_blk_mmio: no virtio-blk device found\n");
    return 2;
  }
  int r = virtio_blk_exercise(&dev);
  if (r == 0) puts_serial("virtio_blk_mmio: PASS\n");
  return r;
}
