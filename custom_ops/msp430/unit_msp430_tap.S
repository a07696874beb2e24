/*
 * unit_msp430_tap_walk(unit_tap_walk_t *walk): the inner loops of CONV_2D
 * and DEPTHWISE_CONV_2D on the MSP430 (see unit_accumulate_tap in
 * ../core/unit_conv_common.c, the portable C version it replaces, and
 * unit_tap_walk_t in ../core/unit_internal.h for the fields).
 *
 * For each input channel of one kernel position in turn (a channel whose
 * quotient tau >= 255 covers every |x'| is passed over), its weight w is
 * applied to every position of the rectangle:
 *   acc += (x + input_offset) * w        dense (tau < 0)
 *   the same unless |x + offset| <= tau  UnIT: |x'| <= tau is x in [lo, hi],
 *                                        tested on the raw byte as
 *                                        (x - lo) mod 256 <= hi - lo: one byte
 *                                        subtract, one unsigned compare
 * Products fit 16 bits (|x'| <= 255, |w| <= 128) and are added to 32-bit
 * accumulators.  Hardware multiplier build (UNIT_MSP430_HWMULT=1): w is
 * written to the signed operand register MPYS once per walk (the operand
 * stays until rewritten), each multiply is one OP2 write, and the signed
 * 32-bit product is added straight from RESLO/RESHI.  Software build: each
 * multiply calls __mspabi_mpyi, as compiled C would, and the 16-bit product
 * is sign-extended into the accumulator.
 *
 * Rows are walked four positions per loop step (width mod 4 first).
 * Registers: R4 input pointer, R5 accumulator pointer, R6 position quads
 * left in the row, R7 input step, R8 input offset, R9 rows left, R10 the
 * walk; UnIT also R11 = lo and R15 = hi - lo (reloaded after a helper call
 * in the software build, which may clobber R11-R15).
 * Not interrupt-safe in the hardware build (an interrupt that multiplies
 * would change MPYS); tflm-unit's MSP430 programs run with interrupts off.
 */
#ifndef UNIT_MSP430_HWMULT
#error "define UNIT_MSP430_HWMULT to 1 (hardware multiplier) or 0 (software)"
#endif
#include "unit_msp430_asm.h"

/* unit_tap_walk_t field offsets */
#define X        0
#define ACC      2
#define WIDTH    4
#define HEIGHT   6
#define XSTEP    8
#define XGAP    10
#define ACCGAP  12
#define OFFSET  14
#define WPTR    16
#define TAUPTR  18
#define CHANNELS 20
#define WVAL    22              /* scratch: this channel's weight */
#define SKIP_LO 24              /* scratch: lo */
#define SKIP_RANGE 26           /* scratch: hi - lo */

/* acc[off] += R12 * w, R12 = x' */
.macro MAC off
#if UNIT_MSP430_HWMULT
    mov     r12, &OP2
    add     &RESLO, \off(r5)
    addc    &RESHI, \off+2(r5)
#else
    mov     WVAL(r10), r13
    call    #__mspabi_mpyi
    bit     #0x8000, r12
    jz      2f
    sub     #1, \off+2(r5)      /* sign-extend a negative product */
2:  add     r12, \off(r5)
    adc     \off+2(r5)
#endif
.endm

/* dense: the position at R4, accumulator at \off(R5) */
.macro DENSE_TAP off
    mov.b   @r4, r12
    sxt     r12
    add     r8, r12             /* x' = x + offset */
    MAC     \off
.endm

/* UnIT: skip unless x is outside [lo, hi] */
.macro SKIP_TAP off
    mov.b   @r4, r12
    sub.b   r11, r12            /* (x - lo) mod 256 */
    cmp     r12, r15            /* <= hi - lo (unsigned): skip */
    jhs     1f
    mov.b   @r4, r12
    sxt     r12
    add     r8, r12             /* x' = x + offset */
    MAC     \off
#if !UNIT_MSP430_HWMULT
    mov     SKIP_LO(r10), r11   /* the helper may clobber R11-R15 */
    mov     SKIP_RANGE(r10), r15
#endif
1:
.endm

/* UnIT when lo = -128 (the usual zero point -128 makes x' = x + 128 >= 0):
 * skip when x <= hi, one signed byte compare against memory. */
.macro SKIP_TAP_BELOW off
    cmp.b   @r4, r15            /* hi >= x (signed bytes): skip */
    jge     1f
    mov.b   @r4, r12
    sxt     r12
    add     r8, r12             /* x' = x + offset */
    MAC     \off
#if !UNIT_MSP430_HWMULT
    mov     SKIP_RANGE(r10), r15 /* the helper may clobber R11-R15 */
#endif
1:
.endm

/* One channel's walk over the rectangle with TAP (DENSE_TAP, SKIP_TAP or
 * SKIP_TAP_BELOW), four positions per loop step. */
.macro WALK4 tap
    mov     X(r10), r4
    mov     ACC(r10), r5
    mov     HEIGHT(r10), r9
3:  mov     WIDTH(r10), r6
    bit     #1, r6
    jz      7f
    \tap    0                   /* width mod 4 positions first */
    add     r7, r4
    add     #4, r5
7:  bit     #2, r6
    jz      4f
    \tap    0
    add     r7, r4
    \tap    4
    add     r7, r4
    add     #8, r5
4:  rra     r6
    rra     r6                  /* position quads */
    jz      6f
5:  \tap    0
    add     r7, r4
    \tap    4
    add     r7, r4
    \tap    8
    add     r7, r4
    \tap    12
    add     r7, r4
    add     #16, r5
    dec     r6
    jnz     5b
6:  add     XGAP(r10), r4
    add     ACCGAP(r10), r5
    dec     r9
    jnz     3b
.endm

#if !defined(UNIT_PORTABLE_C) /* else the core's C version is built */
    .section .text.unit_msp430_tap_walk,"ax",@progbits
    .global unit_msp430_tap_walk
    .type unit_msp430_tap_walk,@function
unit_msp430_tap_walk:
    SAVE_R4_R10
    mov     r12, r10
    mov     XSTEP(r10), r7
    mov     OFFSET(r10), r8
.Lchannel:
    mov     WPTR(r10), r12      /* this channel's weight */
    mov.b   @r12, r12
    sxt     r12
    inc     WPTR(r10)
#if UNIT_MSP430_HWMULT
    mov     r12, &MPYS          /* stays for the whole walk */
#else
    mov     r12, WVAL(r10)
#endif
    mov     TAUPTR(r10), r13
    tst     r13
    jz      .Ldense
    mov     @r13+, r14          /* tau */
    mov     r13, TAUPTR(r10)
    cmp     #255, r14
    jlo     .Lwalked            /* tau covers every |x'|: never multiplies */
    br      #.Lnext_channel     /* (the walks are too long for a jump) */
.Lwalked:
    mov     r14, r11            /* lo = max(-tau - offset, -128) */
    inv     r11
    inc     r11
    sub     r8, r11
    cmp     #-128, r11
    jge     .Llo_ok
    mov     #-128, r11
.Llo_ok:
    mov     r14, r15            /* hi = min(tau - offset, 127) */
    sub     r8, r15
    cmp     #128, r15
    jl      .Lhi_ok
    mov     #127, r15
.Lhi_ok:
    cmp     #-128, r11
    jne     .Lrange
#if !UNIT_MSP430_HWMULT
    mov     r15, SKIP_RANGE(r10) /* here: hi */
#endif
    WALK4   SKIP_TAP_BELOW      /* x >= -128 always: only x <= hi to test */
    br      #.Lnext_channel
.Lrange:
    sub     r11, r15            /* hi - lo */
#if !UNIT_MSP430_HWMULT
    mov     r11, SKIP_LO(r10)
    mov     r15, SKIP_RANGE(r10)
#endif
    WALK4   SKIP_TAP
    br      #.Lnext_channel
.Ldense:
    WALK4   DENSE_TAP
.Lnext_channel:
    inc     X(r10)
    dec     CHANNELS(r10)
    jz      .Lreturn
    br      #.Lchannel
.Lreturn:
    RESTORE_R4_R10
    ret
#endif /* !UNIT_PORTABLE_C */
