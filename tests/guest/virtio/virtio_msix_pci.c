/* virtio_msix_pci: a virtio-rng PCI function completing a request with an MSI-X interrupt
 * (§4.1.5.1.2: queue 0 mapped to vector 1 of the MSI-X table, PCI 3.0 §6.8.2) delivered to the
 * local APIC, instead of being polled. Exit status 0 on success. */
#include "virtio/virtio_guest.h"

#define VECTOR 0x30

static struct virtq queue __attribute__((aligned(4096)));
static uint8_t buf[32];
static volatile int interrupts;

static void on_msi(int vector) {
  (void)vector;
  ++interrupts;
  lapic_eoi();
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  struct vdev dev;
  if (virtio_pci_find(4, &dev, 1) < 1) {
    puts_serial("virtio_msix_pci: no virtio-rng PCI device found\n");
    return 2;
  }
  /* Find the MSI-X capability (id 0x11): table BAR and offset. */
  int slot = dev.pci_slot, cap = (int)(pci_config_read32(slot, 0x34) & 0xfc);
  while (cap && (pci_config_read32(slot, cap) & 0xff) != 0x11)
    cap = (int)((pci_config_read32(slot, cap) >> 8) & 0xfc);
  if (!cap) {
    puts_serial("virtio_msix_pci: no MSI-X capability\n");
    return 3;
  }
  uint32_t table_info = pci_config_read32(slot, cap + 4);
  uint64_t table = virtio_pci_bar(slot, (int)(table_info & 7)) + (table_info & ~7u);
  unsigned vectors = ((pci_config_read32(slot, cap) >> 16) & 0x7ff) + 1;
  printf_serial("virtio_msix_pci: MSI-X table at 0x%lx, %u vectors\n", table, vectors);
  if (vectors < 2) return 4;

  idt_init();
  idt_set_handler(VECTOR, on_msi);
  lapic_enable();
  /* Firmware (SeaBIOS under QEMU) leaves the 8259s delivering the PIT at vectors 8..15: mask them.
   */
  outb(0x21, 0xff);
  outb(0xa1, 0xff);

  if (!(vdev_negotiate(&dev, VIRTIO_F_VERSION_1) & VIRTIO_F_VERSION_1) ||
      vdev_setup_queue(&dev, 0, &queue) != 0) {
    puts_serial("virtio_msix_pci: setup failed\n");
    return 5;
  }
  /* Entry 1: message address = the BSP's local APIC, data = fixed delivery of VECTOR; unmasked. */
  mmio_write32(table + 16 + 0, 0xfee00000u | (lapic_id() << 12));
  mmio_write32(table + 16 + 4, 0);
  mmio_write32(table + 16 + 8, VECTOR);
  mmio_write32(table + 16 + 12, 0);
  pci_config_write32(slot, cap, pci_config_read32(slot, cap) | (1u << 31)); /* MSI-X enable */
  mmio_write16(dev.common + 0x16, 0);                                       /* queue_select */
  mmio_write16(dev.common + 0x1a, 1);                                       /* queue_msix_vector */
  if (mmio_read16(dev.common + 0x1a) != 1) {
    puts_serial("virtio_msix_pci: the device refused vector 1\n");
    return 6;
  }
  vdev_driver_ok(&dev);

  queue.desc[0] = (struct virtq_desc){(uint64_t)(uintptr_t)buf, sizeof buf, VIRTQ_DESC_F_WRITE, 0};
  volatile struct virtq* vq = &queue;
  vq->avail.ring[0] = 0;
  mb();
  vq->avail.idx = 1;
  mb();
  vdev_notify(&dev, 0);
  for (long i = 0; i < 20000000 && interrupts == 0; ++i) {
    sti();
    pause_cpu();
  }
  cli();
  printf_serial("virtio_msix_pci: %d interrupt(s), used idx %u, used len %u\n", interrupts,
                vq->used.idx, vq->used.ring[0].len);
  if (interrupts < 1 || vq->used.idx != 1 || vq->used.ring[0].len != sizeof buf) return 7;
  vdev_reset(&dev);
  puts_serial("virtio_msix_pci: PASS\n");
  return 0;
}
