/* smp_atomic: what SMP guests rely on when every vCPU is a host thread. All CPUs (BSP + APs
 * started with INIT-SIPI-SIPI through ../smp_trampoline.S) at once: `lock inc`, `lock xadd` and a
 * spinlock taken with `lock cmpxchg` and released with a plain store (Linux's queued spinlock
 * pattern) must lose no update. Then cross-modifying code: the BSP rewrites the immediate of a
 * function the APs call; after a flag and a serialising cpuid every AP must see the new code.
 * The CPU count comes from the command line (smp=N). Exits with the number of failures. */
#include "runtime/guest.h"

#define TRAMPOLINE 0x10000
#define MAX_APS 16
#define ROUNDS 100000
#define GENERATIONS 3

extern char ap_trampoline_start[], ap_trampoline_end[];
static volatile int ap_count, go, done;
static volatile uint32_t counter, xadd_counter, lock_word, plain_counter;
static volatile int generation;
static volatile uint32_t seen[GENERATIONS][MAX_APS + 1];
static volatile int acks[GENERATIONS];
/* mov eax, imm32; ret — patched by the BSP while the APs keep calling it. */
static uint8_t code_page[4096] __attribute__((aligned(4096)));

static uint32_t call_code(void) {
  return ((uint32_t(*)(void))code_page)();
}

static void serialise(void) {
  uint32_t a = 0, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d)::"memory");
}

static void hammer(void) {
  for (int i = 0; i < ROUNDS; ++i) {
    __asm__ volatile("lock incl %0" : "+m"(counter)::"memory");
    uint32_t one = 1;
    __asm__ volatile("lock xaddl %0, %1" : "+r"(one), "+m"(xadd_counter)::"memory");
    for (;;) {
      uint32_t expected = 0;
      uint8_t ok;
      __asm__ volatile("lock cmpxchgl %3, %1; sete %0"
                       : "=q"(ok), "+m"(lock_word), "+a"(expected)
                       : "r"(1u)
                       : "memory", "cc");
      if (ok) break;
      pause_cpu();
    }
    plain_counter = plain_counter + 1;
    __asm__ volatile("movl $0, %0" : "=m"(lock_word)::"memory"); /* plain release store */
  }
}

void ap_main(void) {
  int me = __atomic_add_fetch(&ap_count, 1, __ATOMIC_SEQ_CST);
  while (!go) pause_cpu();
  hammer();
  __atomic_fetch_add(&done, 1, __ATOMIC_SEQ_CST);
  for (int g = 0; g < GENERATIONS; ++g) {
    while (generation <= g) pause_cpu();
    serialise();
    if (me <= MAX_APS) seen[g][me] = call_code();
    __atomic_fetch_add(&acks[g], 1, __ATOMIC_SEQ_CST);
  }
}

static void send_ipi(uint32_t low) {
  lapic_write(0x310, 0);
  lapic_write(0x300, low);
}

static void patch(uint32_t value) {
  code_page[0] = 0xb8;
  for (int i = 0; i < 4; ++i) code_page[1 + i] = (uint8_t)(value >> (8 * i));
  code_page[5] = 0xc3;
}

int guest_main(struct hvm_start_info* info) {
  serial_init();
  char buf[16];
  unsigned cpus = 1;
  if (cmdline_value(info, "smp", buf, sizeof buf)) cpus = (unsigned)parse_ulong(buf);
  if (cpus < 2 || cpus > MAX_APS + 1) {
    printf_serial("smp=%u is out of range (2..%d)\n", cpus, MAX_APS + 1);
    return 99;
  }
  patch(100);
  (void)call_code(); /* translated (corvid) / cached before the APs run it */
  memcpy((void*)TRAMPOLINE, ap_trampoline_start, (size_t)(ap_trampoline_end - ap_trampoline_start));
  lapic_enable();
  send_ipi(0x000c4500); /* INIT, all excluding self */
  for (int i = 0; i < 10000; ++i) pause_cpu();
  send_ipi(0x000c4600 | (TRAMPOLINE >> 12));
  for (int i = 0; i < 2000; ++i) pause_cpu();
  if (ap_count < (int)cpus - 1) send_ipi(0x000c4600 | (TRAMPOLINE >> 12));
  for (int i = 0; i < 2000000 && ap_count < (int)cpus - 1; ++i) pause_cpu();
  int aps = ap_count, failures = 0;
  printf_serial("cpus online: %d\n", aps + 1);
  if (aps != (int)cpus - 1) return 98;

  go = 1;
  hammer();
  while (done < aps) pause_cpu();
  uint32_t want = (uint32_t)cpus * ROUNDS;
  printf_serial("lock inc %u, lock xadd %u, cmpxchg spinlock %u (want %u each)\n", counter,
                xadd_counter, plain_counter, want);
  failures += counter != want;
  failures += xadd_counter != want;
  failures += plain_counter != want;

  for (int g = 0; g < GENERATIONS; ++g) {
    patch(200 + (uint32_t)g);
    serialise();
    generation = g + 1;
    while (acks[g] < aps) pause_cpu();
    int stale = 0;
    for (int a = 1; a <= aps; ++a) stale += seen[g][a] != 200 + (uint32_t)g;
    printf_serial("code generation %d: %d of %d APs ran stale code\n", g, stale, aps);
    failures += stale != 0;
  }
  printf_serial("smp_atomic: %d failures\n", failures);
  return failures;
}
