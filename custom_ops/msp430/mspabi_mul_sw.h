/*
 * Software 16 x 16 multiply primitives (included by mspabi_mul.c when
 * UNIT_MSP430_HWMULT is 0), for MSP430 parts without a hardware
 * multiplier: shift-add, one loop step per bit of the smaller magnitude,
 * so int8-sized operands (weights, activations) take at most 8 steps.
 * Written with shifts by one and additions only, so the compiler never
 * turns them back into calls to the multiply helpers.
 */
#ifndef TFLM_UNIT_MSPABI_MUL_SW_H_
#define TFLM_UNIT_MSPABI_MUL_SW_H_

#include "unit_msp430.h"

static inline uint16_t magnitude16(int16_t x) {
  return x < 0 ? (uint16_t)(0u - (uint16_t)x) : (uint16_t)x;
}

/* Unsigned, full 32-bit product. */
static inline uint32_t umul16x16(uint16_t a, uint16_t b) {
  uint32_t addend = a >= b ? a : b;
  uint16_t multiplier = a >= b ? b : a;
  uint32_t product = 0;
  while (multiplier != 0) {
    if (multiplier & 1u) product += addend;
    addend <<= 1;
    multiplier >>= 1;
  }
  return product;
}

/* Signed, full 32-bit product: multiply the magnitudes, then fix the sign. */
static inline int32_t smul16x16(int16_t a, int16_t b) {
  uint32_t product = umul16x16(magnitude16(a), magnitude16(b));
  return (int32_t)(((a < 0) != (b < 0)) ? 0u - product : product);
}

/* Low 16 bits (the same for signed and unsigned operands); signed
 * magnitudes keep the loop short for small negative values. */
static inline uint16_t mul16(uint16_t a, uint16_t b) {
  uint16_t ma = magnitude16((int16_t)a), mb = magnitude16((int16_t)b);
  uint16_t addend = ma >= mb ? ma : mb;
  uint16_t multiplier = ma >= mb ? mb : ma;
  uint16_t product = 0;
  while (multiplier != 0) {
    if (multiplier & 1u) product = (uint16_t)(product + addend);
    addend = (uint16_t)(addend << 1);
    multiplier >>= 1;
  }
  return (((a ^ b) & 0x8000u) != 0) ? (uint16_t)(0u - product) : product;
}

#endif /* TFLM_UNIT_MSPABI_MUL_SW_H_ */
