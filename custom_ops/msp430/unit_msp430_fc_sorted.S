/*
 * unit_msp430_fc_sorted_walk8(int32_t *acc, const int8_t *w,
 *                             const uint8_t *index, int16_t xv, int16_t tau)
 *
 * One segment of the sorted FULLY_CONNECTED layout on the MSP430 (see
 * walk8 in ../core/unit_fc_sorted.c, the portable C version it replaces):
 * for the weights w[0], w[1], ... (descending |w|, a zero weight ends the
 * segment) while |w[k]| > tau:
 *   acc[index[k]] += xv * w[k]
 * The skip test is unit_tap_skipped's: |w| <= tau  <=>
 * (uint16_t)(w + tau) <= 2 * tau, one add and one unsigned compare.  The
 * caller passes tau in [0, 127] only (a larger tau skips every |w| <= 128:
 * it does not call at all).  Products fit 16 bits (|xv| <= 255,
 * |w| <= 128) and are added to 32-bit accumulators.
 *
 * Hardware multiplier build (UNIT_MSP430_HWMULT=1): xv is written to MPYS
 * once, each multiply is one OP2 write and the signed 32-bit product is
 * added straight from RESLO/RESHI.  Software build: each multiply calls
 * __mspabi_mpyi (x' in R12, w in R13, as the tap walk does) and the 16-bit
 * product is sign-extended into the accumulator.
 * Not interrupt-safe in the hardware build (see unit_msp430_tap.S).
 *
 * Arguments (MSP430 EABI): R12 acc, R13 w, R14 index, R15 xv, tau on the
 * stack at 2(SP) on entry.
 */
#ifndef UNIT_MSP430_HWMULT
#error "define UNIT_MSP430_HWMULT to 1 (hardware multiplier) or 0 (software)"
#endif
#include "unit_msp430_asm.h"

    .section .text.unit_msp430_fc_sorted_walk8,"ax",@progbits
    .global unit_msp430_fc_sorted_walk8
    .type unit_msp430_fc_sorted_walk8,@function
unit_msp430_fc_sorted_walk8:
#if UNIT_MSP430_HWMULT
    /* R12 acc, R13 w, R14 index, R11 tau, R15 2 * tau, R10 w[k],
     * R9 scratch / &acc[index[k]] */
    push    r10
    push    r9
    mov     6(r1), r11          /* tau */
    mov     r15, &MPYS          /* xv: operand 1 for the whole segment */
    mov     r11, r15
    add     r15, r15            /* 2 * tau */
1:  mov.b   @r13+, r10
    sxt     r10                 /* w[k] */
    mov     r10, r9
    add     r11, r9             /* w + tau */
    cmp     r9, r15             /* 2 * tau >= w + tau (unsigned): skipped */
    jhs     2f                  /* the first skipped weight ends the walk */
    mov     r10, &OP2           /* xv * w -> RESHI:RESLO */
    mov.b   @r14+, r9
    rla     r9
    rla     r9
    add     r12, r9             /* &acc[index[k]] */
    add     &RESLO, 0(r9)
    addc    &RESHI, 2(r9)
    jmp     1b
2:  pop     r9
    pop     r10
    ret
#else
    /* R10 acc, R9 w, R8 index, R7 xv, R6 tau, R5 2 * tau, R4 scratch;
     * __mspabi_mpyi clobbers R11-R15. */
    SAVE_R4_R10
    mov     16(r1), r6          /* tau (2 bytes return address + 7 pushes) */
    mov     r12, r10
    mov     r13, r9
    mov     r14, r8
    mov     r15, r7
    mov     r6, r5
    add     r5, r5              /* 2 * tau */
1:  mov.b   @r9+, r13
    sxt     r13                 /* w[k] */
    mov     r13, r4
    add     r6, r4              /* w + tau */
    cmp     r4, r5              /* 2 * tau >= w + tau (unsigned): skipped */
    jhs     3f
    mov     r7, r12
    call    #__mspabi_mpyi      /* R12 = xv * w (16 bits) */
    mov.b   @r8+, r4
    rla     r4
    rla     r4
    add     r10, r4             /* &acc[index[k]] */
    bit     #0x8000, r12
    jz      2f
    sub     #1, 2(r4)           /* sign-extend a negative product */
2:  add     r12, 0(r4)
    adc     2(r4)
    jmp     1b
3:  RESTORE_R4_R10
    ret
#endif
    .size unit_msp430_fc_sorted_walk8, .-unit_msp430_fc_sorted_walk8
