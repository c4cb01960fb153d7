/* power_button: corvid's ACPI power button, end to end. The guest finds the sleep control
 * register through the ACPI tables it is handed (hvm_start_info.rsdp_paddr -> RSDP -> XSDT ->
 * FADT SLEEP_CONTROL_REG), routes the GED interrupt (ISA IRQ 9, level, active high: the MADT's
 * interrupt source override), prints "power_button: waiting" and halts until the host presses the
 * button (QMP system_powerdown -> hw::Machine::request_power_button). The interrupt handler reads
 * the GED event register at 0xfea00000 (bit 0 = power button; the read clears it and lowers the
 * line), then the guest enters S5 by writing SLP_TYP=5 | SLP_EN to the sleep control register and
 * corvid exits with status 0.
 * Command line "s5=now": skip the wait and enter S5 at once (the sleep path alone, for ctest).
 * Exit status: 0 through S5; 2 when the ACPI tables are missing or malformed; 3 when the S5 write
 * did not stop the VM. */
#include "runtime/guest.h"

#define GED_EVENT 0xfea00000ull /* docs/machine.md, hw/x86/memory_map.h kAcpiRegisters */
#define GED_IRQ 9
#define GED_VECTOR 0x29
#define SLP_TYP_S5 5
#define SLP_EN 0x20

static volatile uint32_t events;

static void on_ged(int vector) {
  (void)vector;
  events |= mmio_read32(GED_EVENT);
  lapic_eoi();
}

static int checksum_ok(const uint8_t* p, uint32_t len) {
  uint8_t sum = 0;
  for (uint32_t i = 0; i < len; ++i) sum = (uint8_t)(sum + p[i]);
  return sum == 0;
}

static uint32_t le32(const uint8_t* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t* p) {
  return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* SLEEP_CONTROL_REG's address from the FADT (ACPI 6.5, 5.2.9: offset 244, a generic address
 * structure whose address is at +4), or 0. */
static uint64_t find_sleep_control(struct hvm_start_info* info) {
  const uint8_t* rsdp = (const uint8_t*)info->rsdp_paddr;
  if (!rsdp || memcmp(rsdp, "RSD PTR ", 8) || !checksum_ok(rsdp, 20) || rsdp[15] < 2 ||
      !checksum_ok(rsdp, 36)) {
    puts_serial("power_button: no valid RSDP in hvm_start_info\n");
    return 0;
  }
  const uint8_t* xsdt = (const uint8_t*)le64(rsdp + 24);
  if (memcmp(xsdt, "XSDT", 4) || !checksum_ok(xsdt, le32(xsdt + 4))) {
    puts_serial("power_button: bad XSDT\n");
    return 0;
  }
  for (uint32_t off = 36; off + 8 <= le32(xsdt + 4); off += 8) {
    const uint8_t* t = (const uint8_t*)le64(xsdt + off);
    if (memcmp(t, "FACP", 4)) continue;
    uint32_t len = le32(t + 4);
    if (!checksum_ok(t, len) || len < 256 || !(le32(t + 112) & (1u << 20))) {
      puts_serial("power_button: FADT is not a valid hardware-reduced one\n");
      return 0;
    }
    return le64(t + 244 + 4);
  }
  puts_serial("power_button: no FADT\n");
  return 0;
}

int guest_main(struct hvm_start_info* info) {
  serial_init();
  uint64_t sleep_control = find_sleep_control(info);
  if (!sleep_control) return 2;
  printf_serial("power_button: sleep control register at %llx\n",
                (unsigned long long)sleep_control);

  char buf[16];
  const char* s5 = cmdline_value(info, "s5", buf, sizeof buf);
  if (!s5 || strcmp(s5, "now")) {
    idt_init();
    idt_set_handler(GED_VECTOR, on_ged);
    lapic_enable();
    outb(0x21, 0xff); /* 8259s masked: the IOAPIC is the only path */
    outb(0xa1, 0xff);
    ioapic_route(GED_IRQ, GED_VECTOR, 1);
    puts_serial("power_button: waiting\n");
    while (!(events & 1)) sti_hlt();
    cli();
    printf_serial("power_button: pressed (events %x)\n", events);
  }
  puts_serial("power_button: entering S5\n");
  mmio_write8(sleep_control, (SLP_TYP_S5 << 2) | SLP_EN);
  for (int i = 0; i < 1000000; ++i) pause_cpu();
  puts_serial("power_button: S5 did not power off\n");
  return 3;
}
