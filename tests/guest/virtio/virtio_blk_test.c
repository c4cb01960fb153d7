/* virtio-blk requests (§5.2.6) from the guest: write, flush, read back, get-id. */
#include "virtio/virtio_blk_test.h"

#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8

struct blk_req_header {
  uint32_t type, reserved;
  uint64_t sector;
};

static struct virtq queue __attribute__((aligned(4096)));
static struct blk_req_header header __attribute__((aligned(16)));
static uint8_t status_byte;
static uint8_t buffer[4096] __attribute__((aligned(4096)));
static struct virtq_desc indirect[3] __attribute__((aligned(16)));

static void set_desc(struct virtq_desc* t, int i, void* addr, uint32_t len, uint16_t flags,
                     uint16_t next) {
  t[i].addr = (uint64_t)(uintptr_t)addr;
  t[i].len = len;
  t[i].flags = flags;
  t[i].next = next;
}

/* One request: header, optional data (device-readable for OUT, writable otherwise), status. */
static int blk_request(struct vdev* d, uint32_t type, uint64_t sector, void* data, uint32_t len,
                       int use_indirect) {
  header.type = type;
  header.reserved = 0;
  header.sector = sector;
  status_byte = 0xff;
  struct virtq_desc* t = use_indirect ? indirect : queue.desc;
  int i = 0;
  set_desc(t, i, &header, sizeof header, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
  ++i;
  if (len > 0) {
    set_desc(t, i, data, len,
             (uint16_t)(VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_OUT ? 0 : VIRTQ_DESC_F_WRITE)),
             (uint16_t)(i + 1));
    ++i;
  }
  set_desc(t, i, &status_byte, 1, VIRTQ_DESC_F_WRITE, 0);
  ++i;
  if (use_indirect)
    set_desc(queue.desc, 0, indirect, (uint32_t)(i * sizeof indirect[0]), VIRTQ_DESC_F_INDIRECT, 0);
  int used = virtq_submit_and_wait(d, 0, &queue, 0);
  if (used < 0) return -1;
  if (status_byte != 0) {
    printf_serial("virtio-blk: request type %u sector %lu failed with status %u\n", type, sector,
                  status_byte);
    return -1;
  }
  return used;
}

static int check(uint8_t pattern) {
  for (unsigned i = 0; i < sizeof buffer; ++i) {
    if (buffer[i] != pattern) {
      printf_serial("virtio-blk: byte %u reads 0x%x, expected 0x%x\n", i, buffer[i], pattern);
      return -1;
    }
  }
  return 0;
}

int virtio_blk_exercise(struct vdev* d) {
  uint64_t features =
      vdev_negotiate(d, VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_BLK_F_FLUSH);
  if (!(features & VIRTIO_F_VERSION_1)) {
    puts_serial("virtio-blk: feature negotiation failed\n");
    return 10;
  }
  uint64_t capacity = vdev_config_read32(d, 0) | ((uint64_t)vdev_config_read32(d, 4) << 32);
  printf_serial("virtio-blk: capacity %lu sectors, features 0x%lx\n", capacity, features);
  if (capacity < 2056) {
    puts_serial("virtio-blk: disk too small (need 1 MiB + 4 KiB)\n");
    return 11;
  }
  if (vdev_setup_queue(d, 0, &queue) != 0) {
    puts_serial("virtio-blk: queue setup failed\n");
    return 12;
  }
  vdev_driver_ok(d);
  const int indirect_ok = (features & VIRTIO_F_INDIRECT_DESC) != 0;

  memset(buffer, BLK_PATTERN_A, sizeof buffer);
  if (blk_request(d, VIRTIO_BLK_T_OUT, 0, buffer, sizeof buffer, 0) < 0) return 13;
  memset(buffer, BLK_PATTERN_B, sizeof buffer);
  if (blk_request(d, VIRTIO_BLK_T_OUT, 2048, buffer, sizeof buffer, indirect_ok) < 0) return 14;
  if ((features & VIRTIO_BLK_F_FLUSH) && blk_request(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0) < 0)
    return 15;
  puts_serial("virtio-blk: wrote 2 x 4096 bytes and flushed\n");

  memset(buffer, 0, sizeof buffer);
  int used = blk_request(d, VIRTIO_BLK_T_IN, 0, buffer, sizeof buffer, 0);
  if (used != (int)sizeof buffer + 1) {
    printf_serial("virtio-blk: read used length %d, expected %u\n", used,
                  (unsigned)sizeof buffer + 1);
    return 16;
  }
  if (check(BLK_PATTERN_A) != 0) return 17;
  memset(buffer, 0, sizeof buffer);
  if (blk_request(d, VIRTIO_BLK_T_IN, 2048, buffer, sizeof buffer, indirect_ok) < 0) return 18;
  if (check(BLK_PATTERN_B) != 0) return 19;
  puts_serial("virtio-blk: read back both patterns\n");

  memset(buffer, 0, 21);
  if (blk_request(d, VIRTIO_BLK_T_GET_ID, 0, buffer, 20, 0) >= 0)
    printf_serial("virtio-blk: serial \"%s\"\n", (char*)buffer);
  /* Leave the device quiet: reset it (§2.4). */
  vdev_reset(d);
  return 0;
}
