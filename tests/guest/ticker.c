/* ticker: prints "tick N" forever at a steady pace, so a host can see it paused and resumed. */
#include "runtime/guest.h"

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  puts_serial("ticker ready\n");
  for (unsigned n = 0;; ++n) {
    for (volatile unsigned i = 0; i < 20000; ++i) {
    }
    printf_serial("tick %u\n", n);
  }
  return 0;
}
