#include <stdarg.h>

#include "guest.h"

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

void serial_init(void) {
  outb(COM1 + 1, 0x00); /* no interrupts */
  outb(COM1 + 3, 0x80); /* DLAB */
  outb(COM1 + 0, 0x01); /* 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1 */
  outb(COM1 + 2, 0xc7); /* FIFO on, cleared */
  outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void putchar_serial(char c) {
  /* Wait for THR empty (LSR bit 5); bounded so a missing UART cannot hang the guest. */
  for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); ++i) {
  }
  outb(COM1, (uint8_t)c);
}

void puts_serial(const char* s) {
  while (*s) {
    if (*s == '\n') putchar_serial('\r');
    putchar_serial(*s++);
  }
}

static void put_num(unsigned long long v, unsigned base, int neg, int width, char pad) {
  char buf[32];
  int n = 0;
  do {
    unsigned d = (unsigned)(v % base);
    buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  if (neg) buf[n++] = '-';
  while (n < width) {
    putchar_serial(pad);
    --width;
  }
  while (n) putchar_serial(buf[--n]);
}

void printf_serial(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  for (; *fmt; ++fmt) {
    if (*fmt != '%') {
      if (*fmt == '\n') putchar_serial('\r');
      putchar_serial(*fmt);
      continue;
    }
    ++fmt;
    char pad = ' ';
    int width = 0;
    if (*fmt == '0') {
      pad = '0';
      ++fmt;
    }
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    int longs = 0;
    while (*fmt == 'l') {
      ++longs;
      ++fmt;
    }
    switch (*fmt) {
      case 's': puts_serial(va_arg(ap, const char*)); break;
      case 'c': putchar_serial((char)va_arg(ap, int)); break;
      case '%': putchar_serial('%'); break;
      case 'p': put_num((uintptr_t)va_arg(ap, void*), 16, 0, width, pad); break;
      case 'd': {
        long long v = longs ? va_arg(ap, long long) : va_arg(ap, int);
        put_num(v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, v < 0, width, pad);
        break;
      }
      case 'u':
      case 'x': {
        unsigned long long v = longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
        put_num(v, *fmt == 'x' ? 16 : 10, 0, width, pad);
        break;
      }
      default: putchar_serial('?'); break;
    }
  }
  va_end(ap);
}

void guest_exit(int status) {
  outl(DEBUG_EXIT_PORT, (uint32_t)status);
  for (;;) __asm__ volatile("cli; hlt");
}

void* memset(void* d, int c, size_t n) {
  unsigned char* p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
void* memcpy(void* d, const void* s, size_t n) {
  unsigned char* p = d;
  const unsigned char* q = s;
  while (n--) *p++ = *q++;
  return d;
}
int memcmp(const void* a, const void* b, size_t n) {
  const unsigned char *p = a, *q = b;
  for (; n; --n, ++p, ++q)
    if (*p != *q) return *p - *q;
  return 0;
}
size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}
int strcmp(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return (unsigned char)*a - (unsigned char)*b;
}
int strncmp(const char* a, const char* b, size_t n) {
  for (; n; --n, ++a, ++b) {
    if (*a != *b || !*a) return (unsigned char)*a - (unsigned char)*b;
  }
  return 0;
}

const char* cmdline_value(struct hvm_start_info* info, const char* key, char* buf, size_t len) {
  if (!info || !info->cmdline_paddr || len == 0) return 0;
  const char* s = (const char*)info->cmdline_paddr;
  size_t klen = strlen(key);
  while (*s) {
    while (*s == ' ') ++s;
    if (!strncmp(s, key, klen) && s[klen] == '=') {
      s += klen + 1;
      size_t n = 0;
      while (s[n] && s[n] != ' ' && n + 1 < len) {
        buf[n] = s[n];
        ++n;
      }
      buf[n] = 0;
      return buf;
    }
    while (*s && *s != ' ') ++s;
  }
  return 0;
}

unsigned long parse_ulong(const char* s) {
  unsigned long v = 0;
  while (s && *s >= '0' && *s <= '9') v = v * 10 + (unsigned long)(*s++ - '0');
  return v;
}
