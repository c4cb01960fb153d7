/* virtio_rng_pci: finds a modern virtio-rng PCI function (§5.4), negotiates EVENT_IDX and
 * INDIRECT_DESC, and asks for random bytes twice (one direct buffer, one through an indirect
 * table). Checks the used lengths and that the bytes are not all zero. Exit status 0 on success. */
#include "virtio/virtio_guest.h"

static struct virtq queue __attribute__((aligned(4096)));
static uint8_t buf[2][256] __attribute__((aligned(64)));
static struct virtq_desc table[2] __attribute__((aligned(16)));

static int nonzero_bytes(const uint8_t* p, unsigned n) {
  int count = 0;
  for (unsigned i = 0; i < n; ++i) count += p[i] != 0;
  return count;
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  struct vdev dev;
  if (virtio_pci_find(4, &dev, 1) < 1) {
    puts_serial("virtio_rng_pci: no virtio-rng PCI device found\n");
    return 2;
  }
  uint64_t f =
      vdev_negotiate(&dev, VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC);
  if (!(f & VIRTIO_F_VERSION_1) || vdev_setup_queue(&dev, 0, &queue) != 0) {
    puts_serial("virtio_rng_pci: setup failed\n");
    return 3;
  }
  /* §2.7.10: with EVENT_IDX, used_event says after which used index we want an interrupt; we poll,
   * so any value is fine, but the device must keep working with it. */
  /* used_event sits right after the ring, wherever the (possibly shortened) ring ends */
  ((volatile uint16_t*)queue.avail.ring)[queue.size] = 0;
  vdev_driver_ok(&dev);

  queue.desc[0] =
      (struct virtq_desc){(uint64_t)(uintptr_t)buf[0], sizeof buf[0], VIRTQ_DESC_F_WRITE, 0};
  int used = virtq_submit_and_wait(&dev, 0, &queue, 0);
  if (used != (int)sizeof buf[0]) {
    printf_serial("virtio_rng_pci: direct request used %d bytes\n", used);
    return 4;
  }
  table[0] = (struct virtq_desc){(uint64_t)(uintptr_t)buf[1], 100,
                                 VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1};
  table[1] = (struct virtq_desc){(uint64_t)(uintptr_t)(buf[1] + 100), 156, VIRTQ_DESC_F_WRITE, 0};
  int indirect = (f & VIRTIO_F_INDIRECT_DESC) != 0;
  if (indirect) {
    queue.desc[1] =
        (struct virtq_desc){(uint64_t)(uintptr_t)table, sizeof table, VIRTQ_DESC_F_INDIRECT, 0};
  } else {
    queue.desc[1] = table[0];
    queue.desc[1].next = 2;
    queue.desc[2] = table[1];
  }
  used = virtq_submit_and_wait(&dev, 0, &queue, 1);
  if (used != 256) {
    printf_serial("virtio_rng_pci: %s request used %d bytes\n", indirect ? "indirect" : "chained",
                  used);
    return 5;
  }
  int a = nonzero_bytes(buf[0], sizeof buf[0]), b = nonzero_bytes(buf[1], sizeof buf[1]);
  printf_serial("virtio_rng_pci: %d and %d of 256 bytes non-zero, features 0x%lx\n", a, b, f);
  if (a < 200 || b < 200) return 6;
  vdev_reset(&dev);
  puts_serial("virtio_rng_pci: PASS\n");
  return 0;
}
