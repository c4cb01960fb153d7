/* Multiboot v1 header and 32-bit entry (Multiboot Specification 0.6.96, 3.1 and 3.2). Built twice:
 * as an ELF32 image (the loader reads the program headers) and, with MB_AOUT_KLUDGE, with the
 * header's address fields (flag 16) for a flat binary. */
#define MB_MAGIC 0x1BADB002
#ifdef MB_AOUT_KLUDGE
#define MB_FLAGS 0x00010003 /* page-aligned modules, memory info, address fields */
#else
#define MB_FLAGS 0x00000003
#endif

  .section .multiboot, "a"
  .align 4
  .globl mb_header
mb_header:
  .long MB_MAGIC
  .long MB_FLAGS
  .long -(MB_MAGIC + MB_FLAGS)
#ifdef MB_AOUT_KLUDGE
  .long mb_header   /* header_addr */
  .long _load_start /* load_addr */
  .long _load_end   /* load_end_addr */
  .long _bss_end    /* bss_end_addr */
  .long _start      /* entry_addr */
#endif

  .text
  .code32
  .globl _start
_start:
  /* The spec leaves ESP undefined: set our own before calling C. EAX (magic) and EBX (info) are
   * passed on, with the entry state the C code checks. */
  movl $stack_top, %esp
  pushfl
  popl %ecx
  movl %cr0, %edx
  pushl %ecx  /* eflags at entry */
  pushl %edx  /* cr0 at entry */
  pushl %ebx
  pushl %eax
  call mb_main
1:
  cli
  hlt
  jmp 1b

  .bss
  .align 16
  .space 16384
stack_top:
