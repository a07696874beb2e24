/*
 * The MSP430 EABI multiply helpers clang-16 calls: __mspabi_mpyi (16-bit),
 * __mspabi_mpyl (32-bit) and, through unit_msp430_mpyll.S, __mspabi_mpyll
 * (64-bit).  They are built from 16 x 16 primitives (mul16, umul16x16,
 * smul16x16), inlined from one of two headers:
 *   UNIT_MSP430_HWMULT=1: mspabi_mul_hw.h, the hardware multiplier; the
 *     hot __mspabi_mpyi / __mspabi_mpyl are then in mspabi_mul_hw.S;
 *   UNIT_MSP430_HWMULT=0: mspabi_mul_sw.h, shift-add in software.
 */
#include "unit_msp430.h"

#ifndef UNIT_MSP430_HWMULT
#error "define UNIT_MSP430_HWMULT to 1 (hardware multiplier) or 0 (software)"
#endif

#if UNIT_MSP430_HWMULT
#include "mspabi_mul_hw.h"
#else
#include "mspabi_mul_sw.h"
#endif

int16_t __mspabi_mpyi(int16_t a, int16_t b);
int32_t __mspabi_mpyl(int32_t a, int32_t b);
uint32_t __mspabi_mpyul(uint16_t a, uint16_t b);

#if !UNIT_MSP430_HWMULT

int16_t __mspabi_mpyi(int16_t a, int16_t b) {
  return (int16_t)mul16((uint16_t)a, (uint16_t)b);
}

uint32_t __mspabi_mpyul(uint16_t a, uint16_t b) { return umul16x16(a, b); }

/* True when the 32-bit value hi:lo is just the 16-bit value lo sign
 * extended, i.e. the operand really is an int16_t. */
static inline int is_sign_extended_16(uint16_t hi, uint16_t lo) {
  return hi == ((lo & 0x8000u) ? 0xFFFFu : 0u);
}

int32_t __mspabi_mpyl(int32_t a, int32_t b) {
  uint16_t a_lo = (uint16_t)a;
  uint16_t a_hi = (uint16_t)((uint32_t)a >> 16);
  uint16_t b_lo = (uint16_t)b;
  uint16_t b_hi = (uint16_t)((uint32_t)b >> 16);
  uint32_t product;
  uint16_t cross;
  /* Kernels multiply int8/int16 values widened to int32: one 16 x 16
   * product is the whole answer then. */
  if (is_sign_extended_16(a_hi, a_lo) && is_sign_extended_16(b_hi, b_lo)) {
    return smul16x16((int16_t)a_lo, (int16_t)b_lo);
  }
  /* Otherwise (a_hi*2^16 + a_lo)(b_hi*2^16 + b_lo) mod 2^32: the full low
   * product plus the low halves of the two cross products, shifted up. */
  product = umul16x16(a_lo, b_lo);
  cross = (uint16_t)(mul16(a_lo, b_hi) + mul16(a_hi, b_lo));
  return (int32_t)(product + ((uint32_t)cross << 16));
}

#endif /* !UNIT_MSP430_HWMULT */

/* Unsigned 32 x 32 -> 64 from four 16 x 16 products. */
static uint64_t umul32x32(uint32_t a, uint32_t b) {
  uint16_t a0 = (uint16_t)a, a1 = (uint16_t)(a >> 16);
  uint16_t b0 = (uint16_t)b, b1 = (uint16_t)(b >> 16);
  uint64_t result = umul16x16(a0, b0);
  result += (uint64_t)umul16x16(a0, b1) << 16;
  result += (uint64_t)umul16x16(a1, b0) << 16;
  result += (uint64_t)umul16x16(a1, b1) << 32;
  return result;
}

/* 64 x 64 -> 64 (two's complement, so it serves signed operands too):
 * the full product of the low words plus the low 32 bits of the cross
 * products, shifted up by 32.
 *
 * No `*` operator may appear in this file: the compiler turns it into a
 * call to __mspabi_mpyl that it is free to schedule between the volatile
 * register accesses of an inlined hardware multiply, clobbering it.  The
 * cross products therefore call __mspabi_mpyl explicitly (an ordinary
 * call is ordered with volatile accesses). */
uint64_t unit_msp430_mul64(uint64_t a, uint64_t b) {
  uint32_t a_lo = (uint32_t)a, a_hi = (uint32_t)(a >> 32);
  uint32_t b_lo = (uint32_t)b, b_hi = (uint32_t)(b >> 32);
  uint32_t cross = (uint32_t)__mspabi_mpyl((int32_t)a_lo, (int32_t)b_hi) +
                   (uint32_t)__mspabi_mpyl((int32_t)a_hi, (int32_t)b_lo);
  return umul32x32(a_lo, b_lo) + ((uint64_t)cross << 32);
}
