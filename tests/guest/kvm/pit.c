/* pit: the 8254 through its ports, first touched by the instruction the command line names:
 * first=in (IN from 0x61, as Linux's TSC calibration begins), first=out (OUT imm8 to 0x43) or
 * first=outdx (OUT DX to 0x43). corvid creates KVM's in-kernel PIT on that first access and has the
 * guest repeat it there, so the access must take effect exactly once: channel 2 is then programmed
 * (mode 0, low/high byte) and must count down. */
#include "runtime/guest.h"

#define PIT_CH2 0x42
#define PIT_MODE 0x43
#define PORT_B 0x61
#define CH2_MODE0_LOHI 0xb0 /* channel 2, low then high byte, mode 0, binary */

static uint16_t latch_ch2(void) {
  outb(PIT_MODE, 0x80); /* counter latch command, channel 2 */
  uint8_t lo = inb(PIT_CH2);
  uint8_t hi = inb(PIT_CH2);
  return (uint16_t)(lo | (hi << 8));
}

int guest_main(struct hvm_start_info* info) {
  serial_init();
  char buf[16];
  const char* first = cmdline_value(info, "first", buf, sizeof buf);
  if (!first) first = "in";
  int ok = 1;
  if (!strcmp(first, "in")) {
    uint8_t b = inb(PORT_B);
    /* At reset the speaker is off and channel 2's gate is low. */
    if (b & 0x03) {
      printf_serial("port 0x61 read %x at reset\n", b);
      ok = 0;
    }
    outb(PORT_B, (uint8_t)((b & ~0x02) | 0x01)); /* gate 2 on, speaker off */
    outb(PIT_MODE, CH2_MODE0_LOHI);
  } else if (!strcmp(first, "out")) {
    outb(PIT_MODE, CH2_MODE0_LOHI); /* a constant port below 0x100: OUT imm8 */
    outb(PORT_B, (uint8_t)((inb(PORT_B) & ~0x02) | 0x01));
  } else if (!strcmp(first, "outdx")) {
    __asm__ volatile("outb %0, %%dx" ::"a"((uint8_t)CH2_MODE0_LOHI), "d"((uint16_t)PIT_MODE));
    outb(PORT_B, (uint8_t)((inb(PORT_B) & ~0x02) | 0x01));
  } else {
    printf_serial("unknown first=%s\n", first);
    return 2;
  }
  outb(PIT_CH2, 0xff);
  outb(PIT_CH2, 0xff);
  /* Read-back command (8254 data sheet): status of channel 2 only. */
  outb(PIT_MODE, 0xe8);
  uint8_t status = inb(PIT_CH2);
  if ((status & 0x3f) != 0x30) {
    printf_serial("channel 2 status %x: the control word did not land once\n", status);
    ok = 0;
  }
  uint16_t c1 = latch_ch2();
  for (int i = 0; i < 2000; ++i) pause_cpu();
  uint16_t c2 = latch_ch2();
  if (c1 == c2) {
    printf_serial("channel 2 does not count: %x then %x\n", c1, c2);
    ok = 0;
  }
  printf_serial("pit: first access %s, channel 2 status %x, counting %x -> %x\n", first, status, c1,
                c2);
  if (!ok) return 1;
  puts_serial("pit: PASS\n");
  return 0;
}
