/*
 * PVH entry for corvid's test guests (xen/include/public/arch-x86/hvm/start_info.h, Linux's
 * Documentation/x86/boot.rst "PVH"): the loader enters pvh_start32 in 32-bit flat protected mode,
 * paging off, with %ebx = physical address of struct hvm_start_info. We build identity page tables
 * for the first 4 GiB (2 MiB pages), enter long mode and call guest_main(start_info).
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

    .section .note.Xen, "a"
    .align 4
    .long 4                     /* namesz: "Xen\0" */
    .long 4                     /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long pvh_start32

    .section .text.boot, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi              /* keep start_info */
    lgdt gdt_desc
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $stack_top, %esp

    /* PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3; each PD maps 1 GiB with 2 MiB pages. */
    mov $pdpt, %eax
    or $3, %eax
    mov %eax, pml4
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $12, %eax
    add $pd, %eax
    or $3, %eax
    mov %eax, pdpt(,%ecx,8)
    inc %ecx
    cmp $4, %ecx
    jne 1b
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax              /* present, writable, 2 MiB */
    mov %eax, pd(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax               /* high dword: bits 32+ of (ecx << 21) */
    mov %eax, pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    mov %cr4, %eax
    or $0x620, %eax             /* PAE | OSFXSR | OSXMMEXCPT */
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx       /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    and $0xfffffffb, %eax       /* clear EM */
    or $0x80000022, %eax        /* PG | MP | NE... PE already set */
    mov %eax, %cr0
    ljmp $0x08, $long_entry

    .code64
long_entry:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov $stack_top, %rsp
    /* Zero .bss (page tables and stack live there too, so skip them: they are in .data). */
    mov $__bss_start, %rdi
    mov $__bss_end, %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
    mov %esi, %edi              /* guest_main(struct hvm_start_info *) */
    call guest_main
    mov %eax, %edi
    call guest_exit
3:  hlt
    jmp 3b

    .section .data
    .align 16
    .globl gdt, gdt_end, pml4
gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
    .quad 0x00cf9a000000ffff    /* 0x18: 32-bit code */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .align 4096
pml4: .fill 512, 8, 0
pdpt: .fill 512, 8, 0
pd:   .fill 2048, 8, 0
stack: .fill 16384, 1, 0
stack_top:
