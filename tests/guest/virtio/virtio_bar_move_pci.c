/* virtio_bar_move_pci: the driver moves the memory BAR that holds a virtio-rng function's virtio
 * structures, as an OS may when it reassigns resources (PCI Local Bus 3.0, 6.2.5.1), then:
 *  - a request made available and "notified" at the OLD notify address must not be processed
 *    (nothing decodes there any more; a queue-notify binding left at the old address, such as a
 *    KVM ioeventfd, would process it),
 *  - the same request notified at the NEW address completes, and the common configuration answers
 *    there.
 * Exit status 0 on success. */
#include "virtio/virtio_guest.h"

static struct virtq queue __attribute__((aligned(4096)));
static uint8_t buf[64] __attribute__((aligned(64)));

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define NEW_BASE 0xe0100000ull /* free under QEMU's pc machine and corvid alike */

/* The memory BAR whose range holds addr: its index (address in *base, size in *size), or -1. */
static int bar_holding(int slot, uint64_t addr, uint64_t* base, uint64_t* size) {
  const uint32_t cmd = pci_config_read32(slot, PCI_COMMAND);
  for (int bar = 0; bar < 6; ++bar) {
    const int off = 0x10 + 4 * bar;
    uint32_t lo = pci_config_read32(slot, off);
    if (lo & 1) continue;
    const int is64 = ((lo >> 1) & 3) == 2;
    uint64_t a = lo & ~0xfull;
    if (is64) a |= (uint64_t)pci_config_read32(slot, off + 4) << 32;
    /* Sizing (6.2.5.1) with decoding off, then the address back. */
    pci_config_write32(slot, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
    pci_config_write32(slot, off, 0xffffffffu);
    const uint32_t mask = pci_config_read32(slot, off) & ~0xfu;
    pci_config_write32(slot, off, lo);
    pci_config_write32(slot, PCI_COMMAND, cmd);
    const uint64_t s = (uint64_t)(~mask + 1);
    if (mask != 0 && addr >= a && addr < a + s) {
      *base = a;
      *size = s;
      return bar;
    }
    if (is64) ++bar;
  }
  return -1;
}

static int used_moved(uint16_t seen) {
  volatile struct virtq* vq = &queue;
  return vq->used.idx != seen;
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  struct vdev dev;
  if (virtio_pci_find(4, &dev, 1) < 1) {
    puts_serial("virtio_bar_move_pci: no virtio-rng PCI device found\n");
    return 2;
  }
  if (!(vdev_negotiate(&dev, VIRTIO_F_VERSION_1) & VIRTIO_F_VERSION_1) ||
      vdev_setup_queue(&dev, 0, &queue) != 0) {
    puts_serial("virtio_bar_move_pci: setup failed\n");
    return 3;
  }
  vdev_driver_ok(&dev);
  queue.desc[0] = (struct virtq_desc){(uint64_t)(uintptr_t)buf, sizeof buf, VIRTQ_DESC_F_WRITE, 0};
  if (virtq_submit_and_wait(&dev, 0, &queue, 0) != (int)sizeof buf) {
    puts_serial("virtio_bar_move_pci: request before the move failed\n");
    return 4;
  }

  uint64_t old_base = 0, size = 0;
  const int bar = bar_holding(dev.pci_slot, dev.queue_notify[0], &old_base, &size);
  if (bar < 0 || size > 0x100000) {
    puts_serial("virtio_bar_move_pci: no memory BAR holds the notify address\n");
    return 5;
  }
  /* Decoding off, the BAR to its new home, decoding on (what Linux's resource code does). */
  const uint32_t cmd = pci_config_read32(dev.pci_slot, PCI_COMMAND);
  pci_config_write32(dev.pci_slot, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
  const uint32_t flags = pci_config_read32(dev.pci_slot, 0x10 + 4 * bar) & 0xf;
  pci_config_write32(dev.pci_slot, 0x10 + 4 * bar, (uint32_t)NEW_BASE | flags);
  if (((flags >> 1) & 3) == 2) pci_config_write32(dev.pci_slot, 0x14 + 4 * bar, 0);
  pci_config_write32(dev.pci_slot, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY);
  const uint64_t old_notify = dev.queue_notify[0];
  const uint64_t delta = NEW_BASE - old_base;
  dev.common += delta;
  dev.isr += delta;
  dev.device_cfg += delta;
  dev.notify += delta;
  dev.queue_notify[0] += delta;

  /* A buffer made available, announced at the old address only. */
  volatile struct virtq* vq = &queue;
  const uint16_t seen = vq->used.idx;
  vq->avail.ring[vq->avail.idx % queue.size] = 0;
  mb();
  vq->avail.idx = (uint16_t)(vq->avail.idx + 1);
  mb();
  mmio_write16(old_notify, 0);
  for (int i = 0; i < 20000 && !used_moved(seen); ++i) pause_cpu();
  if (used_moved(seen)) {
    printf_serial("virtio_bar_move_pci: a notify at the old address %lx was processed\n",
                  (unsigned long)old_notify);
    return 6;
  }
  /* The device answers at the new address ... */
  if (vdev_status(&dev) & VIRTIO_STATUS_NEEDS_RESET ||
      !(vdev_status(&dev) & VIRTIO_STATUS_DRIVER_OK)) {
    puts_serial("virtio_bar_move_pci: status lost across the move\n");
    return 7;
  }
  /* ... and the pending request completes once notified there. */
  vdev_notify(&dev, 0);
  for (long i = 0; i < 20000000 && !used_moved(seen); ++i) pause_cpu();
  if (!used_moved(seen)) {
    puts_serial("virtio_bar_move_pci: no completion after the notify at the new address\n");
    return 8;
  }
  printf_serial(
      "virtio_bar_move_pci: BAR %d moved %lx -> %lx; old notify ignored, new one served\n", bar,
      (unsigned long)old_base, (unsigned long)NEW_BASE);
  vdev_reset(&dev);
  puts_serial("virtio_bar_move_pci: PASS\n");
  return 0;
}
