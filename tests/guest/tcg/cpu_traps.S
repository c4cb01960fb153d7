/* Trap stubs for the tcg CPU tests: every stub pushes a vector (and a zero error code where the
 * CPU pushes none), saves the GPRs and calls cpu_trap(struct trap_frame*), which may change the
 * saved RIP before iretq. */
    .text
    .macro STUB vec, has_error
    .globl trap_stub_\vec
trap_stub_\vec:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vec
    jmp trap_common
    .endm

    STUB 0, 0
    STUB 3, 0
    STUB 6, 0
    STUB 13, 1
    STUB 14, 1

trap_common:
    push %rax
    push %rcx
    push %rdx
    push %rbx
    push %rbp
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    mov %rsp, %rdi
    cld
    call cpu_trap
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rbp
    pop %rbx
    pop %rdx
    pop %rcx
    pop %rax
    add $16, %rsp
    iretq
    .section .note.GNU-stack, "", @progbits
