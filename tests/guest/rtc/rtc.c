/* rtc: the MC146818 CMOS clock as Linux uses it (drivers/rtc/rtc-mc146818-lib.c): register D says
 * valid, the time read between update cycles (UIP clear, seconds stable) is the host's (year >= 2024,
 * sane fields), binary mode gives the same hour, a time written under SET reads back, and with UIE
 * the update interrupt arrives on ISA IRQ 8 through the IOAPIC once a second. Exits 0 when all hold. */
#include "runtime/guest.h"

#define RTC_VECTOR 0x28

static volatile int updates;

static uint8_t cmos_read(uint8_t index) {
  outb(0x70, index);
  return inb(0x71);
}
static void cmos_write(uint8_t index, uint8_t v) {
  outb(0x70, index);
  outb(0x71, v);
}
static int from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0f); }

static void on_rtc(int vector) {
  (void)vector;
  if (cmos_read(0x0c) & 0x10) ++updates; /* reading C acknowledges and drops IRQ 8 */
  lapic_eoi();
}

/* Linux's way: seconds, UIP clear, then the fields, then the same seconds again. */
static int read_time(uint8_t t[10]) {
  for (int tries = 0; tries < 1000; ++tries) {
    uint8_t sec = cmos_read(0x00);
    if (cmos_read(0x0a) & 0x80) continue;
    for (int i = 0; i < 10; ++i) t[i] = cmos_read((uint8_t)i);
    if (!(cmos_read(0x0a) & 0x80) && cmos_read(0x00) == sec) return 1;
  }
  return 0;
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  int failures = 0;
#define CHECK(cond, what)                   \
  do {                                      \
    if (!(cond)) {                          \
      printf_serial("FAIL: %s\n", what);    \
      ++failures;                           \
    }                                       \
  } while (0)

  CHECK(cmos_read(0x0d) == 0x80, "register D: valid RAM and time");
  const uint8_t b = cmos_read(0x0b);
  CHECK((b & 0x06) == 0x02, "register B: 24-hour BCD, as a BIOS leaves it");
  uint8_t t[10];
  CHECK(read_time(t), "a stable read between updates");
  const int year = from_bcd(cmos_read(0x32)) * 100 + from_bcd(t[9]);
  const int hour = from_bcd(t[4]);
  printf_serial("rtc: %d-%02d-%02d %02d:%02d:%02d\n", year, from_bcd(t[8]), from_bcd(t[7]), hour,
                from_bcd(t[2]), from_bcd(t[0]));
  CHECK(year >= 2024 && year < 2100, "the year is the host's");
  CHECK(from_bcd(t[8]) >= 1 && from_bcd(t[8]) <= 12 && from_bcd(t[7]) >= 1 &&
            from_bcd(t[7]) <= 31 && hour < 24 && from_bcd(t[2]) < 60 && from_bcd(t[0]) < 60,
        "date and time fields in range");

  cmos_write(0x0b, b | 0x04); /* binary */
  const uint8_t bin_hour = cmos_read(0x04);
  CHECK(bin_hour == hour || bin_hour == (hour + 1) % 24, "binary mode: the same hour");
  cmos_write(0x0b, b);

  /* Write a year under SET, as hwclock --systohc does; it reads back once SET is released. */
  cmos_write(0x0b, b | 0x80);
  cmos_write(0x09, 0x42);
  cmos_write(0x0b, b);
  CHECK(cmos_read(0x09) == 0x42, "a year written under SET reads back");
  cmos_write(0x0b, b | 0x80);
  cmos_write(0x09, t[9]);
  cmos_write(0x0b, b);

  idt_init();
  idt_set_handler(RTC_VECTOR, on_rtc);
  lapic_enable();
  outb(0x21, 0xff); /* 8259s masked: the IOAPIC is the only path */
  outb(0xa1, 0xff);
  ioapic_route(8, RTC_VECTOR, 0);
  cmos_read(0x0c);
  cmos_write(0x0b, b | 0x10); /* UIE */
  while (updates < 2) sti_hlt(); /* the test's timeout catches a missing interrupt */
  cli();
  cmos_write(0x0b, b);
  printf_serial("rtc: %d update interrupts on IRQ 8\n", updates);
  if (failures) {
    printf_serial("rtc: %d failures\n", failures);
    return 1;
  }
  puts_serial("rtc: all checks passed\n");
  return 0;
}
