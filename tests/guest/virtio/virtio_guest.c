/* Guest-side virtio transports and split virtqueue (see virtio_guest.h). */
#include "virtio/virtio_guest.h"

/* ---- virtio-mmio (§4.2.2 register layout) ---- */

#define MMIO_MAGIC 0x000
#define MMIO_VERSION 0x004
#define MMIO_DEVICE_ID 0x008
#define MMIO_DEVICE_FEATURES 0x010
#define MMIO_DEVICE_FEATURES_SEL 0x014
#define MMIO_DRIVER_FEATURES 0x020
#define MMIO_DRIVER_FEATURES_SEL 0x024
#define MMIO_QUEUE_SEL 0x030
#define MMIO_QUEUE_NUM_MAX 0x034
#define MMIO_QUEUE_NUM 0x038
#define MMIO_QUEUE_READY 0x044
#define MMIO_QUEUE_NOTIFY 0x050
#define MMIO_STATUS 0x070
#define MMIO_QUEUE_DESC 0x080
#define MMIO_QUEUE_DRIVER 0x090
#define MMIO_QUEUE_DEVICE 0x0a0
#define MMIO_CONFIG 0x100

static int mmio_probe(uint64_t base, uint32_t device_id) {
  if (mmio_read32(base + MMIO_MAGIC) != 0x74726976u) return 0;
  if (mmio_read32(base + MMIO_VERSION) != 2) return 0; /* legacy (version 1) is not driven here */
  return mmio_read32(base + MMIO_DEVICE_ID) == device_id;
}

static uint64_t parse_number(const char** p) {
  const char* s = *p;
  uint64_t v = 0;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s += 2;
    for (;; ++s) {
      int d = (*s >= '0' && *s <= '9')   ? *s - '0'
              : (*s >= 'a' && *s <= 'f') ? *s - 'a' + 10
              : (*s >= 'A' && *s <= 'F') ? *s - 'A' + 10
                                         : -1;
      if (d < 0) break;
      v = v * 16 + (uint64_t)d;
    }
  } else {
    for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + (uint64_t)(*s - '0');
  }
  if (*s == 'K' || *s == 'k')
    v <<= 10, ++s;
  else if (*s == 'M' || *s == 'm')
    v <<= 20, ++s;
  *p = s;
  return v;
}

int virtio_mmio_find(const char* cmdline, uint32_t device_id, struct vdev* out, int max) {
  int n = 0;
  /* Linux's syntax, as QEMU's microvm (and corvid) pass it: virtio_mmio.device=<size>@<base>:<irq>
   */
  static const char key[] = "virtio_mmio.device=";
  for (const char* p = cmdline; p && *p && n < max; ++p) {
    if (strncmp(p, key, sizeof key - 1) != 0) continue;
    const char* s = p + sizeof key - 1;
    parse_number(&s);
    if (*s != '@') continue;
    ++s;
    uint64_t base = parse_number(&s);
    if (mmio_probe(base, device_id)) {
      printf_serial("virtio-mmio: device %u at 0x%lx (from the command line)\n", device_id, base);
      out[n].kind = VDEV_MMIO;
      out[n].base = base;
      ++n;
    }
  }
  if (n > 0) return n;
  /* No command line entries: probe corvid's and QEMU microvm's windows. */
  /* microvm has 8 transports, or 24 with its second IOAPIC (QEMU 7.2's default). */
  static const struct {
    uint64_t base, stride;
    int count;
  } windows[] = {{0xd0000000, 0x1000, 8}, {0xfeb00000, 0x200, 32}};
  for (unsigned w = 0; w < sizeof windows / sizeof windows[0]; ++w) {
    for (int i = 0; i < windows[w].count && n < max; ++i) {
      uint64_t base = windows[w].base + (uint64_t)i * windows[w].stride;
      if (mmio_probe(base, device_id)) {
        printf_serial("virtio-mmio: device %u at 0x%lx (probed)\n", device_id, base);
        out[n].kind = VDEV_MMIO;
        out[n].base = base;
        ++n;
      }
    }
  }
  return n;
}

/* ---- the device tree corvid hands PVH guests as a module (devicetree spec v0.4 §5) ---- */

static uint32_t be32(const void* p) {
  const uint8_t* b = p;
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

const void* pvh_find_fdt(const struct hvm_start_info* info) {
  if (!info || info->magic != HVM_START_MAGIC || !info->modlist_paddr) return 0;
  const struct hvm_modlist_entry* mods = (const void*)(uintptr_t)info->modlist_paddr;
  for (uint32_t i = 0; i < info->nr_modules; ++i) {
    const void* m = (const void*)(uintptr_t)mods[i].paddr;
    if (mods[i].size >= 40 && be32(m) == 0xd00dfeedu) return m;
  }
  return 0;
}

int virtio_mmio_find_fdt(const void* fdt, uint32_t device_id, struct vdev* out, int max) {
  const uint8_t* base = fdt;
  const uint8_t* p = base + be32(base + 8); /* off_dt_struct */
  const uint8_t* end = p + be32(base + 36); /* size_dt_struct */
  const char* strings = (const char*)base + be32(base + 12);
  int n = 0, depth = 0, is_virtio = 0;
  uint64_t reg = 0;
  while (p < end && n < max) {
    uint32_t token = be32(p);
    p += 4;
    if (token == 1) { /* FDT_BEGIN_NODE: name, NUL, padding */
      ++depth;
      is_virtio = 0;
      reg = 0;
      while (*p) ++p;
      p = (const uint8_t*)(((uintptr_t)p + 4) & ~(uintptr_t)3);
    } else if (token == 2) { /* FDT_END_NODE */
      if (is_virtio && reg && mmio_probe(reg, device_id)) {
        printf_serial("virtio-mmio: device %u at 0x%lx (from the device tree)\n", device_id, reg);
        out[n].kind = VDEV_MMIO;
        out[n].base = reg;
        ++n;
      }
      is_virtio = 0;
      --depth;
    } else if (token == 3) { /* FDT_PROP: len, nameoff, value */
      uint32_t len = be32(p), nameoff = be32(p + 4);
      const uint8_t* value = p + 8;
      const char* name = strings + nameoff;
      if (strcmp(name, "compatible") == 0) {
        for (uint32_t i = 0; i < len; i += (uint32_t)strlen((const char*)value + i) + 1) {
          if (strcmp((const char*)value + i, "virtio,mmio") == 0) is_virtio = 1;
        }
      } else if (strcmp(name, "reg") == 0 && len >= 8 && depth == 2) {
        reg = ((uint64_t)be32(value) << 32) | be32(value + 4);
      }
      p = value + ((len + 3) & ~3u);
    } else if (token == 4) { /* FDT_NOP */
    } else {
      break; /* FDT_END or garbage */
    }
  }
  return n;
}

/* ---- virtio-pci (§4.1.4) over PCI configuration mechanism #1 ---- */

uint32_t pci_config_read32(int dev, int off) {
  outl(0xcf8, 0x80000000u | ((uint32_t)dev << 11) | ((uint32_t)off & 0xfc));
  return inl(0xcfc);
}
void pci_config_write32(int dev, int off, uint32_t v) {
  outl(0xcf8, 0x80000000u | ((uint32_t)dev << 11) | ((uint32_t)off & 0xfc));
  outl(0xcfc, v);
}
static uint8_t pci_read8(int dev, int off) {
  return (uint8_t)(pci_config_read32(dev, off) >> (8 * (off & 3)));
}

/* The BAR's address; assigns one (from a fixed window) when firmware left it unprogrammed. */
uint64_t virtio_pci_bar(int dev, int bar) {
  int off = 0x10 + 4 * bar;
  uint32_t lo = pci_config_read32(dev, off);
  if (lo & 1) return 0; /* I/O BAR: virtio structures live in memory BARs here */
  int is64 = ((lo >> 1) & 3) == 2;
  uint64_t addr = (uint64_t)(lo & ~0xfu);
  if (is64) addr |= (uint64_t)pci_config_read32(dev, off + 4) << 32;
  if (addr != 0) return addr;
  static uint64_t next = 0xe0000000; /* below QEMU's and corvid's fixed devices */
  pci_config_write32(dev, off, 0xffffffffu);
  uint32_t mask = pci_config_read32(dev, off) & ~0xfu;
  if (mask == 0) return 0; /* not implemented */
  uint32_t size = ~mask + 1;
  if (size < 0x1000) size = 0x1000;
  next = (next + size - 1) & ~((uint64_t)size - 1);
  addr = next;
  next += size;
  pci_config_write32(dev, off, (uint32_t)addr);
  if (is64) pci_config_write32(dev, off + 4, 0);
  printf_serial("virtio-pci: assigned BAR%d of slot %d at 0x%lx\n", bar, dev, addr);
  return addr;
}

int virtio_pci_find(uint32_t device_id, struct vdev* out, int max) {
  int n = 0;
  for (int dev = 0; dev < 32 && n < max; ++dev) {
    uint32_t id = pci_config_read32(dev, 0);
    if ((id & 0xffff) != 0x1af4) continue;
    uint32_t did = id >> 16;
    /* §4.1.2: modern id 0x1040 + type; transitional ids (0x1000..) also carry modern capabilities.
     */
    if (did != 0x1040 + device_id && !(device_id == 2 && did == 0x1001)) continue;
    if (!(pci_config_read32(dev, 0x04) & (0x10u << 16))) continue; /* no capability list */
    struct vdev* d = &out[n];
    d->kind = VDEV_PCI;
    d->pci_slot = dev;
    d->common = d->isr = d->device_cfg = d->notify = 0;
    for (int cap = pci_read8(dev, 0x34) & 0xfc; cap != 0; cap = pci_read8(dev, cap + 1) & 0xfc) {
      if (pci_read8(dev, cap) != 0x09) continue; /* vendor-specific: a virtio_pci_cap */
      uint8_t type = pci_read8(dev, cap + 3), bar = pci_read8(dev, cap + 4);
      if (bar > 5 || type < 1 || type > 4) continue; /* only the four structures used here */
      uint64_t addr = virtio_pci_bar(dev, bar);
      if (addr == 0 || addr >= (4ull << 30)) continue; /* only the low 4 GiB are mapped */
      addr += pci_config_read32(dev, cap + 8);
      switch (type) {
        case 1:
          if (!d->common) d->common = addr;
          break;
        case 2:
          if (!d->notify) {
            d->notify = addr;
            d->notify_multiplier = pci_config_read32(dev, cap + 16);
          }
          break;
        case 3:
          if (!d->isr) d->isr = addr;
          break;
        case 4:
          if (!d->device_cfg) d->device_cfg = addr;
          break;
        default:
          break;
      }
    }
    if (!d->common || !d->notify || !d->device_cfg) {
      printf_serial("virtio-pci: slot %d lacks a required capability\n", dev);
      continue;
    }
    pci_config_write32(
        dev, 0x04, (pci_config_read32(dev, 0x04) & 0xffff) | 0x6); /* memory space, bus master */
    printf_serial("virtio-pci: device %u at slot %d (common cfg 0x%lx)\n", device_id, dev,
                  d->common);
    ++n;
  }
  return n;
}

/* ---- transport-independent operations ---- */

/* Common configuration offsets (§4.1.4.3). */
#define PCI_DEVICE_FEATURE_SELECT 0x00
#define PCI_DEVICE_FEATURE 0x04
#define PCI_DRIVER_FEATURE_SELECT 0x08
#define PCI_DRIVER_FEATURE 0x0c
#define PCI_DEVICE_STATUS 0x14
#define PCI_QUEUE_SELECT 0x16
#define PCI_QUEUE_SIZE 0x18
#define PCI_QUEUE_ENABLE 0x1c
#define PCI_QUEUE_NOTIFY_OFF 0x1e
#define PCI_QUEUE_DESC 0x20
#define PCI_QUEUE_DRIVER 0x28
#define PCI_QUEUE_DEVICE 0x30

uint8_t vdev_status(struct vdev* d) {
  return d->kind == VDEV_MMIO ? (uint8_t)mmio_read32(d->base + MMIO_STATUS)
                              : mmio_read8(d->common + PCI_DEVICE_STATUS);
}

static void set_status(struct vdev* d, uint8_t s) {
  if (d->kind == VDEV_MMIO)
    mmio_write32(d->base + MMIO_STATUS, s);
  else
    mmio_write8(d->common + PCI_DEVICE_STATUS, s);
}

static uint32_t device_features(struct vdev* d, uint32_t sel) {
  if (d->kind == VDEV_MMIO) {
    mmio_write32(d->base + MMIO_DEVICE_FEATURES_SEL, sel);
    return mmio_read32(d->base + MMIO_DEVICE_FEATURES);
  }
  mmio_write32(d->common + PCI_DEVICE_FEATURE_SELECT, sel);
  return mmio_read32(d->common + PCI_DEVICE_FEATURE);
}

static void driver_features(struct vdev* d, uint32_t sel, uint32_t v) {
  if (d->kind == VDEV_MMIO) {
    mmio_write32(d->base + MMIO_DRIVER_FEATURES_SEL, sel);
    mmio_write32(d->base + MMIO_DRIVER_FEATURES, v);
  } else {
    mmio_write32(d->common + PCI_DRIVER_FEATURE_SELECT, sel);
    mmio_write32(d->common + PCI_DRIVER_FEATURE, v);
  }
}

void vdev_reset(struct vdev* d) {
  set_status(d, 0); /* §2.4: reset; the device reads back 0 once done */
  for (int i = 0; i < 1000 && vdev_status(d) != 0; ++i) {
  }
}

uint64_t vdev_negotiate(struct vdev* d, uint64_t wanted) {
  vdev_reset(d);
  set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
  uint64_t offered = device_features(d, 0) | ((uint64_t)device_features(d, 1) << 32);
  uint64_t features = offered & wanted;
  driver_features(d, 0, (uint32_t)features);
  driver_features(d, 1, (uint32_t)(features >> 32));
  set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
  if (!(vdev_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
    set_status(d, VIRTIO_STATUS_FAILED);
    return 0;
  }
  return features;
}

int vdev_setup_queue(struct vdev* d, unsigned index, struct virtq* q) {
  memset(q, 0, sizeof *q);
  q->size = VQ_SIZE;
  uint64_t desc = (uint64_t)(uintptr_t)q->desc, avail = (uint64_t)(uintptr_t)&q->avail,
           used = (uint64_t)(uintptr_t)&q->used;
  if (d->kind == VDEV_MMIO) {
    uint64_t b = d->base;
    mmio_write32(b + MMIO_QUEUE_SEL, index);
    uint32_t max = mmio_read32(b + MMIO_QUEUE_NUM_MAX);
    if (max == 0) return -1;
    /* §2.7: a power of two no larger than the device's maximum (QEMU's virtio-rng offers 8). */
    while (q->size > max) q->size /= 2;
    mmio_write32(b + MMIO_QUEUE_NUM, q->size);
    mmio_write32(b + MMIO_QUEUE_DESC, (uint32_t)desc);
    mmio_write32(b + MMIO_QUEUE_DESC + 4, (uint32_t)(desc >> 32));
    mmio_write32(b + MMIO_QUEUE_DRIVER, (uint32_t)avail);
    mmio_write32(b + MMIO_QUEUE_DRIVER + 4, (uint32_t)(avail >> 32));
    mmio_write32(b + MMIO_QUEUE_DEVICE, (uint32_t)used);
    mmio_write32(b + MMIO_QUEUE_DEVICE + 4, (uint32_t)(used >> 32));
    mmio_write32(b + MMIO_QUEUE_READY, 1);
    return 0;
  }
  uint64_t c = d->common;
  mmio_write16(c + PCI_QUEUE_SELECT, (uint16_t)index);
  uint16_t max = mmio_read16(c + PCI_QUEUE_SIZE);
  if (max == 0 || index >= 4) return -1;
  while (q->size > max) q->size /= 2;
  mmio_write16(c + PCI_QUEUE_SIZE, q->size);
  /* §4.1.3.1: 64-bit fields as two 32-bit halves. */
  mmio_write32(c + PCI_QUEUE_DESC, (uint32_t)desc);
  mmio_write32(c + PCI_QUEUE_DESC + 4, (uint32_t)(desc >> 32));
  mmio_write32(c + PCI_QUEUE_DRIVER, (uint32_t)avail);
  mmio_write32(c + PCI_QUEUE_DRIVER + 4, (uint32_t)(avail >> 32));
  mmio_write32(c + PCI_QUEUE_DEVICE, (uint32_t)used);
  mmio_write32(c + PCI_QUEUE_DEVICE + 4, (uint32_t)(used >> 32));
  d->queue_notify[index] =
      d->notify + (uint64_t)mmio_read16(c + PCI_QUEUE_NOTIFY_OFF) * d->notify_multiplier;
  mmio_write16(c + PCI_QUEUE_ENABLE, 1);
  return 0;
}

void vdev_driver_ok(struct vdev* d) {
  set_status(d, vdev_status(d) | VIRTIO_STATUS_DRIVER_OK);
}

void vdev_notify(struct vdev* d, unsigned index) {
  if (d->kind == VDEV_MMIO)
    mmio_write32(d->base + MMIO_QUEUE_NOTIFY, index);
  else
    mmio_write16(d->queue_notify[index], (uint16_t)index);
}

uint32_t vdev_config_read32(struct vdev* d, uint32_t offset) {
  return mmio_read32((d->kind == VDEV_MMIO ? d->base + MMIO_CONFIG : d->device_cfg) + offset);
}

int virtq_submit_and_wait(struct vdev* d, unsigned index, struct virtq* q, uint16_t head) {
  volatile struct virtq* vq = q;
  vq->avail.ring[vq->avail.idx % q->size] = head;
  mb(); /* §2.7.13.3.1 (Updating idx): the ring entry before the index */
  vq->avail.idx = (uint16_t)(vq->avail.idx + 1);
  mb(); /* the index before the notification */
  vdev_notify(d, index);
  for (long i = 0; i < 20000000; ++i) {
    if (vq->used.idx != q->last_used) {
      mb();
      uint32_t len = vq->used.ring[q->last_used % q->size].len;
      q->last_used++;
      return (int)len;
    }
    if ((i & 0xfff) == 0 && (vdev_status(d) & VIRTIO_STATUS_NEEDS_RESET)) {
      printf_serial("virtio: device needs reset\n");
      return -1;
    }
    __asm__ volatile("pause");
  }
  printf_serial("virtio: timed out waiting for queue %u\n", index);
  return -1;
}
