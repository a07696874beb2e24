/*
 * __mspabi_mpyi and __mspabi_mpyl on the hardware multiplier (hardware
 * multiplier builds only; the software build takes them from
 * mspabi_mul.c).  In assembly because they run once per MAC and per index
 * computation: the C versions cost about twice the cycles.
 *
 * Registers (MSP430 EABI, checked against clang-16's call sites):
 *   mpyi: a in R12, b in R13, product in R12;
 *   mpyl: a in R13:R12, b in R15:R14 (high:low), product in R13:R12.
 * Only R11-R15 (caller-saved) are used.  Not interrupt-safe (an interrupt
 * that multiplies between an OP2 write and the result read corrupts it);
 * tflm-unit's MSP430 programs run with interrupts disabled.
 */
#include "unit_msp430_asm.h"

/* The low 16 bits of a product are the same signed or unsigned. */
    .section .text.__mspabi_mpyi,"ax",@progbits
    .global __mspabi_mpyi
    .type __mspabi_mpyi,@function
__mspabi_mpyi:
    mov     r12, &MPY
    mov     r13, &OP2
    mov     &RESLO, r12
    ret

/* Unsigned 16 x 16 -> 32 (the EABI's widening helper; clang never emits
 * it, the core's requantisation calls it by name): a in R12, b in R13,
 * product in R13:R12. */
    .section .text.__mspabi_mpyul,"ax",@progbits
    .global __mspabi_mpyul
    .type __mspabi_mpyul,@function
__mspabi_mpyul:
    mov     r12, &MPY
    mov     r13, &OP2
    mov     &RESLO, r12
    mov     &RESHI, r13
    ret

/* (a_hi*2^16 + a_lo)(b_hi*2^16 + b_lo) mod 2^32
 *   = a_lo*b_lo + 2^16 * low16(a_lo*b_hi + a_hi*b_lo):
 * three unsigned 16 x 16 products, no branches. */
    .section .text.__mspabi_mpyl,"ax",@progbits
    .global __mspabi_mpyl
    .type __mspabi_mpyl,@function
__mspabi_mpyl:
    mov     r12, &MPY        /* a_lo * b_hi */
    mov     r15, &OP2
    mov     &RESLO, r15      /* r15 = low16(a_lo * b_hi) */
    mov     r13, &MPY        /* a_hi * b_lo */
    mov     r14, &OP2
    add     &RESLO, r15      /* r15 += low16(a_hi * b_lo) */
    mov     r12, &MPY        /* a_lo * b_lo, all 32 bits */
    mov     r14, &OP2
    mov     &RESLO, r12
    mov     &RESHI, r13
    add     r15, r13         /* add the cross terms to the high word */
    ret
