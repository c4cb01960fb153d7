/* hello: prints a greeting and the command line it was given, exits with status 0. */
#include "runtime/guest.h"

int guest_main(struct hvm_start_info* info) {
  serial_init();
  puts_serial("Hello from a corvid guest\n");
  if (info && info->magic == HVM_START_MAGIC) {
    printf_serial("start_info version %u, %u memory map entries\n", info->version,
                  info->memmap_entries);
  } else {
    puts_serial("no PVH start info\n");
    return 3;
  }
  return 0;
}
