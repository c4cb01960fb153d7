/* virtio_blk_smc_pci: code loaded by device DMA must run (issue 7). The guest writes a page of
 * machine code that returns 2 to sector 0 of a virtio-blk PCI disk and flushes, then stores code
 * that returns 1 into the same page with the CPU and calls it (a translator now holds translated
 * blocks for that page), then reads sector 0 back into the page by DMA and calls it again: it
 * must return 2. Under corvid's translator the device's write never passes through a vCPU store,
 * so only the virtqueue's DMA write report (GuestMemory::notify_dma_write) drops the stale blocks.
 * Exit status 0 on success. */
#include "virtio/virtio_guest.h"

#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4

struct blk_req_header {
  uint32_t type, reserved;
  uint64_t sector;
};

static struct virtq queue __attribute__((aligned(4096)));
static struct blk_req_header header __attribute__((aligned(16)));
static uint8_t status_byte;
/* Its own page: the only thing executed from it is the function the test swaps. */
static uint8_t code_page[4096] __attribute__((aligned(4096)));

static uint32_t call_code(void) {
  return ((uint32_t(*)(void))code_page)();
}

/* mov eax, imm32; ret */
static void put_code(uint32_t value) {
  volatile uint8_t* p = code_page;
  p[0] = 0xb8;
  for (int i = 0; i < 4; ++i) p[1 + i] = (uint8_t)(value >> (8 * i));
  p[5] = 0xc3;
}

static void set_desc(int i, void* addr, uint32_t len, uint16_t flags) {
  queue.desc[i].addr = (uint64_t)(uintptr_t)addr;
  queue.desc[i].len = len;
  queue.desc[i].flags = flags;
  queue.desc[i].next = (uint16_t)(i + 1);
}

/* Header, optional page of data (device-writable for IN), status. Returns the used length. */
static int blk_request(struct vdev* d, uint32_t type, uint64_t sector, void* data, uint32_t len) {
  header.type = type;
  header.reserved = 0;
  header.sector = sector;
  status_byte = 0xff;
  int i = 0;
  set_desc(i++, &header, sizeof header, VIRTQ_DESC_F_NEXT);
  if (len > 0) {
    set_desc(i++, data, len,
             (uint16_t)(VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0)));
  }
  set_desc(i, &status_byte, 1, VIRTQ_DESC_F_WRITE);
  queue.desc[i].next = 0;
  int used = virtq_submit_and_wait(d, 0, &queue, 0);
  if (used < 0 || status_byte != 0) {
    printf_serial("virtio_blk_smc_pci: request type %u failed (used %d, status %u)\n", type, used,
                  status_byte);
    return -1;
  }
  return used;
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  struct vdev dev;
  if (virtio_pci_find(2, &dev, 1) < 1) {
    puts_serial("virtio_blk_smc_pci: no virtio-blk PCI device found\n");
    return 2;
  }
  uint64_t features = vdev_negotiate(&dev, VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_FLUSH);
  if (!(features & VIRTIO_F_VERSION_1) || vdev_setup_queue(&dev, 0, &queue) != 0) {
    puts_serial("virtio_blk_smc_pci: device setup failed\n");
    return 3;
  }
  vdev_driver_ok(&dev);

  memset(code_page, 0xcc, sizeof code_page); /* int3 after the function */
  put_code(2);
  if (blk_request(&dev, VIRTIO_BLK_T_OUT, 0, code_page, sizeof code_page) < 0) return 4;
  if ((features & VIRTIO_BLK_F_FLUSH) && blk_request(&dev, VIRTIO_BLK_T_FLUSH, 0, 0, 0) < 0)
    return 5;

  put_code(1);
  uint32_t before = call_code();
  printf_serial("virtio_blk_smc_pci: before the read the page returns %u\n", before);
  if (before != 1) return 6;

  int used = blk_request(&dev, VIRTIO_BLK_T_IN, 0, code_page, sizeof code_page);
  if (used != (int)sizeof code_page + 1) {
    printf_serial("virtio_blk_smc_pci: read used length %d\n", used);
    return 7;
  }
  /* The data itself arrived (a data read, not an instruction fetch): tells a device failure
   * apart from stale translated code. */
  if (((volatile uint8_t*)code_page)[1] != 2) {
    puts_serial("virtio_blk_smc_pci: the DMA read did not bring the new code\n");
    return 8;
  }
  uint32_t after = call_code();
  printf_serial("virtio_blk_smc_pci: after the DMA read the page returns %u\n", after);
  if (after != 2) {
    puts_serial("virtio_blk_smc_pci: FAIL: stale code ran after the device wrote the page\n");
    return 9;
  }
  vdev_reset(&dev);
  puts_serial("virtio_blk_smc_pci: PASS\n");
  return 0;
}
