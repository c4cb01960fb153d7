/* virtio_blk_pci: finds a modern virtio-blk PCI function on bus 0, writes two patterns, flushes
 * and reads them back. Exit status 0 on success. */
#include "virtio/virtio_blk_test.h"

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  struct vdev dev;
  if (virtio_pci_find(2, &dev, 1) < 1) {
    puts_serial("virtio_blk_pci: no virtio-blk PCI device found\n");
    return 2;
  }
  int r = virtio_blk_exercise(&dev);
  if (r == 0) puts_serial("virtio_blk_pci: PASS\n");
  return r;
}
