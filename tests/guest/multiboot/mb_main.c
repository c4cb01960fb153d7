/* Checks what a multiboot v1 loader hands over (Multiboot Specification 0.6.96, 3.2 and 3.3): the
 * magic in EAX, the machine state, mem_lower/mem_upper, the memory map, the command line and the
 * module. Reports on COM1 and ends through the debug-exit port 0xf4 (status 0 = every check passed).
 * The command line carries the expectations: "upper=KIB" (mem_upper, optional) and "module=NAME" (one module
 * whose string ends with NAME and whose bytes start with "corvid multiboot module"). */
#include <stddef.h>
#include <stdint.h>

struct mb_info {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length, mmap_addr;
};
struct mb_module {
  uint32_t mod_start, mod_end, string, reserved;
};
struct __attribute__((packed)) mb_mmap {
  uint32_t size;
  uint64_t base, length;
  uint32_t type;
};

extern char _load_start[], _bss_end[];

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

#define COM1 0x3f8
static void putc_serial(char c) {
  for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); ++i) {
  }
  outb(COM1, (uint8_t)c);
}
static void puts_serial(const char* s) {
  while (*s) putc_serial(*s++);
}
static void put_dec(uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) putc_serial(buf[--n]);
}
static void put_hex(uint64_t v) {
  puts_serial("0x");
  for (int i = 60; i >= 0; i -= 4) {
    if ((v >> i) == 0 && i) continue;
    putc_serial("0123456789abcdef"[(v >> i) & 0xf]);
  }
}

static __attribute__((noreturn)) void finish(int status) {
  __asm__ volatile("outl %0, %1" ::"a"((uint32_t)status), "Nd"((uint16_t)0xf4));
  for (;;) __asm__ volatile("cli; hlt");
}

static int failures;
static void check(int ok, const char* what) {
  if (ok) return;
  ++failures;
  puts_serial("FAIL: ");
  puts_serial(what);
  puts_serial("\n");
}

static size_t length(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}
static int starts_with(const char* s, const char* prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return 0;
  return 1;
}
/* The value of word "key=" in the command line, or NULL; copied into out. */
static const char* option(const char* cmdline, const char* key, char* out, size_t cap) {
  size_t klen = length(key);
  for (const char* p = cmdline; *p;) {
    while (*p == ' ') ++p;
    if (starts_with(p, key) && p[klen] == '=') {
      p += klen + 1;
      size_t n = 0;
      while (p[n] && p[n] != ' ' && n + 1 < cap) out[n] = p[n], ++n;
      out[n] = 0;
      return out;
    }
    while (*p && *p != ' ') ++p;
  }
  return 0;
}
static uint32_t parse_dec(const char* s) {
  uint32_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (uint32_t)(*s++ - '0');
  return v;
}

void mb_main(uint32_t magic, const struct mb_info* info, uint32_t cr0, uint32_t eflags) {
  /* 8N1 at 115200, FIFOs on: what the PVH runtime does, for the same serial output. */
  outb(COM1 + 1, 0);
  outb(COM1 + 3, 0x80);
  outb(COM1 + 0, 1);
  outb(COM1 + 1, 0);
  outb(COM1 + 3, 0x03);
  outb(COM1 + 2, 0xc7);
  puts_serial("multiboot guest: eax=");
  put_hex(magic);
  puts_serial(" ebx=");
  put_hex((uint32_t)(uintptr_t)info);
  puts_serial("\n");
  if (magic != 0x2BADB002) {
    puts_serial("FAIL: wrong magic\n");
    finish(1);
  }
  check((cr0 & 1) == 1, "CR0.PE set (protected mode)");
  check((cr0 & 0x80000000u) == 0, "CR0.PG clear (paging off)");
  check((eflags & 0x200) == 0, "EFLAGS.IF clear");
  check((eflags & 0x20000) == 0, "EFLAGS.VM clear");

  puts_serial("flags=");
  put_hex(info->flags);
  puts_serial(" mem_lower=");
  put_dec(info->mem_lower);
  puts_serial(" mem_upper=");
  put_dec(info->mem_upper);
  puts_serial("\n");
  check(info->flags & (1u << 0), "flags bit 0: mem_lower/mem_upper");
  check(info->flags & (1u << 2), "flags bit 2: cmdline");
  check(info->flags & (1u << 6), "flags bit 6: memory map");
  check(info->mem_lower >= 600 && info->mem_lower <= 640, "mem_lower between 600 and 640 KiB");

  const char* cmdline = (info->flags & (1u << 2)) ? (const char*)(uintptr_t)info->cmdline : "";
  puts_serial("cmdline: ");
  puts_serial(cmdline);
  puts_serial("\n");
  check(option(cmdline, "mbtest", (char[8]){0}, 8) != 0, "cmdline has mbtest=");
  char value[128];
  if (option(cmdline, "upper", value, sizeof value))
    check(info->mem_upper == parse_dec(value), "mem_upper equals upper= from the command line");

  /* The memory map: one RAM (type 1) entry must hold the whole image, and one must start at
   * 1 MiB and span exactly mem_upper KiB (the spec: "the address of the first upper memory hole
   * minus 1 megabyte"). */
  int holds_image = 0, matches_upper = 0, entries = 0;
  if (info->flags & (1u << 6)) {
    uint32_t p = info->mmap_addr, end = info->mmap_addr + info->mmap_length;
    while (p < end && entries < 128) {
      const struct mb_mmap* e = (const struct mb_mmap*)(uintptr_t)p;
      puts_serial("  mmap ");
      put_hex(e->base);
      puts_serial(" +");
      put_hex(e->length);
      puts_serial(" type ");
      put_dec(e->type);
      puts_serial("\n");
      if (e->type == 1 && e->base <= (uintptr_t)_load_start &&
          e->base + e->length >= (uintptr_t)_bss_end)
        holds_image = 1;
      if (e->type == 1 && e->base == 0x100000 && e->length / 1024 == info->mem_upper)
        matches_upper = 1;
      ++entries;
      p += e->size + 4;
    }
  }
  check(entries > 0, "memory map has entries");
  check(holds_image, "a RAM entry holds the loaded image");
  check(matches_upper, "the RAM entry at 1 MiB spans mem_upper KiB");

  if (option(cmdline, "module", value, sizeof value)) {
    check(info->flags & (1u << 3), "flags bit 3: modules");
    check(info->mods_count == 1, "one module");
    if ((info->flags & (1u << 3)) && info->mods_count >= 1) {
      const struct mb_module* m = (const struct mb_module*)(uintptr_t)info->mods_addr;
      const char* s = (const char*)(uintptr_t)m->string;
      puts_serial("module ");
      put_hex(m->mod_start);
      puts_serial("..");
      put_hex(m->mod_end);
      puts_serial(" '");
      puts_serial(s);
      puts_serial("'\n");
      check((m->mod_start & 0xfff) == 0, "module page-aligned (header flag 0)");
      check(m->mod_end > m->mod_start, "module is not empty");
      check(starts_with((const char*)(uintptr_t)m->mod_start, "corvid multiboot module"),
            "module content");
      size_t ls = length(s), lv = length(value);
      check(ls >= lv && starts_with(s + ls - lv, value), "module string ends with module=");
      check(m->mod_start >= (uintptr_t)_bss_end || m->mod_end <= (uintptr_t)_load_start,
            "module does not overlap the image");
    }
  }
  if (failures) {
    puts_serial("multiboot: ");
    put_dec((uint64_t)failures);
    puts_serial(" checks failed\n");
    finish(1);
  }
  puts_serial("multiboot: all checks passed\n");
  finish(0);
}
