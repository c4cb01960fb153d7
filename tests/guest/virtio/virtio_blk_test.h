/* The virtio-blk exercise shared by the PCI and MMIO guests. */
#ifndef CORVID_VIRTIO_BLK_TEST_H
#define CORVID_VIRTIO_BLK_TEST_H

#include "virtio/virtio_guest.h"

/* What the host checks afterwards with qemu-io (see run_virtio_blk_test). */
#define BLK_PATTERN_A 0xc5 /* 4 KiB at offset 0 */
#define BLK_PATTERN_B \
  0x5a /* 4 KiB at offset 1 MiB, written through an indirect table when offered */

/* Writes both patterns, flushes, reads them back and compares; returns 0 on success. */
int virtio_blk_exercise(struct vdev* d);

#endif
