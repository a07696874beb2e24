/*
 * unit_msp430_max_pool_run(const unit_max_pool_run_t *run): MAX_POOL_2D
 * over a run of output positions with unclipped windows (see
 * unit_max_pool_run in ../core/unit_pool.c, the portable C version it
 * replaces, and unit_max_pool_run_t there for the fields).  No multiplies:
 * one build for both multiplier options.
 *
 * For each position and channel: the largest of the window's signed bytes
 * (from -128, as TFLM), clamped to [act_lo, act_hi], stored.  A 2x2 window
 * (the common pool) is four loads and three compares with no loop.
 * Registers: R4 the position's window, R5 output, R6 positions left, R7
 * channels left, R8 the channel's first tap, R9 rows left, R10 the run,
 * R11 columns left, R12 tap, R13 the maximum, R14 a tap's value, R15 the
 * bytes between a row's taps (depth).
 */
#include "unit_msp430_asm.h"

#define PIN      0
#define POUT     2
#define PCOUNT   4
#define PDEPTH   6
#define PROWS    8
#define PCOLS   10
#define PROWB   12
#define PXSTEP  14
#define PLO     16
#define PHI     18

/* clamp R13 to [act_lo, act_hi], store it at R5, R5 + 1 */
.macro CLAMP_STORE
    cmp     PLO(r10), r13
    jge     2f
    mov     PLO(r10), r13
2:  cmp     r13, PHI(r10)
    jge     3f
    mov     PHI(r10), r13
3:  mov.b   r13, 0(r5)
    inc     r5
.endm

/* R13 = max(R13, the signed byte at \src) */
.macro PMAX src
    mov.b   \src, r14
    sxt     r14
    cmp     r14, r13
    jge     1f
    mov     r14, r13
1:
.endm

#if !defined(UNIT_PORTABLE_C) /* else the core's C version is built */
    .section .text.unit_msp430_max_pool_run,"ax",@progbits
    .global unit_msp430_max_pool_run
    .type unit_msp430_max_pool_run,@function
unit_msp430_max_pool_run:
    SAVE_R4_R10
    mov     r12, r10
    mov     PIN(r10), r4
    mov     POUT(r10), r5
    mov     PCOUNT(r10), r6
    mov     PDEPTH(r10), r15
    cmp     #2, PROWS(r10)
    jne     .Lpos
    cmp     #2, PCOLS(r10)
    jne     .Lpos
    /* 2x2: taps at 0, depth, row_bytes, row_bytes + depth */
    mov     PROWB(r10), r9
.Lpos2:
    mov     r15, r7
    mov     r4, r8
.Lchannel2:
    mov.b   @r8, r13
    sxt     r13
    mov     r8, r12
    add     r15, r12
    PMAX    @r12
    mov     r8, r12
    add     r9, r12
    PMAX    @r12
    add     r15, r12
    PMAX    @r12
    CLAMP_STORE
    inc     r8
    dec     r7
    jnz     .Lchannel2
    add     PXSTEP(r10), r4
    dec     r6
    jnz     .Lpos2
    jmp     .Lreturn

.Lpos:
    mov     r15, r7
    mov     r4, r8
.Lchannel:
    mov     #-128, r13
    mov     PROWS(r10), r9
    push    r8
.Lrow:
    mov     r8, r12
    mov     PCOLS(r10), r11
.Lcol:
    PMAX    @r12
    add     r15, r12
    dec     r11
    jnz     .Lcol
    add     PROWB(r10), r8
    dec     r9
    jnz     .Lrow
    pop     r8
    CLAMP_STORE
    inc     r8
    dec     r7
    jnz     .Lchannel
    add     PXSTEP(r10), r4
    dec     r6
    jnz     .Lpos
.Lreturn:
    RESTORE_R4_R10
    ret

#endif /* !UNIT_PORTABLE_C */
