/* The host x87 instructions the translator runs on the guest's behalf (tcg/x87_host.cc).
 *
 * One 32-byte stub per x87 encoding: D8..DF with each register-form ModRM byte (C0..FF) and each
 * memory-form /reg, whose operand is rewritten to (%rsi). A stub is called as
 *   uint64_t stub(void* fxsave_image, void* mem_operand, uint64_t rflags_in)
 * It loads RFLAGS (for fcmovcc), the guest's x87 state (FXRSTOR64), runs the one instruction, then
 * returns RFLAGS (for fcomi) and stores the state back (FXSAVE64). FXSAVE and FNINIT do not wait,
 * so an unmasked exception the instruction raised stays pending in the saved image and never
 * reaches the host as SIGFPE; FNINIT leaves the host x87 as the ABI expects it.
 * Index: (opcode - 0xd8) * 72 + (modrm >= 0xc0 ? modrm - 0xc0 : 64 + reg). */
    .text
    .globl corvid_x87_stubs
    .balign 32
corvid_x87_stubs:

.macro X87_STUB opc, modrm
    .balign 32
    push %rdx
    popfq
    fxrstor64 (%rdi)
    .byte \opc, \modrm
    pushfq
    pop %rax
    fxsave64 (%rdi)
    fninit
    ret
.endm

.macro X87_OPCODE opc
    .set corvid_x87_m, 0xc0
    .rept 64
    X87_STUB \opc, corvid_x87_m
    .set corvid_x87_m, corvid_x87_m + 1
    .endr
    .set corvid_x87_r, 0
    .rept 8
    X87_STUB \opc, (corvid_x87_r << 3) | 6
    .set corvid_x87_r, corvid_x87_r + 1
    .endr
.endm

    X87_OPCODE 0xd8
    X87_OPCODE 0xd9
    X87_OPCODE 0xda
    X87_OPCODE 0xdb
    X87_OPCODE 0xdc
    X87_OPCODE 0xdd
    X87_OPCODE 0xde
    X87_OPCODE 0xdf

    .section .note.GNU-stack, "", @progbits
