/* virtio_hostile_pci: a driver that breaks the rules on purpose against a virtio-rng PCI function:
 * a looping chain (§2.7.5.1: the device must not loop; it reports DEVICE_NEEDS_RESET, §2.1.2) and a
 * buffer outside guest RAM. The device must survive both and work again after a reset. Exit
 * status 0 on success. */
#include "virtio/virtio_guest.h"

static struct virtq queue __attribute__((aligned(4096)));
static uint8_t buf[64];

static int wait_needs_reset(struct vdev* d) {
  for (long i = 0; i < 2000000; ++i) {
    if (vdev_status(d) & VIRTIO_STATUS_NEEDS_RESET) return 1;
    __asm__ volatile("pause");
  }
  return 0;
}

static int start(struct vdev* d) {
  if (!(vdev_negotiate(d, VIRTIO_F_VERSION_1) & VIRTIO_F_VERSION_1)) return -1;
  if (vdev_setup_queue(d, 0, &queue) != 0) return -1;
  vdev_driver_ok(d);
  return 0;
}

static void submit(struct vdev* d, uint16_t head) {
  queue.avail.ring[queue.avail.idx % queue.size] = head;
  mb();
  queue.avail.idx++;
  mb();
  vdev_notify(d, 0);
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  struct vdev dev;
  if (virtio_pci_find(4, &dev, 1) < 1) {
    puts_serial("virtio_hostile_pci: no virtio-rng PCI device found\n");
    return 2;
  }
  /* 1. A chain whose descriptors point at each other. */
  if (start(&dev) != 0) return 3;
  queue.desc[0] =
      (struct virtq_desc){(uint64_t)(uintptr_t)buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1};
  queue.desc[1] =
      (struct virtq_desc){(uint64_t)(uintptr_t)buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0};
  submit(&dev, 0);
  if (!wait_needs_reset(&dev)) {
    puts_serial("virtio_hostile_pci: looping chain did not set DEVICE_NEEDS_RESET\n");
    return 4;
  }
  puts_serial("virtio_hostile_pci: looping chain -> DEVICE_NEEDS_RESET\n");

  /* 2. A buffer far beyond guest RAM (64 MiB). The spec leaves the reaction to the device: corvid
   * refuses it (DEVICE_NEEDS_RESET); QEMU writes into unassigned space and completes it. Either
   * way the device must still answer. */
  if (start(&dev) != 0) return 5;
  queue.desc[0] = (struct virtq_desc){0x7f000000000ull, 64, VIRTQ_DESC_F_WRITE, 0};
  submit(&dev, 0);
  int outcome = 0;
  for (long i = 0; i < 2000000 && !outcome; ++i) {
    if (vdev_status(&dev) & VIRTIO_STATUS_NEEDS_RESET)
      outcome = 1;
    else if (((volatile struct virtq*)&queue)->used.idx != 0)
      outcome = 2;
    __asm__ volatile("pause");
  }
  if (outcome == 0) {
    puts_serial("virtio_hostile_pci: out-of-RAM buffer: no answer\n");
    return 6;
  }
  printf_serial("virtio_hostile_pci: out-of-RAM buffer -> %s\n",
                outcome == 1 ? "DEVICE_NEEDS_RESET" : "completed");

  /* 3. After a reset the device serves a well-formed request. */
  if (start(&dev) != 0) return 7;
  queue.desc[0] = (struct virtq_desc){(uint64_t)(uintptr_t)buf, sizeof buf, VIRTQ_DESC_F_WRITE, 0};
  int used = virtq_submit_and_wait(&dev, 0, &queue, 0);
  if (used != (int)sizeof buf) {
    printf_serial("virtio_hostile_pci: after reset the request used %d bytes\n", used);
    return 8;
  }
  vdev_reset(&dev);
  puts_serial("virtio_hostile_pci: PASS\n");
  return 0;
}
