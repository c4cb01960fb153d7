/* pio_mmio: port I/O and MMIO round trips through the machine's buses. PIO: the UART scratch
 * register (byte writes read back), string I/O (rep insb/outsb, several accesses per exit); MMIO:
 * the IOAPIC's index/data window (a redirection entry written and read back) and the LAPIC's
 * version register. Exits 0 when every round trip matched. */
#include "runtime/guest.h"

#define COM1 0x3f8

static int check(const char* what, uint32_t got, uint32_t want) {
  if (got == want) return 0;
  printf_serial("%s: got %x, want %x\n", what, got, want);
  return 1;
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  int bad = 0;
  static const uint8_t patterns[] = {0x00, 0x55, 0xaa, 0xff, 0x3c};
  for (unsigned i = 0; i < sizeof patterns; ++i) {
    outb(COM1 + 7, patterns[i]);
    bad += check("scratch register", inb(COM1 + 7), patterns[i]);
  }
  if (!bad) puts_serial("pio round trip ok\n");

  /* rep insb: eight reads of the scratch register in one instruction. */
  outb(COM1 + 7, 0x5a);
  uint8_t buf[8];
  memset(buf, 0, sizeof buf);
  void* dst = buf;
  size_t n = sizeof buf;
  __asm__ volatile("rep insb" : "+D"(dst), "+c"(n) : "d"((uint16_t)(COM1 + 7)) : "memory");
  int string_bad = 0;
  for (unsigned i = 0; i < sizeof buf; ++i) string_bad += check("rep insb", buf[i], 0x5a);
  static const char msg[] = "string pio ok\r\n";
  const void* src = msg;
  n = sizeof msg - 1;
  if (!string_bad) __asm__ volatile("rep outsb" : "+S"(src), "+c"(n) : "d"((uint16_t)COM1) : "memory");
  bad += string_bad;

  /* IOAPIC: version register, then a masked redirection entry written and read back. */
  uint32_t ver = ioapic_read(0x01);
  unsigned pins = ((ver >> 16) & 0xff) + 1;
  bad += check("ioapic pins", pins, 24);
  int mmio_bad = 0;
  const uint32_t entry = 0x10000 | 0x8000 | 0x37; /* masked, level, vector 0x37 */
  ioapic_write(0x10 + 2 * 10, entry);
  mmio_bad += check("ioapic redirection entry 10", ioapic_read(0x10 + 2 * 10) & 0x1ffff, entry);
  ioapic_write(0x11 + 2 * 10, 0x01000000);
  mmio_bad += check("ioapic destination 10", ioapic_read(0x11 + 2 * 10) >> 24, 1);
  ioapic_write(0x10 + 2 * 10, 0x10000); /* back to masked, vector 0 */
  uint32_t lver = lapic_read(0x30) & 0xff;
  if (lver < 0x10 || lver > 0x15) mmio_bad += check("lapic version", lver, 0x14);
  bad += mmio_bad;
  if (!mmio_bad) printf_serial("mmio round trip ok (%u ioapic pins)\n", pins);
  return bad ? 1 : 0;
}
