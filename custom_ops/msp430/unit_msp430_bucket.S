/*
 * unit_msp430_bucket_walk(unit_bucket_walk_t *walk)
 *
 * One weight of the bucketed CONV_2D kernel on the MSP430 (see walk_rows
 * in ../core/unit_conv_bucketed.c, the portable C version it replaces):
 * for each of `rows` input rows, the row's list of entries (raw x, column),
 * descending |x + input_offset|, ending in an x' = 0 sentinel, is walked
 * while |x'| > tau:
 *   acc[column] += x' * w
 * then the list pointer moves on by list_step bytes and the accumulator row
 * by acc_step bytes.  The skip test is unit_tap_skipped's:
 * |x'| <= tau  <=>  (uint16_t)(x + input_offset + tau) <= 2 * tau.  The
 * caller passes tau in [0, 254] only.  Products fit 16 bits (|x'| <= 255,
 * |w| <= 128) and are added to 32-bit accumulators.
 *
 * The walk struct (16-bit fields; the C side checks its size):
 *   0 entries  2 list_step  4 acc  6 acc_step  8 rows (> 0)  10 w  12 tau
 *   14 input_offset.  The software build uses `entries` and `rows` as its
 * own counters (the caller refills the struct per weight).
 *
 * Hardware multiplier build (UNIT_MSP430_HWMULT=1): w is written to MPYS
 * once, each multiply is one OP2 write and the signed 32-bit product is
 * added straight from RESLO/RESHI.  Software build: each multiply calls
 * __mspabi_mpyi (x' in R12, w in R13) and the 16-bit product is
 * sign-extended into the accumulator.  Not interrupt-safe in the hardware
 * build (see unit_msp430_tap.S).
 */
#ifndef UNIT_MSP430_HWMULT
#error "define UNIT_MSP430_HWMULT to 1 (hardware multiplier) or 0 (software)"
#endif
#include "unit_msp430_asm.h"

    .section .text.unit_msp430_bucket_walk,"ax",@progbits
    .global unit_msp430_bucket_walk
    .type unit_msp430_bucket_walk,@function
unit_msp430_bucket_walk:
#if UNIT_MSP430_HWMULT
    /* R12 walk, R15 row's list, R13 row's acc, R11 offset + tau,
     * R10 2 * tau, R9 tau, R8 entry, R7 rows left, R6 &acc[column],
     * R14 x */
    push    r10
    push    r9
    push    r8
    push    r7
    push    r6
    mov     10(r12), &MPYS      /* w: operand 1 for every row */
    mov     12(r12), r9         /* tau */
    mov     14(r12), r11
    add     r9, r11             /* input_offset + tau */
    mov     r9, r10
    add     r10, r10            /* 2 * tau */
    mov     @r12, r15
    mov     4(r12), r13
    mov     8(r12), r7
3:  mov     r15, r8
1:  mov.b   @r8+, r14
    sxt     r14                 /* x */
    add     r11, r14            /* x + input_offset + tau */
    cmp     r14, r10            /* 2 * tau >= that (unsigned): skipped */
    jhs     2f                  /* the first skipped entry ends the row */
    sub     r9, r14             /* x' */
    mov     r14, &OP2           /* x' * w -> RESHI:RESLO */
    mov.b   @r8+, r6
    rla     r6
    rla     r6
    add     r13, r6             /* &acc[column] */
    add     &RESLO, 0(r6)
    addc    &RESHI, 2(r6)
    jmp     1b
2:  add     2(r12), r15         /* the next row's list */
    add     6(r12), r13         /* and accumulators */
    dec     r7
    jnz     3b
    pop     r6
    pop     r7
    pop     r8
    pop     r9
    pop     r10
    ret
#else
    /* R4 walk, R5 w, R6 tau, R7 offset + tau, R8 2 * tau, R9 entry,
     * R10 row's acc; __mspabi_mpyi clobbers R11-R15. */
    SAVE_R4_R10
    mov     r12, r4
    mov     10(r4), r5          /* w */
    mov     12(r4), r6          /* tau */
    mov     14(r4), r7
    add     r6, r7              /* input_offset + tau */
    mov     r6, r8
    add     r8, r8              /* 2 * tau */
    mov     4(r4), r10
3:  mov     @r4, r9
1:  mov.b   @r9+, r12
    sxt     r12                 /* x */
    add     r7, r12             /* x + input_offset + tau */
    cmp     r12, r8             /* 2 * tau >= that (unsigned): skipped */
    jhs     2f
    sub     r6, r12             /* x' */
    mov     r5, r13
    call    #__mspabi_mpyi      /* R12 = x' * w (16 bits) */
    mov.b   @r9+, r13
    rla     r13
    rla     r13
    add     r10, r13            /* &acc[column] */
    bit     #0x8000, r12
    jz      4f
    sub     #1, 2(r13)          /* sign-extend a negative product */
4:  add     r12, 0(r13)
    adc     2(r13)
    jmp     1b
2:  add     2(r4), 0(r4)        /* the next row's list */
    add     6(r4), r10          /* and accumulators */
    dec     8(r4)
    jnz     3b
    RESTORE_R4_R10
    ret
#endif
    .size unit_msp430_bucket_walk, .-unit_msp430_bucket_walk
