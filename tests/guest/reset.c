/* reset: the first boot leaves a mark in RAM outside the image and resets the machine through the
 * i8042 (command 0xfe), falling back to a triple fault where there is no i8042 (QEMU microvm). RAM
 * survives a reset on a PC, so the second boot finds the mark, reports it and exits 0. */
#include "runtime/guest.h"

#define MARK_ADDR 0x3ff000ull /* below 4 MiB, above the image */
#define MARK_MAGIC 0x7e5e7b00u

struct mark {
  uint32_t magic;
  uint32_t boots;
};

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  volatile struct mark* m = (volatile struct mark*)MARK_ADDR;
  if (m->magic == MARK_MAGIC) {
    uint32_t boot = m->boots + 1;
    m->magic = 0;
    printf_serial("boot %u after reset\n", boot);
    return 0;
  }
  m->magic = MARK_MAGIC;
  m->boots = 1;
  puts_serial("boot 1: resetting through the i8042\n");
  outb(0x64, 0xfe);
  for (int i = 0; i < 100000; ++i) pause_cpu();
  puts_serial("no i8042 reset: triple fault\n");
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) empty = {0, 0};
  __asm__ volatile("lidt %0; int3" ::"m"(empty));
  return 3;
}
