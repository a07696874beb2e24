/*
 * unit_msp430_bucket_walk(unit_bucket_walk_t *walk)
 *
 * One kernel position of the bucketed CONV_2D kernel on the MSP430 (see
 * walk_channels in ../core/unit_conv_bucketed.c, the portable C version it
 * replaces): for each of `channels` input channels, weight w[c] with
 * quotient tau[c] (skipped outright when tau >= peak[c]), over
 * `rows` input rows, the row's list of entries (key, column), descending
 * |x'|, key = x + 128 as an unsigned byte (x' = key + input_offset - 128),
 * ending in an x' = 0 sentinel, is walked while |x'| > tau:
 *   acc[column - first] += x' * w   if column - first < width (unsigned)
 * (the other columns map outside the output for this kernel column); the
 * list pointer then moves on by row_step bytes and the accumulator row by
 * acc_step bytes; the next channel's lists start channel_step bytes on.
 * The skip test is unit_tap_skipped's:
 * |x'| <= tau  <=>  (uint16_t)(key + input_offset - 128 + tau) <= 2 * tau;
 * with input_offset 128 (zero point -128, the usual case) the key is x'
 * (>= 0) and the hardware build's walk compares it with tau directly,
 * holding row_step and acc_step in registers (tau >= 0: quotients are).
 * Products fit 16 bits (|x'| <= 255, |w| <= 128) and are added to 32-bit
 * accumulators.
 *
 * The walk struct (16-bit fields; the C side checks its size), used as the
 * walk's own counters (entries, w, tau, channels change; the caller fills
 * the struct per call):
 *   0 entries  2 row_step  4 acc  6 acc_step  8 rows (> 0)  10 w  12 tau
 *   14 input_offset  16 first  18 width  20 channels (> 0)  22 channel_step
 *   24 peak (per channel, the largest |x'| in the block: a channel with
 *   tau >= peak multiplies nothing and is skipped outright)
 *
 * Hardware multiplier build (UNIT_MSP430_HWMULT=1): w is written to MPYS
 * once per channel, each multiply is one OP2 write and the signed 32-bit
 * product is added straight from RESLO/RESHI.  Software build: each
 * multiply is unit_msp430_tap.S's quarter-square QSMUL (unit_msp430_asm.h)
 * and the 16-bit product is sign-extended into the accumulator.  Not
 * interrupt-safe in the hardware build (see unit_msp430_tap.S).
 */
#ifndef UNIT_MSP430_HWMULT
#error "define UNIT_MSP430_HWMULT to 1 (hardware multiplier) or 0 (software)"
#endif
#include "unit_msp430_asm.h"

#define ENTRIES   0
#define ROWSTEP   2
#define ACC       4
#define ACCSTEP   6
#define ROWS      8
#define WPTR     10
#define TAUPTR   12
#define OFFSET   14
#define FIRST    16
#define WIDTH    18
#define CHANNELS 20
#define CSTEP    22
#define PEAKPTR  24

    .section .text.unit_msp430_bucket_walk,"ax",@progbits
    .global unit_msp430_bucket_walk
    .type unit_msp430_bucket_walk,@function
unit_msp430_bucket_walk:
#if UNIT_MSP430_HWMULT
    /* R12 walk, R15 row's list, R13 row's acc, R11 offset - 128 + tau
     * (acc_step when the offset is 128), R10 2 * tau (row_step), R9 tau,
     * R8 entry, R7 rows left, R6 column / &acc[column], R5 first, R4 width,
     * R14 key */
    SAVE_R4_R10
    mov     FIRST(r12), r5
    mov     WIDTH(r12), r4
5:  mov     TAUPTR(r12), r14
    mov     @r14+, r9           /* tau */
    mov     r14, TAUPTR(r12)
    mov     WPTR(r12), r14
    mov.b   @r14+, r6
    mov     r14, WPTR(r12)
    mov     PEAKPTR(r12), r14
    cmp     @r14+, r9
    mov     r14, PEAKPTR(r12)
    jge     6f                  /* tau >= the channel's peak: multiplies nothing */
    sxt     r6
    mov     r6, &MPYS           /* w: operand 1 for the channel */
    mov     ENTRIES(r12), r15
    mov     ACC(r12), r13
    mov     ROWS(r12), r7
    mov     OFFSET(r12), r11
    cmp     #128, r11
    jeq     7f                  /* input_offset 128: the key is x' */
    sub     #128, r11
    add     r9, r11             /* input_offset - 128 + tau */
    mov     r9, r10
    add     r10, r10            /* 2 * tau */
3:  mov     r15, r8
1:  mov.b   @r8+, r14           /* key */
    add     r11, r14            /* x' + tau */
    cmp     r14, r10            /* 2 * tau >= that (unsigned): skipped */
    jhs     2f                  /* the first skipped entry ends the row */
    mov.b   @r8+, r6
    sub     r5, r6              /* output column */
    cmp     r4, r6              /* >= width (unsigned): outside the output */
    jhs     1b
    sub     r9, r14             /* x' */
    mov     r14, &OP2           /* x' * w -> RESHI:RESLO */
    rla     r6
    rla     r6
    add     r13, r6             /* &acc[column] */
    add     &RESLO, 0(r6)
    addc    &RESHI, 2(r6)
    jmp     1b
2:  add     ROWSTEP(r12), r15   /* the next row's list */
    add     ACCSTEP(r12), r13   /* and accumulators */
    dec     r7
    jnz     3b
6:  add     CSTEP(r12), ENTRIES(r12) /* the next channel's lists */
    dec     CHANNELS(r12)
    jnz     5b
    RESTORE_R4_R10
    ret
    /* input_offset 128: R14 x' = key, R10 row_step, R11 acc_step */
7:  mov     ROWSTEP(r12), r10
    mov     ACCSTEP(r12), r11
8:  mov     r15, r8
9:  mov.b   @r8+, r14           /* x' (>= 0) */
    cmp     r14, r9             /* tau >= x' (unsigned): skipped */
    jhs     10f                 /* the first skipped entry ends the row */
    mov.b   @r8+, r6
    sub     r5, r6              /* output column */
    cmp     r4, r6              /* >= width (unsigned): outside the output */
    jhs     9b
    mov     r14, &OP2           /* x' * w -> RESHI:RESLO */
    rla     r6
    rla     r6
    add     r13, r6             /* &acc[column] */
    add     &RESLO, 0(r6)
    addc    &RESHI, 2(r6)
    jmp     9b
10: add     r10, r15            /* the next row's list */
    add     r11, r13            /* and accumulators */
    dec     r7
    jnz     8b
    jmp     6b
#else
    /* R4 walk, R5 w, R6 tau, R7 offset - 128 + tau, R8 2 * tau, R9 entry,
     * R10 row's acc, R15 row's list, R11 column / &acc[column],
     * R12-R14 key / x' and QSMUL's; the rows left on the stack (0(SP)). */
    SAVE_R4_R10
    sub     #2, r1
    mov     r12, r4
5:  mov     TAUPTR(r4), r12
    mov     @r12+, r6           /* tau */
    mov     r12, TAUPTR(r4)
    mov     WPTR(r4), r12
    mov.b   @r12+, r5
    mov     r12, WPTR(r4)
    mov     PEAKPTR(r4), r12
    cmp     @r12+, r6
    mov     r12, PEAKPTR(r4)
    jge     6f                  /* tau >= the channel's peak: multiplies nothing */
    sxt     r5                  /* w */
    mov     OFFSET(r4), r7
    sub     #128, r7
    add     r6, r7              /* input_offset - 128 + tau */
    mov     r6, r8
    add     r8, r8              /* 2 * tau */
    mov     ACC(r4), r10
    mov     ENTRIES(r4), r15
    mov     ROWS(r4), 0(r1)
3:  mov     r15, r9
1:  mov.b   @r9+, r12           /* key */
    add     r7, r12             /* x' + tau */
    cmp     r12, r8             /* 2 * tau >= that (unsigned): skipped */
    jhs     2f
    mov.b   @r9+, r11
    sub     FIRST(r4), r11      /* output column */
    cmp     WIDTH(r4), r11      /* >= width (unsigned): outside the output */
    jhs     1b
    sub     r6, r12             /* x' */
    mov     r5, r13
    QSMUL                       /* R12 = x' * w (16 bits) */
    rla     r11
    rla     r11
    add     r10, r11            /* &acc[column] */
    bit     #0x8000, r12
    jz      4f
    sub     #1, 2(r11)          /* sign-extend a negative product */
4:  add     r12, 0(r11)
    adc     2(r11)
    jmp     1b
2:  add     ROWSTEP(r4), r15    /* the next row's list */
    add     ACCSTEP(r4), r10    /* and accumulators */
    dec     0(r1)
    jnz     3b
6:  add     CSTEP(r4), ENTRIES(r4) /* the next channel's lists */
    dec     CHANNELS(r4)
    jnz     5b
    add     #2, r1
    RESTORE_R4_R10
    ret
#endif
    .size unit_msp430_bucket_walk, .-unit_msp430_bucket_walk
