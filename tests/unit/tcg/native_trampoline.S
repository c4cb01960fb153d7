/* run_native(struct NativeState* st, void* code): loads RFLAGS and the 16 GPRs from st, jumps to
 * code (which ends with an absolute jmp to native_return), then stores them back. Layout of st:
 * rflags, gpr[16] (rax..r15 in encoding order). Not reentrant (test-process only). */
    .text
    .globl run_native
    .globl native_return
run_native:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, saved_rsp(%rip)
    mov %rdi, saved_st(%rip)
    mov %rsi, code_ptr(%rip)
    mov %rdi, %rsp
    popfq
    pop %rax
    pop %rcx
    pop %rdx
    pop %rbx
    lea 8(%rsp), %rsp
    pop %rbp
    pop %rsi
    pop %rdi
    pop %r8
    pop %r9
    pop %r10
    pop %r11
    pop %r12
    pop %r13
    pop %r14
    pop %r15
    mov -96(%rsp), %rsp
    jmp *code_ptr(%rip)
native_return:
    mov %rsp, tmp_rsp(%rip)
    mov saved_st(%rip), %rsp
    lea 136(%rsp), %rsp
    push %r15
    push %r14
    push %r13
    push %r12
    push %r11
    push %r10
    push %r9
    push %r8
    push %rdi
    push %rsi
    push %rbp
    push %rbp
    push %rbx
    push %rdx
    push %rcx
    push %rax
    pushfq
    cld
    mov tmp_rsp(%rip), %rax
    mov saved_st(%rip), %rbx
    mov %rax, 40(%rbx)
    mov saved_rsp(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .bss
    .align 8
saved_rsp: .quad 0
saved_st: .quad 0
code_ptr: .quad 0
tmp_rsp: .quad 0
    .section .note.GNU-stack, "", @progbits
