/* bench: CPU-bound workloads for bench/tcg, chosen by the command line (alu, sieve, fib,
 * pagestride); prints a checksum so every engine provably did the same work. */
#include "runtime/guest.h"

static uint8_t sieve_buf[1 << 20];

static uint64_t alu(void) {
  uint64_t x = 88172645463325252ull, acc = 0;
  for (uint32_t i = 0; i < 30000000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    acc += x * 2654435761u;
  }
  return acc;
}

static uint64_t sieve(void) {
  uint64_t total = 0;
  for (int rep = 0; rep < 4; ++rep) {
    for (uint32_t i = 0; i < sizeof sieve_buf; ++i) sieve_buf[i] = 0;
    for (uint32_t i = 2; i * i < sizeof sieve_buf; ++i) {
      if (sieve_buf[i]) continue;
      for (uint32_t j = i * i; j < sizeof sieve_buf; j += i) sieve_buf[j] = 1;
    }
    for (uint32_t i = 2; i < sizeof sieve_buf; ++i) total += !sieve_buf[i];
  }
  return total;
}

static uint64_t fib(uint32_t n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static uint64_t pagestride(void) {
  volatile uint8_t* base = (volatile uint8_t*)(64ull << 20);
  uint64_t sum = 0;
  for (int rep = 0; rep < 40; ++rep) {
    for (uint64_t off = 0; off < (128ull << 20); off += 4096) {
      base[off] = (uint8_t)(off >> 12);
      sum += base[off];
    }
  }
  return sum;
}

static int starts_with(const char* s, const char* p) {
  while (*p) {
    if (*s++ != *p++) return 0;
  }
  return 1;
}

int guest_main(struct hvm_start_info* info) {
  serial_init();
  const char* cmd = info && info->cmdline_paddr ? (const char*)info->cmdline_paddr : "alu";
  uint64_t r;
  if (starts_with(cmd, "sieve"))
    r = sieve();
  else if (starts_with(cmd, "fib"))
    r = fib(30);
  else if (starts_with(cmd, "pagestride"))
    r = pagestride();
  else
    r = alu();
  printf_serial("bench %s: %lx\n", cmd, (unsigned long)r);
  return 0;
}
