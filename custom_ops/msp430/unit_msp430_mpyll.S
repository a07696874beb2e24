/*
 * __mspabi_mpyll: the 64 x 64 -> 64 bit multiply the compiler calls.
 *
 * The MSP430 EABI passes this helper's two 64-bit operands in R8:R11 and
 * R12:R15 (least significant word first) and expects the product in
 * R12:R15 (checked against clang-16's call sites).  The ordinary calling
 * convention instead passes a second 64-bit argument on the stack, so we
 * push R8:R11 and call the C implementation unit_msp430_mul64(R12:R15,
 * stack).  R8-R10 are preserved by that C function (callee-saved).
 */
    .section .text.__mspabi_mpyll,"ax",@progbits
    .global __mspabi_mpyll
    .type __mspabi_mpyll,@function
__mspabi_mpyll:
    push    r11
    push    r10
    push    r9
    push    r8
    call    #unit_msp430_mul64
    add     #8, r1
    ret
