/*
 * Shared by the port's assembly files (.S, run through the C preprocessor):
 * the hardware multiplier's register addresses and the save/restore of the
 * callee-saved registers R4-R10 (MSP430 EABI).
 */
#ifndef TFLM_UNIT_MSP430_ASM_H_
#define TFLM_UNIT_MSP430_ASM_H_

/* The 16-bit multiplier's registers (see unit_msp430.h for the base). */
#ifndef UNIT_MSP430_HWMULT_BASE
#define UNIT_MSP430_HWMULT_BASE 0x0130
#endif
#define MPY   (UNIT_MSP430_HWMULT_BASE + 0x0)  /* operand 1, unsigned multiply */
#define MPYS  (UNIT_MSP430_HWMULT_BASE + 0x2)  /* operand 1, signed multiply */
#define MACS  (UNIT_MSP430_HWMULT_BASE + 0x6)  /* operand 1, signed multiply-accumulate into RESHI:RESLO */
#define OP2   (UNIT_MSP430_HWMULT_BASE + 0x8)  /* operand 2; writing it starts the multiply */
#define RESLO (UNIT_MSP430_HWMULT_BASE + 0xA)  /* product bits 0..15 */
#define RESHI (UNIT_MSP430_HWMULT_BASE + 0xC)  /* product bits 16..31 */

/* Entry and exit of a function that uses R4-R10. */
.macro SAVE_R4_R10
    push    r10
    push    r9
    push    r8
    push    r7
    push    r6
    push    r5
    push    r4
.endm
.macro RESTORE_R4_R10
    pop     r4
    pop     r5
    pop     r6
    pop     r7
    pop     r8
    pop     r9
    pop     r10
.endm

#if defined(UNIT_MSP430_HWMULT) && !UNIT_MSP430_HWMULT
/* Software build: R12 = R12 * R13 for |R12| <= 255, |R13| <= 128 (x' * w),
 * by quarter squares: a * w = floor((a + w)^2 / 4) - floor((a - w)^2 / 4)
 * (exact: a + w and a - w have the same parity), from a table of
 * floor(n^2 / 4) for n = 0..383 (768 bytes of FRAM, in unit_msp430_tap.S), about 20 cycles
 * against a shift-add __mspabi_mpyi call.  Clobbers R13, R14. */
.macro QSMUL
    mov     r12, r14
    add     r13, r14            /* s = a + w */
    sub     r13, r12            /* d = a - w */
    tst     r14
    jge     8f
    inv     r14
    inc     r14
8:  tst     r12
    jge     9f
    inv     r12
    inc     r12
9:  rla     r14
    rla     r12
    mov     unit_msp430_quarter_squares(r14), r14
    sub     unit_msp430_quarter_squares(r12), r14
    mov     r14, r12            /* the difference mod 2^16 is the int16 product */
.endm
#endif

#endif /* TFLM_UNIT_MSP430_ASM_H_ */
