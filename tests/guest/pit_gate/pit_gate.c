/* pit_gate: port 0x61 as Linux's PIT calibration uses it (arch/x86/kernel/tsc.c, pit_calibrate_tsc):
 * gate 2 high and speaker off through bits 0/1, channel 2 in mode 0 with a 2 ms count, then bit 5
 * (channel 2's output) must read low at first and rise once the count runs out. Exits 0 then. */
#include "runtime/guest.h"

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
  outb(0x43, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
  const uint16_t count = 2 * 1193;
  outb(0x42, count & 0xff);
  outb(0x42, count >> 8);
  const uint8_t first = inb(0x61);
  printf_serial("port 0x61 after programming: %x\n", first);
  if (first == 0xff) {
    puts_serial("FAIL: nothing answers port 0x61\n");
    return 1;
  }
  if (!(first & 0x01) || (first & 0x02)) {
    puts_serial("FAIL: gate/speaker bits do not read back\n");
    return 1;
  }
  if (first & 0x20) {
    puts_serial("FAIL: OUT2 high right after a mode 0 count was loaded\n");
    return 1;
  }
  unsigned long polls = 0;
  while (!(inb(0x61) & 0x20)) {
    if (++polls > 50000000ul) {
      puts_serial("FAIL: OUT2 never rose\n");
      return 1;
    }
  }
  printf_serial("port 0x61: OUT2 rose after %lu polls\n", polls);
  puts_serial("pit_gate: ok\n");
  return 0;
}
