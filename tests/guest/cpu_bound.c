/* cpu_bound: a small sieve and a checksum loop; prints the results and exits with status 5 so
 * the test proves the exit status is carried through. About 150k instructions. */
#include "runtime/guest.h"

static unsigned char composite[8192];

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  unsigned primes = 0;
  for (unsigned i = 2; i < sizeof composite; ++i) {
    if (composite[i]) continue;
    ++primes;
    for (unsigned j = i * i; j < sizeof composite; j += i) composite[j] = 1;
  }
  uint64_t h = 1469598103934665603ull;  /* FNV-1a over the first 4096 integers */
  for (uint32_t i = 0; i < 4096; ++i) {
    h ^= i;
    h *= 1099511628211ull;
  }
  printf_serial("primes below 8192: %u\n", primes);
  printf_serial("fnv: %lx\n", (unsigned long)h);
  return 5;
}
