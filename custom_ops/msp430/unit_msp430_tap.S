/*
 * unit_msp430_tap_walk(const unit_tap_walk_t *walk): the inner loops of
 * CONV_2D and DEPTHWISE_CONV_2D on the MSP430 (see unit_accumulate_tap in
 * ../core/unit_conv_common.c, the portable C version it replaces, and
 * unit_tap_walk_t in ../core/unit_internal.h for the fields).
 *
 * One weight w is applied to every position of its rectangle:
 *   acc += (x + input_offset) * w        dense (tau < 0)
 *   the same unless |x + offset| <= tau  UnIT: one add, one unsigned compare
 *                                        (x + offset + tau <= 2 tau)
 * Products fit 16 bits (|x'| <= 255, |w| <= 128) and are added to 32-bit
 * accumulators.  Hardware multiplier build (UNIT_MSP430_HWMULT=1): w is
 * written to the signed operand register MPYS once per walk (the operand
 * stays until rewritten), each multiply is one OP2 write, and the signed
 * 32-bit product is added straight from RESLO/RESHI.  Software build: each
 * multiply calls __mspabi_mpyi, as compiled C would, and the 16-bit product
 * is sign-extended into the accumulator.
 *
 * Registers: R4 input pointer, R5 accumulator pointer, R6 positions left in
 * the row, R7 input step, R8 offset (dense) or tau (UnIT), R9 rows left,
 * R10 the walk; UnIT also R11 = offset + tau and R15 = 2 tau (reloaded after
 * a helper call in the software build, which may clobber R11-R15).
 * Not interrupt-safe in the hardware build (an interrupt that multiplies
 * would change MPYS); tflm-unit's MSP430 programs run with interrupts off.
 */
#ifndef UNIT_MSP430_HWMULT
#error "define UNIT_MSP430_HWMULT to 1 (hardware multiplier) or 0 (software)"
#endif
#ifndef UNIT_MSP430_HWMULT_BASE
#define UNIT_MSP430_HWMULT_BASE 0x0130
#endif
#define MPYS  (UNIT_MSP430_HWMULT_BASE + 0x2)  /* operand 1, signed */
#define OP2   (UNIT_MSP430_HWMULT_BASE + 0x8)  /* operand 2, starts it */
#define RESLO (UNIT_MSP430_HWMULT_BASE + 0xA)
#define RESHI (UNIT_MSP430_HWMULT_BASE + 0xC)

/* unit_tap_walk_t field offsets */
#define X        0
#define ACC      2
#define WIDTH    4
#define HEIGHT   6
#define XSTEP    8
#define XGAP    10
#define ACCGAP  12
#define OFFSET  14
#define W       16
#define TAU     18
#define SHIFTED 20
#define SPAN    22

#if !defined(UNIT_PORTABLE_C) /* else the core's C version is built */
    .section .text.unit_msp430_tap_walk,"ax",@progbits
    .global unit_msp430_tap_walk
    .type unit_msp430_tap_walk,@function
unit_msp430_tap_walk:
    push    r10
    push    r9
    push    r8
    push    r7
    push    r6
    push    r5
    push    r4
    mov     r12, r10
    mov     X(r10), r4
    mov     ACC(r10), r5
    mov     XSTEP(r10), r7
    mov     HEIGHT(r10), r9
#if UNIT_MSP430_HWMULT
    mov     W(r10), &MPYS
#endif
    bit     #0x8000, TAU(r10)
    jnz     .Ldense

/* ---- UnIT: compare first, multiply only when |x'| > tau ---- */
    mov     TAU(r10), r8
    mov     SHIFTED(r10), r11
    mov     SPAN(r10), r15
.Lskip_row:
    mov     WIDTH(r10), r6
.Lskip_col:
    mov.b   @r4, r12
    sxt     r12
    add     r11, r12            /* x + offset + tau */
    cmp     r12, r15            /* 2 tau >= that (unsigned): skip */
    jhs     .Lskip_next
    sub     r8, r12             /* x' = x + offset */
#if UNIT_MSP430_HWMULT
    mov     r12, &OP2
    add     &RESLO, 0(r5)
    addc    &RESHI, 2(r5)
#else
    mov     W(r10), r13
    call    #__mspabi_mpyi
    bit     #0x8000, r12
    jz      .Lskip_positive
    sub     #1, 2(r5)           /* sign-extend a negative product */
.Lskip_positive:
    add     r12, 0(r5)
    adc     2(r5)
    mov     SHIFTED(r10), r11   /* the helper may clobber R11-R15 */
    mov     SPAN(r10), r15
#endif
.Lskip_next:
    add     r7, r4
    add     #4, r5
    dec     r6
    jnz     .Lskip_col
    add     XGAP(r10), r4
    add     ACCGAP(r10), r5
    dec     r9
    jnz     .Lskip_row
    jmp     .Ldone

/* ---- dense: every position multiplies (the builtin kernel) ---- */
.Ldense:
    mov     OFFSET(r10), r8
.Ldense_row:
    mov     WIDTH(r10), r6
.Ldense_col:
    mov.b   @r4, r12
    sxt     r12
    add     r8, r12             /* x' = x + offset */
#if UNIT_MSP430_HWMULT
    mov     r12, &OP2
    add     &RESLO, 0(r5)
    addc    &RESHI, 2(r5)
#else
    mov     W(r10), r13
    call    #__mspabi_mpyi
    bit     #0x8000, r12
    jz      .Ldense_positive
    sub     #1, 2(r5)
.Ldense_positive:
    add     r12, 0(r5)
    adc     2(r5)
#endif
    add     r7, r4
    add     #4, r5
    dec     r6
    jnz     .Ldense_col
    add     XGAP(r10), r4
    add     ACCGAP(r10), r5
    dec     r9
    jnz     .Ldense_row

.Ldone:
    pop     r4
    pop     r5
    pop     r6
    pop     r7
    pop     r8
    pop     r9
    pop     r10
    ret
#endif /* !UNIT_PORTABLE_C */
