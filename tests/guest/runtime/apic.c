/* xAPIC and IOAPIC access (Intel SDM vol. 3, chapter 11; 82093AA IOAPIC datasheet). */
#include "guest.h"

uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC_BASE + reg); }
void lapic_write(uint32_t reg, uint32_t value) { mmio_write32(LAPIC_BASE + reg, value); }
void lapic_eoi(void) { lapic_write(0xb0, 0); }
uint32_t lapic_id(void) { return lapic_read(0x20) >> 24; }

void lapic_enable(void) {
  lapic_write(0x80, 0);          /* TPR: accept everything */
  lapic_write(0xf0, 0x100 | 0xff); /* SVR: APIC software enable, spurious vector 0xff */
}

uint32_t ioapic_read(uint32_t reg) {
  mmio_write32(IOAPIC_BASE, reg);
  return mmio_read32(IOAPIC_BASE + 0x10);
}

void ioapic_write(uint32_t reg, uint32_t value) {
  mmio_write32(IOAPIC_BASE, reg);
  mmio_write32(IOAPIC_BASE + 0x10, value);
}

void ioapic_route(int pin, int vector, int level) {
  /* Redirection entry: fixed delivery, physical destination APIC 0, unmasked. */
  ioapic_write(0x11 + 2 * (uint32_t)pin, 0);
  ioapic_write(0x10 + 2 * (uint32_t)pin, (uint32_t)vector | (level ? (1u << 15) : 0));
}
