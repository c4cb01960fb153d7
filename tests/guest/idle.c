/* idle: prints a line, then waits with interrupts enabled forever, so the host can pause, resume,
 * reset or quit it (the QMP end-to-end tests). */
#include "runtime/guest.h"

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  puts_serial("idle guest ready\n");
  for (;;) sti_hlt();
  return 0;
}
