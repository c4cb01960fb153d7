#include "guest.h"

struct idt_entry {
  uint16_t offset_lo, selector;
  uint8_t ist, type_attr;
  uint16_t offset_mid;
  uint32_t offset_hi, zero;
} __attribute__((packed));

extern uint64_t isr_table[64];
static struct idt_entry idt[64] __attribute__((aligned(16)));
static interrupt_handler handlers[64];

void guest_interrupt(uint64_t vector) {
  if (vector < 64 && handlers[vector]) {
    handlers[vector]((int)vector);
    return;
  }
  if (vector < 32) {
    printf_serial("unexpected exception %lu\n", (unsigned long)vector);
    guest_exit(99);
  }
  /* An unexpected external interrupt: acknowledge it and go on. */
  lapic_eoi();
}

void idt_init(void) {
  for (int i = 0; i < 64; ++i) {
    uint64_t a = isr_table[i];
    idt[i].offset_lo = (uint16_t)a;
    idt[i].selector = 0x08; /* 64-bit code (runtime/start.S) */
    idt[i].ist = 0;
    idt[i].type_attr = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
    idt[i].offset_mid = (uint16_t)(a >> 16);
    idt[i].offset_hi = (uint32_t)(a >> 32);
    idt[i].zero = 0;
  }
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) desc = {sizeof idt - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" ::"m"(desc));
}

void idt_set_handler(int vector, interrupt_handler handler) {
  if (vector >= 0 && vector < 64) handlers[vector] = handler;
}
