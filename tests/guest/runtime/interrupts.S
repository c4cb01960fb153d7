/*
 * Interrupt entry stubs for the test guests: every vector 0..63 pushes its number and jumps to a
 * common path that saves the caller-saved registers and calls guest_interrupt(vector) (C).
 * Vectors 8, 10-14 and 17 push an error code (SDM vol. 3, table 6-1); it is dropped here.
 */
    .code64
    .text
    .altmacro
.macro STUB vec
    .align 16
isr_\vec:
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17)
    add $8, %rsp
    .endif
    push $\vec
    jmp isr_common
.endm

    .globl isr_table
isr_stubs:
    .set v, 0
    .rept 64
    STUB %v
    .set v, v + 1
    .endr

isr_common:
    push %rbx
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    mov 80(%rsp), %rdi          /* the vector */
    mov %rsp, %rbx              /* rbx is callee-saved: keep the frame, align for the call */
    and $-16, %rsp
    call guest_interrupt
    mov %rbx, %rsp
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    pop %rbx
    add $8, %rsp                /* the vector */
    iretq

    .section .data
    .align 8
isr_table:
    .set v, 0
    .rept 64
    .quad isr_stubs + v * 16
    .set v, v + 1
    .endr
