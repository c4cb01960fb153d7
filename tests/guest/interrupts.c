/* interrupts: a device interrupt routed through the IOAPIC (the UART's THR-empty interrupt on
 * ISA IRQ 4) and a LAPIC self-IPI, each taken through the IDT. Exits 0 when both arrived. */
#include "runtime/guest.h"

#define COM1 0x3f8
#define UART_VECTOR 0x24
#define IPI_VECTOR 0x31

static volatile int uart_irqs, ipis;
static volatile uint8_t uart_iir;

static void on_uart(int vector) {
  (void)vector;
  uart_iir = inb(COM1 + 2); /* reading IIR acknowledges the THRE interrupt */
  outb(COM1 + 1, 0);        /* no further interrupts */
  ++uart_irqs;
  lapic_eoi();
}

static void on_ipi(int vector) {
  (void)vector;
  ++ipis;
  lapic_eoi();
}

static int wait_for(volatile int* counter) {
  for (int i = 0; i < 2000 && !*counter; ++i) {
    sti();
    for (int j = 0; j < 100; ++j) pause_cpu();
    cli();
  }
  return *counter;
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  idt_init();
  idt_set_handler(UART_VECTOR, on_uart);
  idt_set_handler(IPI_VECTOR, on_ipi);
  lapic_enable();
  /* Mask the 8259s so the only path is the IOAPIC. */
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  ioapic_route(4, UART_VECTOR, 0);

  outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 (gates the IRQ line on a PC) */
  outb(COM1 + 1, 0x02); /* THRI: THR is empty, so the interrupt is raised at once */
  int ok = 1;
  if (wait_for(&uart_irqs)) {
    printf_serial("ioapic-routed uart interrupt: vector %x, iir %x\n", UART_VECTOR, uart_iir & 0x0f);
  } else {
    puts_serial("uart interrupt did not arrive\n");
    ok = 0;
  }
  outb(COM1 + 4, 0x03);

  /* ICR: fixed delivery, destination shorthand "self" (SDM vol. 3, 11.6.1). */
  lapic_write(0x300, IPI_VECTOR | (1u << 18));
  if (wait_for(&ipis)) {
    printf_serial("self ipi: vector %x\n", IPI_VECTOR);
  } else {
    puts_serial("self ipi did not arrive\n");
    ok = 0;
  }
  return ok ? 0 : 1;
}
