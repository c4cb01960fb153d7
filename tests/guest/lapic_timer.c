/* lapic_timer: the local APIC timer in one-shot mode (one interrupt, current count running
 * down) and in periodic mode (three ticks, then masked). Exits 0 when both behaved. */
#include "runtime/guest.h"

#define TIMER_VECTOR 0x30
#define LVT_TIMER 0x320
#define INITIAL_COUNT 0x380
#define CURRENT_COUNT 0x390
#define DIVIDE 0x3e0

static volatile int ticks;

static void on_timer(int vector) {
  (void)vector;
  ++ticks;
  lapic_eoi();
}

static int wait_ticks(int n) {
  for (int i = 0; i < 20000 && ticks < n; ++i) {
    sti();
    for (int j = 0; j < 50; ++j) pause_cpu();
    cli();
  }
  return ticks >= n;
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  idt_init();
  idt_set_handler(TIMER_VECTOR, on_timer);
  lapic_enable();
  int ok = 1;

  lapic_write(DIVIDE, 0xb); /* divide by 1 */
  lapic_write(LVT_TIMER, TIMER_VECTOR); /* one-shot, unmasked */
  /* A count too long to expire while we watch it run down ... */
  lapic_write(INITIAL_COUNT, 0xffffffffu);
  uint32_t c1 = lapic_read(CURRENT_COUNT);
  for (int j = 0; j < 1000; ++j) pause_cpu();
  uint32_t c2 = lapic_read(CURRENT_COUNT);
  if (!(c1 > 0 && c2 > 0 && c2 < c1)) {
    printf_serial("current count did not run down: %u then %u\n", c1, c2);
    ok = 0;
  }
  /* ... then a short one (writing the initial count restarts the timer). */
  lapic_write(INITIAL_COUNT, 200000);
  if (wait_ticks(1)) {
    puts_serial("one-shot timer fired\n");
  } else {
    puts_serial("one-shot timer did not fire\n");
    ok = 0;
  }
  for (int j = 0; j < 2000; ++j) pause_cpu();
  if (ticks != 1) {
    printf_serial("one-shot timer fired %d times\n", ticks);
    ok = 0;
  }

  ticks = 0;
  lapic_write(LVT_TIMER, TIMER_VECTOR | (1u << 17)); /* periodic */
  lapic_write(INITIAL_COUNT, 500000);
  if (wait_ticks(3)) {
    puts_serial("periodic timer: 3 ticks\n");
  } else {
    printf_serial("periodic timer: only %d ticks\n", ticks);
    ok = 0;
  }
  lapic_write(LVT_TIMER, 0x10000); /* masked */
  lapic_write(INITIAL_COUNT, 0);
  return ok ? 0 : 1;
}
