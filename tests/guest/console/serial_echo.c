/* serial_echo: prints "echo: ready", then answers every byte received on COM1 with "[xx]" (its
 * hex value, so the test tells the guest's echo from a terminal's); 'q' ends with status 3. */
#include "runtime/guest.h"

#define COM1 0x3f8

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  puts_serial("echo: ready\n");
  for (;;) {
    if (!(inb(COM1 + 5) & 0x01)) {
      pause_cpu();
      continue;
    }
    uint8_t c = inb(COM1);
    if (c == 'q') {
      puts_serial("echo: bye\n");
      return 3;
    }
    printf_serial("[%02x]", c);
  }
}
