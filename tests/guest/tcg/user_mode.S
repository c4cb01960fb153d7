/* Kernel entry and exit paths for the user_mode guest, shaped like Linux's (entry_64.S): an
 * exception from CPL3 swapgs'es on entry, the way back to CPL3 swapgs'es and then runs `verw`
 * (the MDS buffer clear) before iretq/sysretq. The syscall entry swaps to the kernel GS, saves the
 * user RSP in the per-CPU area and runs on the kernel stack it finds there (gs:0). */
    .text
    .altmacro
    .macro STUB vec
    .globl um_stub_\vec
um_stub_\vec:
    .if (\vec <> 8) && ((\vec < 10) || (\vec > 14)) && (\vec <> 17)
    pushq $0
    .endif
    pushq $\vec
    jmp um_trap_common
    .endm

    .set v, 0
    .rept 21
    STUB %v
    .set v, v + 1
    .endr
    STUB 64
    STUB 128

/* Frame on entry: vector, error, rip, cs, rflags, rsp, ss (the CPU aligned RSP to 16 first). */
um_trap_common:
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:  push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    mov %rsp, %rdi
    cld
    call um_trap
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    testb $3, 24(%rsp)
    jz 2f
    swapgs
    verw um_kernel_ds(%rip)
2:  add $16, %rsp
    iretq

/* syscall: rax = number (0 exits user mode with status rdi), rdi = argument; returns rax. */
    .globl um_syscall_entry
um_syscall_entry:
    swapgs
    mov %rsp, %gs:8
    mov %gs:0, %rsp
    pushq %gs:8
    push %rcx
    push %r11
    push %rdx
    test %rax, %rax
    jz um_exit_user
    mov %rdi, %rsi
    mov %rax, %rdi
    call um_syscall
    pop %rdx
    pop %r11
    pop %rcx
    pop %rsp
    swapgs
    verw um_kernel_ds(%rip)
    sysretq

/* uint64_t um_enter_user(uint64_t rip, uint64_t rsp): iretq to CPL3 (IF on); returns the status
 * the user code passes to syscall 0. */
    .globl um_enter_user
um_enter_user:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, um_kernel_rsp(%rip)
    pushq $0x23
    push %rsi
    pushq $0x202
    pushq $0x2b
    push %rdi
    swapgs
    verw um_kernel_ds(%rip)
    iretq

um_exit_user:
    mov %rdi, %rax
    mov um_kernel_rsp(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .data
    .align 8
um_kernel_rsp: .quad 0
    .globl um_kernel_ds
um_kernel_ds: .word 0x10
    .section .note.GNU-stack, "", @progbits
