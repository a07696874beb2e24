/*
 * int32_t unit_multiply_by_quantized_multiplier(int32_t x, int32_t
 * multiplier, int32_t shift) for the MSP430: TFLite's requantisation
 * (gemmlowp's SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT),
 * bit for bit the portable C version in ../core/unit_quant.c, which MSP430
 * builds leave out (UNIT_PORT_REQUANTIZE, ../core/unit_port.h).  It runs once
 * per output element; clang-16 compiles the C to about four times the
 * cycles (its 32-bit shifts and compares are long instruction sequences).
 *
 *   x in R13:R12, multiplier in R15:R14 (high:low), shift on the stack
 *   (its low word; requantisation shifts are in [-31, 31]); result R13:R12.
 *
 * Steps: x <<= max(shift, 0) (wrapping, as the C); |x| * |multiplier| as a
 * 64-bit product in R7:R6:R5:R4 (hardware build: four 16 x 16 products on
 * the multiplier; software build: shift-add over the bits of |x|); add the
 * nudge 2^30 (2^30 - 1 when the product is negative); take bits 31..62;
 * saturate the one overflow (INT32_MIN * INT32_MIN); restore the sign; then
 * divide by 2^max(-shift, 0) rounding to nearest, ties away from zero (the
 * last bit shifted out decides; for a negative value a tie also needs a
 * non-zero bit below it, i.e. the remainder must exceed half).
 * Uses R4-R10 (saved) and R11-R15.  (Note for readers: bis/bic leave
 * the flags alone, hence the explicit tst after them.)
 */
#ifndef UNIT_MSP430_HWMULT
#error "define UNIT_MSP430_HWMULT to 1 (hardware multiplier) or 0 (software)"
#endif
#include "unit_msp430_asm.h"

#if !defined(UNIT_PORTABLE_C) /* else the core's C version is built */
    .section .text.unit_multiply_by_quantized_multiplier,"ax",@progbits
    .global unit_multiply_by_quantized_multiplier
    .type unit_multiply_by_quantized_multiplier,@function
unit_multiply_by_quantized_multiplier:
    SAVE_R4_R10
    mov     16(r1), r11         /* shift (low word; 7 pushes + return address) */
    call    #unit_msp430_requantize_core
    RESTORE_R4_R10
    ret

/* The computation, for callers in this file: x in R13:R12, multiplier in
 * R15:R14, shift in R11; result in R13:R12; clobbers R4-R11 and R14-R15. */
    .section .text.unit_msp430_requantize_core,"ax",@progbits
    .type unit_msp430_requantize_core,@function
unit_msp430_requantize_core:
    and     #63, r11            /* keep the loops bounded: [-32, 31] */
    cmp     #32, r11
    jlo     .Lleft_shift
    bis     #-64, r11           /* negative: sign-extend the 6-bit value */
    inv     r11
    inc     r11                 /* R11 = right shift, 1..32 */
    and     #31, r11            /* ... of which 0..31 are meaningful */
    jmp     .Lmagnitudes
.Lleft_shift:                   /* shift >= 0: x <<= shift, no right shift */
    tst     r11
    jz      .Lmagnitudes
.Lleft_loop:
    rla     r12
    rlc     r13
    dec     r11
    jnz     .Lleft_loop

.Lmagnitudes:                   /* R10 bit 15: the product is negative */
    mov     r13, r10
    xor     r15, r10
    bit     #0x8000, r13
    jz      .La_positive
    inv     r12
    inv     r13
    add     #1, r12
    adc     r13
.La_positive:
    bit     #0x8000, r15
    jz      .Lb_positive
    inv     r14
    inv     r15
    add     #1, r14
    adc     r15
.Lb_positive:
    /* (a zero product comes out 0 with either nudge: no special case) */
.Lmultiply:                     /* R7:R6:R5:R4 = R13:R12 * R15:R14 */
#if UNIT_MSP430_HWMULT
    mov     r12, &MPY           /* a0 * b0 */
    mov     r14, &OP2
    mov     &RESLO, r4
    mov     &RESHI, r5
    mov     r15, &OP2           /* a0 * b1 */
    add     &RESLO, r5
    mov     &RESHI, r6
    adc     r6
    clr     r7
    tst     r13                 /* |x| < 2^16, the usual accumulator: done */
    jz      .Lproduct_done
    mov     r13, &MPY           /* a1 * b0 */
    mov     r14, &OP2
    add     &RESLO, r5
    addc    &RESHI, r6
    adc     r7
    mov     r15, &OP2           /* a1 * b1 */
    add     &RESLO, r6
    addc    &RESHI, r7
.Lproduct_done:
#else
    clr     r4
    clr     r5
    clr     r6
    clr     r7
    clr     r8                  /* R9:R8:R15:R14 = b, shifted left each step */
    clr     r9
.Lsw_loop:
    clrc
    rrc     r13
    rrc     r12                 /* C = next bit of a */
    jnc     .Lsw_no_add
    add     r14, r4
    addc    r15, r5
    addc    r8, r6
    addc    r9, r7
.Lsw_no_add:
    rla     r14
    rlc     r15
    rlc     r8
    rlc     r9
    tst     r12
    jnz     .Lsw_loop
    tst     r13
    jnz     .Lsw_loop
#endif

    bit     #0x8000, r10        /* the nudge */
    jnz     .Lnudge_negative
    add     #0x4000, r5         /* + 2^30 */
    jmp     .Lnudge_carry
.Lnudge_negative:
    add     #-1, r4             /* + 2^30 - 1 */
    addc    #0x3FFF, r5
.Lnudge_carry:
    adc     r6
    adc     r7
    rla     r5                  /* R13:R12 = bits 31..62 */
    rlc     r6
    rlc     r7
    mov     r6, r12
    mov     r7, r13
    bit     #0x8000, r10
    jz      .Lpositive
    inv     r12                 /* negative: restore the sign */
    inv     r13
    add     #1, r12
    adc     r13
    jmp     .Lround
.Lpositive:
    bit     #0x8000, r13        /* 2^31: only INT32_MIN * INT32_MIN */
    jz      .Lround
    mov     #-1, r12
    mov     #0x7FFF, r13

.Lround:                        /* rounding divide by 2^R11 */
    tst     r11
    jz      .Ldone
    clr     r14                 /* the last bit shifted out */
    clr     r15                 /* any bit shifted out before it */
.Lround_bytes:                  /* while 9+ bits remain: shift a byte at once */
    cmp     #9, r11
    jlo     .Lround_loop
    mov.b   r12, r14            /* the byte shifted out lies below the last bit */
    bis     r14, r15
    swpb    r12
    swpb    r13
    mov     r13, r14
    and     #0xFF00, r14
    mov.b   r12, r12
    bis     r14, r12            /* R12 = bits 8..23 */
    sxt     r13                 /* R13 = bits 24..31, sign-extended */
    clr     r14
    sub     #8, r11
    jmp     .Lround_bytes
.Lround_loop:
    bis     r14, r15
    rra     r13
    rrc     r12
    clr     r14
    adc     r14
    dec     r11
    jnz     .Lround_loop
    tst     r14                 /* below half: keep the floor */
    jz      .Ldone
    bit     #0x8000, r13
    jz      .Lround_up          /* x >= 0: half or more rounds up */
    tst     r15
    jz      .Ldone              /* x < 0: exactly half rounds down (away from 0) */
.Lround_up:
    add     #1, r12
    adc     r13
.Ldone:
    ret

/* void unit_msp430_requantize_run(unit_requant_run_t *run): requantise
 * run->n accumulators to int8 (see unit_requantize_run in
 * ../core/unit_internal.h), without a C call per output.
 *
 * Fast path, the usual case: multiplier m in (0, 2^31), shift in [-15, -1]
 * (a right shift e in [1, 15]) and an accumulator x that fits int16.  Then
 * |x| * m < 2^46, so gemmlowp's high-mul magnitude M = (|x| m + nudge) >> 31
 * is at most 2^15 and is bits 31..46 of the product: two 16 x 16 products.
 * RoundingDivideByPOT rounds half away from zero, which is odd-symmetric,
 * so it is applied to M as (M + 2^(e-1)) >> e before the sign comes back
 * (the high-mul's nudge already depends on the sign).  Anything else goes
 * through unit_msp430_requantize_core.
 *
 * The fast path tests the sign once and has a branch for each (the
 * magnitude, the nudge and the sign restore depend on it).
 * Registers: R4 accumulators, R5 outputs, R6 outputs left, R7:R8 m (low,
 * high), R9 e (hardware build: 2^(16-e), the shift is a multiply's high
 * word), R10 the run, R11 2^(e-1) (0: no fast path for this run). */
#define RUN_ACC     0
#define RUN_OUT     2
#define RUN_N       4
#define RUN_STRIDE  6
#define RUN_MULT    8
#define RUN_SHIFT  12
#define RUN_OFFSET 14
#define RUN_MIN    16
#define RUN_MAX    18
    .section .text.unit_msp430_requantize_run,"ax",@progbits
    .global unit_msp430_requantize_run
    .type unit_msp430_requantize_run,@function
unit_msp430_requantize_run:
    SAVE_R4_R10
    mov     r12, r10
    mov     RUN_ACC(r10), r4
    mov     RUN_OUT(r10), r5
    mov     RUN_N(r10), r6
    mov     RUN_MULT(r10), r7
    mov     RUN_MULT+2(r10), r8
    mov     RUN_SHIFT(r10), r9
    clr     r11                 /* decide the fast path for the whole run */
    bit     #0x8000, r8         /* m < 0 */
    jnz     .Lrun_loop
    mov     r7, r14
    bis     r8, r14
    tst     r14                 /* m = 0 */
    jz      .Lrun_loop
    cmp     #-15, r9
    jl      .Lrun_loop          /* shift < -15 */
    tst     r9
    jge     .Lrun_loop          /* shift >= 0 */
    inv     r9
    inc     r9                  /* e = -shift, 1..15 */
    mov     #1, r11             /* 2^(e-1) */
    mov     r9, r14
.Lrun_half:
    dec     r14
    jz      .Lrun_half_done
    rla     r11
    jmp     .Lrun_half
.Lrun_half_done:
#if UNIT_MSP430_HWMULT
    /* R9 = 2^(16-e): the shift right by e is the high word of a product */
    mov     #0x8000, r9
    mov     r11, r14
.Lrun_pow:
    rra     r14                 /* 2^(e-1) >> 1 ... */
    jz      .Lrun_loop
    clrc
    rrc     r9
    jmp     .Lrun_pow
#endif

/* P = R12 * m = R12:R15:R14 (< 2^47), R12 = |x| <= 2^15 */
.macro RUN_PRODUCT
#if UNIT_MSP430_HWMULT
    mov     r12, &MPY
    mov     r7, &OP2
    mov     &RESLO, r14
    mov     &RESHI, r15
    mov     r8, &OP2
    add     &RESLO, r15
    mov     &RESHI, r12
    adc     r12
#else
    push    r11                 /* shift-add over the bits of |x|: */
    push    r9                  /* P = R11:R15:R14, m shifted = R9:R8:R7 */
    push    r8
    push    r7
    clr     r14
    clr     r15
    clr     r11
    clr     r9
1:  clrc
    rrc     r12
    jnc     2f
    add     r7, r14
    addc    r8, r15
    addc    r9, r11
2:  rla     r7
    rlc     r8
    rlc     r9
    tst     r12
    jnz     1b
    mov     r11, r12            /* P = R12:R15:R14 */
    pop     r7
    pop     r8
    pop     r9
    pop     r11
#endif
.endm

/* R15 = (M + 2^(e-1)) >> e for M in R12 (M + 2^14 < 2^16) */
.macro RUN_ROUND_SHIFT
#if UNIT_MSP430_HWMULT
    add     r11, r12            /* the high word of (M + 2^(e-1)) * 2^(16-e) */
    mov     r12, &MPY
    mov     r9, &OP2
    mov     &RESHI, r15
#else
    mov     r12, r15
    add     r11, r15
    mov     r9, r14
    cmp     #8, r14
    jlo     1f
    swpb    r15
    and     #0xFF, r15
    sub     #8, r14
1:  tst     r14
    jz      3f
2:  clrc
    rrc     r15
    dec     r14
    jnz     2b
3:
#endif
.endm

.Lrun_loop:                     /* one output per pass */
    tst     r11
    jnz     .Lrun_fast
    br      #.Lrun_general_load
.Lrun_fast:                     /* fast path: x fits int16 */
    mov     @r4+, r12           /* x = R13:R12 */
    mov     @r4+, r13
    mov     r12, r14            /* R13 is R12's sign extension? */
    rla     r14
    subc    r14, r14
    inv     r14
    cmp     r14, r13
    jeq     .Lrun_fast_fits
    br      #.Lrun_general
.Lrun_fast_fits:
    tst     r13
    jn      .Lrun_negative
    RUN_PRODUCT                 /* x >= 0: nudge 2^30 */
    add     #0x4000, r15
    adc     r12
    rla     r15
    rlc     r12                 /* R12 = M = bits 31..46 (<= 2^15) */
    RUN_ROUND_SHIFT
    jmp     .Lrun_offset16
.Lrun_negative:                 /* x < 0: |x|, nudge 2^30 - 1, then -result */
    inv     r12
    inc     r12                 /* |x| <= 2^15 */
    RUN_PRODUCT
    add     #-1, r14
    addc    #0x3FFF, r15
    adc     r12
    rla     r15
    rlc     r12
    RUN_ROUND_SHIFT
    inv     r15
    inc     r15
.Lrun_offset16:                 /* |value| <= 2^14: 16-bit offset and clamp */
    add     RUN_OFFSET(r10), r15
    cmp     RUN_MIN(r10), r15
    jge     .Lrun_min16
    mov     RUN_MIN(r10), r15
.Lrun_min16:
    cmp     r15, RUN_MAX(r10)
    jge     .Lrun_max16
    mov     RUN_MAX(r10), r15
.Lrun_max16:
    mov.b   r15, 0(r5)
    add     RUN_STRIDE(r10), r5
    dec     r6
    jz      .Lrun_fast_done
    br      #.Lrun_fast
.Lrun_fast_done:
    br      #.Lrun_done

.Lrun_general_load:
    mov     @r4+, r12           /* x = R13:R12 */
    mov     @r4+, r13
.Lrun_general:                  /* the full computation */
    push    r4
    push    r5
    push    r6
    push    r9
    push    r10
    push    r11
    mov     RUN_MULT(r10), r14
    mov     RUN_MULT+2(r10), r15
    mov     RUN_SHIFT(r10), r11
    call    #unit_msp430_requantize_core
    pop     r11
    pop     r10
    pop     r9
    pop     r6
    pop     r5
    pop     r4
    mov     RUN_MULT(r10), r7
    mov     RUN_MULT+2(r10), r8
    mov     RUN_OFFSET(r10), r14  /* + output offset, sign-extended */
    add     r14, r12
    adc     r13
    bit     #0x8000, r14
    jz      .Lrun_clamp
    sub     #1, r13
.Lrun_clamp:                    /* R13:R12 outside int16: the bound on its side */
    mov     r12, r14
    rla     r14
    subc    r14, r14
    inv     r14                 /* R14 = the sign extension of R12 */
    cmp     r14, r13
    jeq     .Lrun_fits
    mov     RUN_MAX(r10), r12
    bit     #0x8000, r13
    jz      .Lrun_store
    mov     RUN_MIN(r10), r12
    jmp     .Lrun_store
.Lrun_fits:
    cmp     RUN_MIN(r10), r12
    jge     .Lrun_min_ok
    mov     RUN_MIN(r10), r12
.Lrun_min_ok:
    cmp     r12, RUN_MAX(r10)
    jge     .Lrun_store
    mov     RUN_MAX(r10), r12
.Lrun_store:
    mov.b   r12, 0(r5)
.Lrun_next:
    add     RUN_STRIDE(r10), r5
    dec     r6
    jz      .Lrun_done
    br      #.Lrun_loop
.Lrun_done:
    RESTORE_R4_R10
    ret

#endif /* !UNIT_PORTABLE_C */
