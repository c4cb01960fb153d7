/*
 * Application-processor start-up for the smp guest. The BSP copies [ap_trampoline_start,
 * ap_trampoline_end) to 0x10000 and sends INIT-SIPI-SIPI with vector 0x10 (SDM vol. 3, 8.4.4.1):
 * each AP starts in real mode at 0x1000:0000, loads the runtime's GDT, enters protected mode, then
 * long mode on the BSP's identity page tables, takes its own stack and calls ap_main().
 */
    .text
    .code16
    .globl ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
    cli
    mov %cs, %ax
    mov %ax, %ds
    lgdtl (ap_gdt_desc - ap_trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x18, $ap_start32
    .align 8
ap_gdt_desc:
    .word 4 * 8 - 1             /* runtime/start.S: null, 64-bit code, data, 32-bit code */
    .long gdt
ap_trampoline_end:

    .code32
ap_start32:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
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
    and $0xfffffffb, %eax
    or $0x80000022, %eax
    mov %eax, %cr0
    ljmp $0x08, $ap_start64

    .code64
ap_start64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov $1, %eax
    lock xadd %eax, ap_next_stack(%rip)
    cmp $16, %eax
    ja 2f                       /* more APs than stacks: park */
    shl $12, %rax
    lea ap_stacks(%rip), %rsp
    add %rax, %rsp
    call ap_main
2:  cli
    hlt
    jmp 2b

    .data
    .align 4
ap_next_stack: .long 1
    .bss
    .align 4096
ap_stacks: .fill 16 * 4096, 1, 0
