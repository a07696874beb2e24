/*
 * MSP430 runtime of tflm-unit: what the startup code, the compiler's helper
 * functions and the programs run in the simulator share.
 *
 * The port runs the portable kernel core (custom_ops/core) on a bare MSP430
 * with no C library: unit_msp430_start.S sets the stack, calls
 * unit_msp430_init_memory() and main(), stores main's return value in
 * unit_msp430_exit_code and parks the CPU in the loop at unit_msp430_halt.
 * The host driver (tflm_unit.msp430) sets breakpoints on unit_msp430_halt
 * and on unit_msp430_checkpoint() to time each segment of a program.
 */
#ifndef TFLM_UNIT_MSP430_H_
#define TFLM_UNIT_MSP430_H_

#include <stddef.h>
#include <stdint.h>

/* The build defines UNIT_MSP430_HWMULT to choose the multiply helpers:
 * 1 = the hardware multiplier (mspabi_mul_hw.h), 0 = software shift-add
 * (mspabi_mul_sw.h). */

/* Address of the 16-bit hardware multiplier's register block (MPY, MPYS,
 * MAC, MACS, OP2, RESLO, RESHI, SUMEXT at offsets 0, 2, ..., 14).
 * 0x0130 is the classic MSP430 address and where mspdebug's simulator puts
 * it; the MSP430FR5994's MPY32 block starts at 0x04C0 with the same
 * 16-bit register offsets. */
#ifndef UNIT_MSP430_HWMULT_BASE
#define UNIT_MSP430_HWMULT_BASE 0x0130
#endif

/* The byte unit_msp430_init_memory() fills the free stack with. */
#define UNIT_MSP430_STACK_PAINT 0xA5u

/* Puts a buffer in .noinit: RAM the startup code leaves alone, so data the
 * host writes into it before the run (inputs) survives reset. */
#define UNIT_MSP430_NOINIT __attribute__((section(".noinit")))

/* Set by the startup code when main() returns. */
extern volatile int16_t unit_msp430_exit_code;

/* An empty function the host puts a breakpoint on: the cycles between two
 * calls are one measured segment (e.g. one layer).  `id` is only there so
 * a reader of the program sees which boundary is meant. */
void unit_msp430_checkpoint(uint16_t id);

/* Zero .bss and copy .data's initial values from FRAM to RAM (called by
 * the startup code before main). */
void unit_msp430_init_memory(void);

/* 64 x 64 -> 64 bit product in the ordinary calling convention; the
 * __mspabi_mpyll entry point (unit_msp430_mpyll.S) moves its operands here. */
uint64_t unit_msp430_mul64(uint64_t a, uint64_t b);

/* The C library functions the compiler may call for struct copies and
 * zeroing (the program links no C library). */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int value, size_t n);

#endif /* TFLM_UNIT_MSP430_H_ */
