/* smp: the BSP starts every other vCPU with INIT-SIPI-SIPI (broadcast to all but self); each AP
 * reaches long mode and records its APIC ID. The expected CPU count comes from the command line
 * (smp=N). Exits 0 when all N CPUs reported with distinct APIC IDs. */
#include "runtime/guest.h"

#define TRAMPOLINE 0x10000
#define ICR_LOW 0x300
#define ICR_HIGH 0x310
#define MAX_APS 16

extern char ap_trampoline_start[], ap_trampoline_end[];
static volatile int ap_count;
static volatile uint32_t ap_ids[MAX_APS];

void ap_main(void) {
  uint32_t id = lapic_id();
  int i = __atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
  if (i < MAX_APS) ap_ids[i] = id;
}

static void delay(unsigned n) {
  for (unsigned i = 0; i < n; ++i) pause_cpu();
}

static void send_ipi(uint32_t low) {
  lapic_write(ICR_HIGH, 0);
  lapic_write(ICR_LOW, low);
  for (int i = 0; i < 100000 && (lapic_read(ICR_LOW) & (1u << 12)); ++i) pause_cpu(); /* delivery status */
}

int guest_main(struct hvm_start_info* info) {
  serial_init();
  char buf[16];
  unsigned cpus = 1;
  if (cmdline_value(info, "smp", buf, sizeof buf)) cpus = (unsigned)parse_ulong(buf);
  if (cpus < 1 || cpus > MAX_APS + 1) {
    printf_serial("smp=%u is out of range\n", cpus);
    return 2;
  }
  memcpy((void*)TRAMPOLINE, ap_trampoline_start, (size_t)(ap_trampoline_end - ap_trampoline_start));
  lapic_enable();
  printf_serial("bsp apic id %u, expecting %u cpus\n", lapic_id(), cpus);
  /* All excluding self (shorthand 11b); INIT is level-assert; SIPI carries the start page. */
  send_ipi(0x000c4500);
  delay(10000);
  send_ipi(0x000c4600 | (TRAMPOLINE >> 12));
  delay(2000);
  if (ap_count < (int)cpus - 1) send_ipi(0x000c4600 | (TRAMPOLINE >> 12));
  for (int i = 0; i < 200000 && ap_count < (int)cpus - 1; ++i) pause_cpu();
  int n = ap_count;
  int ok = n == (int)cpus - 1;
  for (int i = 0; i < n && i < MAX_APS; ++i) {
    printf_serial("ap apic id %u\n", ap_ids[i]);
    if (ap_ids[i] == 0) ok = 0;
    for (int j = 0; j < i; ++j)
      if (ap_ids[j] == ap_ids[i]) ok = 0;
  }
  printf_serial("cpus online: %d\n", n + 1);
  return ok ? 0 : 1;
}
