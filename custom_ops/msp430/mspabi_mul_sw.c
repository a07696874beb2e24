/*
 * Software 16 x 16 multiply primitives (shift-add), for MSP430 parts
 * without a hardware multiplier.  One loop step per bit of the smaller
 * magnitude, so small operands (int8 weights and activations) are cheap.
 * Written with shifts by one and additions only, so the compiler never
 * turns them back into calls to the multiply helpers.
 */
#include "unit_msp430.h"

uint32_t unit_msp430_umul16x16(uint16_t a, uint16_t b) {
  uint32_t addend = a >= b ? a : b;
  uint16_t multiplier = a >= b ? b : a;
  uint32_t product = 0;
  while (multiplier != 0) {
    if (multiplier & 1u) {
      product += addend;
    }
    addend <<= 1;
    multiplier >>= 1;
  }
  return product;
}

static uint16_t magnitude16(int16_t x) {
  return x < 0 ? (uint16_t)(0u - (uint16_t)x) : (uint16_t)x;
}

int32_t unit_msp430_smul16x16(int16_t a, int16_t b) {
  uint32_t product = unit_msp430_umul16x16(magnitude16(a), magnitude16(b));
  return (int32_t)(((a < 0) != (b < 0)) ? 0u - product : product);
}

/* The low 16 bits are the same for signed and unsigned operands; using
 * signed magnitudes keeps the loop short for small negative values. */
uint16_t unit_msp430_mul16(uint16_t a, uint16_t b) {
  return (uint16_t)unit_msp430_smul16x16((int16_t)a, (int16_t)b);
}
