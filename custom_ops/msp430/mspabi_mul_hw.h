/*
 * Hardware 16 x 16 multiply primitives (included by mspabi_mul.c when
 * UNIT_MSP430_HWMULT is 1): the MSP430 16-bit multiplier's registers
 * MPY/MPYS/OP2/RESLO/RESHI at UNIT_MSP430_HWMULT_BASE (0x0130 on the
 * simulator and classic parts; 0x04C0 for the MSP430FR5994's MPY32 block,
 * whose 16-bit registers have the same offsets).  Writing OP2 starts the
 * multiplication; the result registers are read by the next instructions.
 *
 * Not interrupt-safe: an interrupt handler that also multiplies between
 * our OP2 write and the result read would corrupt the result.  tflm-unit's
 * MSP430 programs run with interrupts disabled.
 */
#ifndef TFLM_UNIT_MSPABI_MUL_HW_H_
#define TFLM_UNIT_MSPABI_MUL_HW_H_

#include "unit_msp430.h"

#define HWMULT_REGISTER(offset) \
  (*(volatile uint16_t *)(uintptr_t)(UNIT_MSP430_HWMULT_BASE + (offset)))
#define HWMULT_MPY HWMULT_REGISTER(0x0)   /* operand 1, unsigned multiply */
#define HWMULT_MPYS HWMULT_REGISTER(0x2)  /* operand 1, signed multiply */
#define HWMULT_OP2 HWMULT_REGISTER(0x8)   /* operand 2; starts the multiply */
#define HWMULT_RESLO HWMULT_REGISTER(0xA) /* result bits 0..15 */
#define HWMULT_RESHI HWMULT_REGISTER(0xC) /* result bits 16..31 */

static inline uint16_t mul16(uint16_t a, uint16_t b) {
  HWMULT_MPY = a;
  HWMULT_OP2 = b;
  return HWMULT_RESLO;
}

static inline uint32_t umul16x16(uint16_t a, uint16_t b) {
  uint16_t low, high;
  HWMULT_MPY = a;
  HWMULT_OP2 = b;
  low = HWMULT_RESLO;
  high = HWMULT_RESHI;
  return ((uint32_t)high << 16) | low;
}

static inline int32_t smul16x16(int16_t a, int16_t b) {
  uint16_t low, high;
  HWMULT_MPYS = (uint16_t)a;
  HWMULT_OP2 = (uint16_t)b;
  low = HWMULT_RESLO;
  high = HWMULT_RESHI;
  return (int32_t)(((uint32_t)high << 16) | low);
}

#endif /* TFLM_UNIT_MSPABI_MUL_HW_H_ */
