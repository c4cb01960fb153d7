/* The tiny runtime every corvid test guest links against. */
#ifndef CORVID_GUEST_H
#define CORVID_GUEST_H

#include <stddef.h>
#include <stdint.h>

/* xen/include/public/arch-x86/hvm/start_info.h */
#define HVM_START_MAGIC 0x336ec578u
struct hvm_start_info {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
struct hvm_modlist_entry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};
struct hvm_memmap_table_entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};

/* The program's entry; its return value is the exit status. */
int guest_main(struct hvm_start_info* info);

/* Ends the VM through the debug-exit port 0xf4 (QEMU's isa-debug-exit: the process exits with
 * (status << 1) | 1). Falls back to halting forever if nothing listens. */
void guest_exit(int status) __attribute__((noreturn));

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t*)a; }
static inline uint16_t mmio_read16(uint64_t a) { return *(volatile uint16_t*)a; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t*)a; }
static inline uint64_t mmio_read64(uint64_t a) { return *(volatile uint64_t*)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t*)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t*)a = v; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t*)a = v; }
static inline void mmio_write64(uint64_t a, uint64_t v) { *(volatile uint64_t*)a = v; }

/* Serial console on COM1 (8250 at 0x3f8). */
void serial_init(void);
void putchar_serial(char c);
void puts_serial(const char* s);
/* printf subset: %s %c %d %u %x %lx %lu %ld %llx %p %%, with optional width/zero-pad. */
void printf_serial(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/* Interrupts (runtime/interrupts.c): an IDT for vectors 0..63. Exceptions (0..31) without a
 * handler print their vector and end the guest with status 99. Handlers run with interrupts off. */
typedef void (*interrupt_handler)(int vector);
void idt_init(void);
void idt_set_handler(int vector, interrupt_handler handler);
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* sti; hlt as one step, so an interrupt arriving between them still wakes the CPU. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void pause_cpu(void) { __asm__ volatile("pause"); }
static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

/* Local APIC (xAPIC MMIO) and IOAPIC helpers (runtime/apic.c). */
#define LAPIC_BASE 0xfee00000ull
#define IOAPIC_BASE 0xfec00000ull
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t value);
void lapic_enable(void); /* software-enable with spurious vector 0xff, TPR 0 */
void lapic_eoi(void);
uint32_t lapic_id(void);
uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t value);
/* Routes IOAPIC pin to vector on the BSP (APIC ID 0), edge/active-high unless level. */
void ioapic_route(int pin, int vector, int level);

/* The command line's value for key ("smp=2" -> "2"), or 0. */
const char* cmdline_value(struct hvm_start_info* info, const char* key, char* buf, size_t len);
unsigned long parse_ulong(const char* s);

void* memset(void* d, int c, size_t n);
void* memcpy(void* d, const void* s, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);

#endif
