/* rtc_reset: the CMOS clock is battery-backed, so a machine reset keeps what the guest set (QEMU
 * keeps its RTC through a reset). Boot 1 marks CMOS RAM, sets the year to 2042 under SET, enables
 * the periodic interrupt and resets the machine (i8042, else a triple fault). Boot 2 must find the
 * mark and the year, and the periodic-interrupt enable cleared by the reset line. */
#include "runtime/guest.h"

#define MARK_INDEX 0x40
#define MARK 0xa7

static uint8_t cmos_read(uint8_t index) {
  outb(0x70, index);
  return inb(0x71);
}
static void cmos_write(uint8_t index, uint8_t v) {
  outb(0x70, index);
  outb(0x71, v);
}

static uint8_t stable_year(void) {
  for (int tries = 0; tries < 1000; ++tries) {
    if (cmos_read(0x0a) & 0x80) continue; /* update in progress */
    uint8_t y = cmos_read(0x09);
    if (!(cmos_read(0x0a) & 0x80)) return y;
  }
  return 0xff;
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  if (cmos_read(MARK_INDEX) == MARK) {
    cmos_write(MARK_INDEX, 0);
    const uint8_t year = stable_year(), b = cmos_read(0x0b);
    printf_serial("boot 2: year %x, register B %x\n", year, b);
    if (year == 0x42 && (b & 0x40) == 0) {
      puts_serial("rtc_reset: the clock and CMOS RAM survived the reset\n");
      return 0;
    }
    puts_serial("rtc_reset: FAIL\n");
    return 1;
  }
  cmos_write(MARK_INDEX, MARK);
  const uint8_t b = cmos_read(0x0b);
  cmos_write(0x0b, (uint8_t)(b | 0x80));           /* SET: hold the time registers */
  cmos_write(0x09, 0x42);                          /* BCD year 42 */
  cmos_write(0x0b, (uint8_t)((b & ~0x80) | 0x40)); /* run again, periodic interrupt enabled */
  printf_serial("boot 1: year %x set, resetting\n", stable_year());
  outb(0x64, 0xfe);
  for (int i = 0; i < 100000; ++i) pause_cpu();
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) empty = {0, 0};
  __asm__ volatile("lidt %0; int3" ::"m"(empty));
  return 3;
}
