/* blk_write_idle: the virtio-blk exercise (virtio/virtio_blk_test.c: 4 KiB of 0xc5 at 0 and of
 * 0x5a at 1 MiB, a flush, both read back), then a marker line, then idle with interrupts enabled
 * forever. The host can then read the block statistics over QMP and stop the VM (quit, SIGTERM,
 * SIGINT) while the image is open and has been written (tests/e2e/qmp_block_lifecycle). */
#include "virtio/virtio_blk_test.h"

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  struct vdev dev;
  if (virtio_pci_find(2, &dev, 1) < 1) {
    puts_serial("blk_write_idle: no virtio-blk PCI device found\n");
    return 2;
  }
  int r = virtio_blk_exercise(&dev);
  if (r != 0) {
    printf_serial("blk_write_idle: FAIL %d\n", r);
    return r;
  }
  puts_serial("blk_write_idle: written\n");
  /* No IDT: mask the (never initialised) 8259s, so a line the host raises, such as the ACPI power
   * button's, stays pending as for a guest without ACPI support instead of arriving on a vector
   * with no handler (a triple fault, i.e. a reset). */
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  for (;;) sti_hlt();
  return 0;
}
