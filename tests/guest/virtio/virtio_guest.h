/* A minimal guest-side virtio driver for corvid's test guests: virtio 1.2 split virtqueues
 * (§2.7) over virtio-mmio version 2 (§4.2) or modern virtio-pci (§4.1). Polling only. */
#ifndef CORVID_VIRTIO_GUEST_H
#define CORVID_VIRTIO_GUEST_H

#include <stdint.h>

#include "runtime/guest.h"

#define VIRTIO_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_EVENT_IDX (1ull << 29)
#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

#define VQ_SIZE 16

/* One split virtqueue with its rings in guest memory (identity-mapped, so addresses are physical).
 */
struct virtq {
  struct virtq_desc desc[VQ_SIZE] __attribute__((aligned(16)));
  struct {
    uint16_t flags, idx, ring[VQ_SIZE], used_event;
  } avail __attribute__((aligned(2)));
  struct {
    uint16_t flags, idx;
    struct {
      uint32_t id, len;
    } ring[VQ_SIZE];
    uint16_t avail_event;
  } used __attribute__((aligned(4)));
  uint16_t size; /* VQ_SIZE or less when the device offers less; used_event and avail_event then
                   sit at ring[size], inside the arrays above */
  uint16_t last_used;
};

enum vdev_kind { VDEV_MMIO, VDEV_PCI };

struct vdev {
  enum vdev_kind kind;
  uint64_t base; /* MMIO: register window */
  /* PCI: addresses of the structures found through the capabilities. */
  uint64_t common, isr, device_cfg, notify;
  uint32_t notify_multiplier;
  uint64_t queue_notify[4];
  int pci_slot; /* PCI: device number on bus 0 */
};

/* Discovery. Each returns the number of devices of `device_id` found (filling at most max). */
int virtio_mmio_find(const char* cmdline, uint32_t device_id, struct vdev* out, int max);
/* virtio,mmio nodes of a flattened device tree (root #address-cells = 2). */
int virtio_mmio_find_fdt(const void* fdt, uint32_t device_id, struct vdev* out, int max);
/* The first PVH module that is a device tree (magic 0xd00dfeed), or 0. */
const void* pvh_find_fdt(const struct hvm_start_info* info);
int virtio_pci_find(uint32_t device_id, struct vdev* out, int max);
/* PCI configuration space of bus 0 (mechanism #1) and a memory BAR's address. */
uint32_t pci_config_read32(int slot, int offset);
void pci_config_write32(int slot, int offset, uint32_t value);
uint64_t virtio_pci_bar(int slot, int bar);

/* §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, negotiate (wanted & offered), FEATURES_OK.
 * Returns the negotiated features, or 0 when the device refused. */
uint64_t vdev_negotiate(struct vdev* d, uint64_t wanted);
int vdev_setup_queue(struct vdev* d, unsigned index, struct virtq* q);
/* §2.4: writes status 0 and waits for the device to read back 0. */
void vdev_reset(struct vdev* d);
void vdev_driver_ok(struct vdev* d);
uint8_t vdev_status(struct vdev* d);
void vdev_notify(struct vdev* d, unsigned index);
uint32_t vdev_config_read32(struct vdev* d, uint32_t offset);

/* Adds a chain (the descriptors at 0..n-1 are already filled) with head `head` and notifies;
 * then polls the used ring. Returns the used length, or -1 on timeout / a broken device. */
int virtq_submit_and_wait(struct vdev* d, unsigned index, struct virtq* q, uint16_t head);

static inline void mb(void) {
  __asm__ volatile("mfence" ::: "memory");
}

#endif
