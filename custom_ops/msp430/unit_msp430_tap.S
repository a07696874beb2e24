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
 * multiply is a quarter-square table difference (QSMUL, ~20 cycles; a
 * __mspabi_mpyi shift-add call costs several times that), and the 16-bit
 * product is sign-extended into the accumulator.
 *
 * Rows are walked four positions per loop step (width mod 4 first).
 * Registers: R4 input pointer, R5 accumulator pointer, R6 position quads
 * left in the row, R7 input step, R8 input offset, R9 rows left, R10 the
 * walk; UnIT also R11 = lo and R15 = hi - lo; R12-R14 scratch.
 * Not interrupt-safe in the hardware build (an interrupt that multiplies
 * would change MPYS); tflm-unit's MSP430 programs run with interrupts off.
 */
#ifndef UNIT_MSP430_HWMULT
#error "define UNIT_MSP430_HWMULT to 1 (hardware multiplier) or 0 (software)"
#endif
#include "unit_msp430_asm.h"

/* QSMUL (the software build's multiply): unit_msp430_asm.h */

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
    QSMUL
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
    jnz     .Lskipping
    br      #.Ldense            /* (the walks are too long for a jump) */
.Lskipping:
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
    jeq     .Lbelow
    br      #.Lrange
.Lbelow:
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

/*
 * unit_msp430_window_walk(unit_window_walk_t *walk): the dense CONV_2D
 * inner loops, output-stationary (see unit_accumulate_window in
 * ../core/unit_conv_common.c, the portable C version it replaces, and
 * unit_window_walk_t in ../core/unit_internal.h for the fields).
 *
 * Hardware multiplier build: each position's sum is formed in the
 * multiplier's accumulator (RESHI:RESLO, 32 bits, wrapping as int32 does):
 * it is preloaded with bias + input_offset * (the window's weight sum),
 * computed once per walk with the same MACS, and each tap is then
 * MACS = w, OP2 = x (raw, sign-extended): sum (x + offset) * w =
 * sum x * w + offset * sum w.  About 15 cycles per MAC, against ~23 for the
 * weight-stationary walk that adds each product to an accumulator in RAM.
 * Software build: x' * w by quarter squares (QSMUL), added to a register
 * pair.
 * Runs are walked four taps per loop step (run mod 4 first).
 */
#define WX        0
#define WW        2
#define WACC      4
#define WWIDTH    6
#define WHEIGHT   8
#define WXSTEP   10
#define WXPOSGAP 12
#define WACCGAP  14
#define WROWS    16
#define WXROWGAP 18
#define WWROWGAP 20
#define WCOLS    22
#define WXCOLGAP 24
#define WWCOLGAP 26
#define WRUN     28
#define WOFFSET  30
#define WBIAS    32
#define WSUM     36             /* scratch: the preloaded sum */
#define WPOSLEFT 40             /* scratch (software build) */
#define WHLEFT   42
#define WROWLEFT 44
#define WPOSX    46

#if UNIT_MSP430_HWMULT
#define WUNROLL 32              /* the longest run walked without a loop */
#define WTAP_BYTES 16           /* one WTAP's code */
/* one tap: RESHI:RESLO += x * w; R4 input, R5 weight */
.macro WTAP
    mov.b   @r5+, r13
    sxt     r13
    mov     r13, &MACS
    mov.b   @r4+, r12
    sxt     r12
    mov     r12, &OP2
.endm
#else
#define WUNROLL 32              /* the longest run walked without a loop */
#define WTAP_BYTES 60           /* one WTAP's code */
/* one tap: R9:R8 += (x + offset) * w */
.macro WTAP
    mov.b   @r4+, r12
    sxt     r12
    add     WOFFSET(r10), r12
    mov.b   @r5+, r13
    sxt     r13
    QSMUL
    bit     #0x8000, r12
    jz      2f
    sub     #1, r9              /* sign-extend a negative product */
2:  add     r12, r8
    adc     r9
.endm
#endif

/* the taps of one run (R6 = run), four per loop step */
.macro WRUN4
    bit     #1, r6
    jz      7f
    WTAP
7:  bit     #2, r6
    jz      4f
    WTAP
    WTAP
4:  rra     r6
    rra     r6
    jz      6f
5:  WTAP
    WTAP
    WTAP
    WTAP
    dec     r6
    jnz     5b
6:
.endm

#if !defined(UNIT_PORTABLE_C)
    .section .text.unit_msp430_window_walk,"ax",@progbits
    .global unit_msp430_window_walk
    .type unit_msp430_window_walk,@function
unit_msp430_window_walk:
    SAVE_R4_R10
    mov     r12, r10
#if UNIT_MSP430_HWMULT
    /* RESHI:RESLO = bias + offset * sum of the window's weights */
    mov     WBIAS(r10), &RESLO
    mov     WBIAS+2(r10), &RESHI
    mov     WOFFSET(r10), &MACS
    mov     WW(r10), r5
    mov     WROWS(r10), r9
.Lsum_row:
    mov     WCOLS(r10), r7
.Lsum_col:
    mov     WRUN(r10), r6
.Lsum_tap:
    mov.b   @r5+, r13
    sxt     r13
    mov     r13, &OP2
    dec     r6
    jnz     .Lsum_tap
    add     WWCOLGAP(r10), r5
    dec     r7
    jnz     .Lsum_col
    add     WWROWGAP(r10), r5
    dec     r9
    jnz     .Lsum_row
    mov     &RESLO, WSUM(r10)
    mov     &RESHI, WSUM+2(r10)
    /* R8 the position's first input, R11 its accumulator, R14 positions
     * left in the row, R15 rows left */
    mov     WX(r10), r8
    mov     WACC(r10), r11
    mov     WHEIGHT(r10), r15
    /* A kernel row of one run of at most WUNROLL taps (a conv without
     * dilation, k_w * C_in <= WUNROLL): jump into a straight sequence of
     * taps that ends at the row's end, no loop counter. */
    cmp     #1, WCOLS(r10)
    jne     .Lpos_row
    cmp     #WUNROLL+1, WRUN(r10)
    jhs     .Lpos_row
    mov     WRUN(r10), r13      /* entry = .Lfast_end - run * WTAP_BYTES */
    rla     r13
    rla     r13
    rla     r13
    rla     r13                 /* * 16 */
    mov     #.Lfast_end, r12
    sub     r13, r12
    mov     r12, WPOSLEFT(r10)  /* (the scratch field: the entry address) */
.Lfast_pos_row:
    mov     WWIDTH(r10), r14
.Lfast_pos:
    mov     WSUM(r10), &RESLO
    mov     WSUM+2(r10), &RESHI
    mov     r8, r4
    mov     WW(r10), r5
    mov     WROWS(r10), r9
.Lfast_row:
    br      WPOSLEFT(r10)
    .rept WUNROLL
    WTAP
    .endr
.Lfast_end:
    add     WXROWGAP(r10), r4
    add     WWROWGAP(r10), r5
    dec     r9
    jz      .Lfast_done
    br      #.Lfast_row
.Lfast_done:
    mov     &RESLO, 0(r11)
    mov     &RESHI, 2(r11)
    add     #4, r11
    add     WXSTEP(r10), r8
    dec     r14
    jnz     .Lfast_pos
    add     WXPOSGAP(r10), r8
    mov     WACCGAP(r10), r13
    rla     r13
    rla     r13
    add     r13, r11
    dec     r15
    jnz     .Lfast_pos_row
    br      #.Lwin_return
.Lpos_row:
    mov     WWIDTH(r10), r14
.Lpos:
    mov     WSUM(r10), &RESLO
    mov     WSUM+2(r10), &RESHI
    mov     r8, r4
    mov     WW(r10), r5
    mov     WROWS(r10), r9
.Lwin_row:
    mov     WCOLS(r10), r7
.Lwin_col:
    mov     WRUN(r10), r6
    WRUN4
    add     WXCOLGAP(r10), r4
    add     WWCOLGAP(r10), r5
    dec     r7
    jnz     .Lwin_col
    add     WXROWGAP(r10), r4
    add     WWROWGAP(r10), r5
    dec     r9
    jz      .Lwin_done
    br      #.Lwin_row
.Lwin_done:
    mov     &RESLO, 0(r11)
    mov     &RESHI, 2(r11)
    add     #4, r11
    add     WXSTEP(r10), r8
    dec     r14
    jz      .Lpos_row_done
    br      #.Lpos
.Lpos_row_done:
    add     WXPOSGAP(r10), r8
    mov     WACCGAP(r10), r13
    rla     r13
    rla     r13
    add     r13, r11
    dec     r15
    jz      .Lwin_return
    br      #.Lpos_row
#else
    /* positions and rows in the scratch fields: the helper may clobber
     * R11-R15 */
    mov     WX(r10), WPOSX(r10)
    mov     WHEIGHT(r10), WHLEFT(r10)
    /* A kernel row of one run of at most WUNROLL taps: jump into a straight
     * sequence of taps (R7 the entry, R6 kernel rows left). */
    cmp     #1, WCOLS(r10)
    jne     .Lsw_general
    cmp     #WUNROLL+1, WRUN(r10)
    jlo     .Lsw_fast
.Lsw_general:
    br      #.Lpos_row          /* (the unrolled taps are too long for a jump) */
.Lsw_fast:
    mov     WRUN(r10), r13      /* entry = .Lfast_end - run * WTAP_BYTES (60) */
    rla     r13
    rla     r13                 /* * 4 */
    mov     r13, r12
    rla     r13
    rla     r13
    rla     r13
    rla     r13                 /* * 64 */
    sub     r12, r13            /* * 60 */
    mov     r13, r12
    mov     #.Lfast_end, r7
    sub     r12, r7
.Lfast_pos_row:
    mov     WWIDTH(r10), WPOSLEFT(r10)
.Lfast_pos:
    mov     WBIAS(r10), r8
    mov     WBIAS+2(r10), r9
    mov     WPOSX(r10), r4
    mov     WW(r10), r5
    mov     WROWS(r10), r6
.Lfast_row:
    br      r7
.Lfast_taps:
    .rept WUNROLL
    WTAP
    .endr
.Lfast_end:
    .if .Lfast_end - .Lfast_taps - WUNROLL * WTAP_BYTES
    .error "WTAP_BYTES is not the size of WTAP"
    .endif
    add     WXROWGAP(r10), r4
    add     WWROWGAP(r10), r5
    dec     r6
    jz      .Lfast_done
    br      #.Lfast_row
.Lfast_done:
    mov     WACC(r10), r13
    mov     r8, 0(r13)
    mov     r9, 2(r13)
    add     #4, WACC(r10)
    add     WXSTEP(r10), WPOSX(r10)
    dec     WPOSLEFT(r10)
    jz      .Lfast_pos_row_done
    br      #.Lfast_pos
.Lfast_pos_row_done:
    add     WXPOSGAP(r10), WPOSX(r10)
    mov     WACCGAP(r10), r13
    rla     r13
    rla     r13
    add     r13, WACC(r10)
    dec     WHLEFT(r10)
    jz      .Lfast_return
    br      #.Lfast_pos_row
.Lfast_return:
    br      #.Lwin_return
.Lpos_row:
    mov     WWIDTH(r10), WPOSLEFT(r10)
.Lpos:
    mov     WBIAS(r10), r8
    mov     WBIAS+2(r10), r9
    mov     WPOSX(r10), r4
    mov     WW(r10), r5
    mov     WROWS(r10), WROWLEFT(r10)
.Lwin_row:
    mov     WCOLS(r10), r7
.Lwin_col:
    mov     WRUN(r10), r6
    WRUN4
    add     WXCOLGAP(r10), r4
    add     WWCOLGAP(r10), r5
    dec     r7
    jz      .Lwin_col_done
    br      #.Lwin_col
.Lwin_col_done:
    add     WXROWGAP(r10), r4
    add     WWROWGAP(r10), r5
    dec     WROWLEFT(r10)
    jz      .Lwin_done
    br      #.Lwin_row
.Lwin_done:
    mov     WACC(r10), r13
    mov     r8, 0(r13)
    mov     r9, 2(r13)
    add     #4, WACC(r10)
    add     WXSTEP(r10), WPOSX(r10)
    dec     WPOSLEFT(r10)
    jz      .Lpos_row_done
    br      #.Lpos
.Lpos_row_done:
    add     WXPOSGAP(r10), WPOSX(r10)
    mov     WACCGAP(r10), r13
    rla     r13
    rla     r13
    add     r13, WACC(r10)
    dec     WHLEFT(r10)
    jz      .Lwin_return
    br      #.Lpos_row
#endif
.Lwin_return:
    RESTORE_R4_R10
    ret
#endif /* !UNIT_PORTABLE_C */

/*
 * int32_t unit_msp430_dot(const int8_t *x, const int8_t *w, size_t n,
 * int16_t input_offset): the dense FULLY_CONNECTED dot product
 * sum (x + input_offset) * w over n > 0 pairs (unit_dot_int8 in
 * ../core/unit_internal.h), x in R12, w in R13, n in R14, the offset in R15;
 * the int32 sum (wrapping) in R13:R12.  Hardware build: the products
 * accumulate in RESHI:RESLO, MACS = w, OP2 = x + offset, two per loop step;
 * software build: quarter squares (QSMUL) into a register pair.
 */
#if !defined(UNIT_PORTABLE_C)
    .section .text.unit_msp430_dot,"ax",@progbits
    .global unit_msp430_dot
    .type unit_msp430_dot,@function
unit_msp430_dot:
#if UNIT_MSP430_HWMULT
    push    r10
    clr     &RESLO
    clr     &RESHI
    bit     #1, r14
    jz      2f
    mov.b   @r13+, r11
    sxt     r11
    mov     r11, &MACS
    mov.b   @r12+, r10
    sxt     r10
    add     r15, r10
    mov     r10, &OP2
2:  rra     r14
    jz      4f
3:  mov.b   @r13+, r11
    sxt     r11
    mov     r11, &MACS
    mov.b   @r12+, r10
    sxt     r10
    add     r15, r10
    mov     r10, &OP2
    mov.b   @r13+, r11
    sxt     r11
    mov     r11, &MACS
    mov.b   @r12+, r10
    sxt     r10
    add     r15, r10
    mov     r10, &OP2
    dec     r14
    jnz     3b
4:  mov     &RESLO, r12
    mov     &RESHI, r13
    pop     r10
    ret
#else
    push    r4
    push    r5
    push    r6
    push    r7
    push    r8
    push    r9
    mov     r12, r4
    mov     r13, r5
    mov     r14, r6
    mov     r15, r7
    clr     r8
    clr     r9
1:  mov.b   @r4+, r12
    sxt     r12
    add     r7, r12
    mov.b   @r5+, r13
    sxt     r13
    QSMUL
    bit     #0x8000, r12
    jz      2f
    sub     #1, r9              /* sign-extend a negative product */
2:  add     r12, r8
    adc     r9
    dec     r6
    jnz     1b
    mov     r8, r12
    mov     r9, r13
    pop     r9
    pop     r8
    pop     r7
    pop     r6
    pop     r5
    pop     r4
    ret
#endif
#endif /* !UNIT_PORTABLE_C */

#if !UNIT_MSP430_HWMULT && !defined(UNIT_PORTABLE_C)
    .section .rodata.unit_msp430_quarter_squares,"a",@progbits
    .balign 2
    .global unit_msp430_quarter_squares
unit_msp430_quarter_squares:    /* floor(n^2 / 4), n = 0..383 */
    .set qs_n, 0
    .rept 384
    .word (qs_n * qs_n) / 4
    .set qs_n, qs_n + 1
    .endr
#endif
