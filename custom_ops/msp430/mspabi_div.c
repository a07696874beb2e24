/*
 * The MSP430 EABI division helpers clang-16 calls for every division
 * (__mspabi_div* / rem*; the 32-bit shift helpers are in mspabi_shift.S).
 * Both multiplier builds share these: the MSP430 has no divider, so they
 * are loops of one-bit steps, written only with operations the compiler
 * emits inline (no helper calls itself).
 *
 * Division by zero returns an all-ones quotient and the dividend as the
 * remainder (C leaves it undefined; this just keeps it deterministic).
 */
#include <stdint.h>

/* Prototypes (the compiler knows these names; we declare them so that
 * -Wmissing-prototypes is quiet and a reader sees the signatures). */
uint16_t __mspabi_divu(uint16_t n, uint16_t d);
uint16_t __mspabi_remu(uint16_t n, uint16_t d);
int16_t __mspabi_divi(int16_t n, int16_t d);
int16_t __mspabi_remi(int16_t n, int16_t d);
uint32_t __mspabi_divul(uint32_t n, uint32_t d);
uint32_t __mspabi_remul(uint32_t n, uint32_t d);
int32_t __mspabi_divli(int32_t n, int32_t d);
int32_t __mspabi_remli(int32_t n, int32_t d);

/* Restoring division: shift the dividend's bits into the remainder one at
 * a time; each step where the remainder reaches the divisor sets a
 * quotient bit (reusing the dividend's register as the quotient). */
static uint16_t udivmod16(uint16_t n, uint16_t d, uint16_t *remainder) {
  uint16_t r = 0;
  int16_t i;
  if (d == 0) {
    *remainder = n;
    return 0xFFFFu;
  }
  for (i = 0; i < 16; i++) {
    r = (uint16_t)((r << 1) | (n >> 15));
    n = (uint16_t)(n << 1);
    if (r >= d) {
      r = (uint16_t)(r - d);
      n |= 1u;
    }
  }
  *remainder = r;
  return n;
}

static uint32_t udivmod32(uint32_t n, uint32_t d, uint32_t *remainder) {
  uint32_t r = 0;
  int16_t i;
  if (d == 0) {
    *remainder = n;
    return 0xFFFFFFFFul;
  }
  for (i = 0; i < 32; i++) {
    r = (r << 1) | (n >> 31);
    n <<= 1;
    if (r >= d) {
      r -= d;
      n |= 1u;
    }
  }
  *remainder = r;
  return n;
}

uint16_t __mspabi_divu(uint16_t n, uint16_t d) {
  uint16_t r;
  return udivmod16(n, d, &r);
}

uint16_t __mspabi_remu(uint16_t n, uint16_t d) {
  uint16_t r;
  udivmod16(n, d, &r);
  return r;
}

/* Signed division truncates toward zero; the remainder takes the sign of
 * the dividend (C99 6.5.5).  Magnitudes are taken in unsigned arithmetic
 * so that -32768 is handled. */
int16_t __mspabi_divi(int16_t n, int16_t d) {
  uint16_t un = n < 0 ? (uint16_t)(0u - (uint16_t)n) : (uint16_t)n;
  uint16_t ud = d < 0 ? (uint16_t)(0u - (uint16_t)d) : (uint16_t)d;
  uint16_t r;
  uint16_t q = udivmod16(un, ud, &r);
  return (int16_t)(((n < 0) != (d < 0)) ? (uint16_t)(0u - q) : q);
}

int16_t __mspabi_remi(int16_t n, int16_t d) {
  uint16_t un = n < 0 ? (uint16_t)(0u - (uint16_t)n) : (uint16_t)n;
  uint16_t ud = d < 0 ? (uint16_t)(0u - (uint16_t)d) : (uint16_t)d;
  uint16_t r;
  udivmod16(un, ud, &r);
  return (int16_t)(n < 0 ? (uint16_t)(0u - r) : r);
}

uint32_t __mspabi_divul(uint32_t n, uint32_t d) {
  uint32_t r;
  return udivmod32(n, d, &r);
}

uint32_t __mspabi_remul(uint32_t n, uint32_t d) {
  uint32_t r;
  udivmod32(n, d, &r);
  return r;
}

int32_t __mspabi_divli(int32_t n, int32_t d) {
  uint32_t un = n < 0 ? 0u - (uint32_t)n : (uint32_t)n;
  uint32_t ud = d < 0 ? 0u - (uint32_t)d : (uint32_t)d;
  uint32_t r;
  uint32_t q = udivmod32(un, ud, &r);
  return (int32_t)(((n < 0) != (d < 0)) ? 0u - q : q);
}

int32_t __mspabi_remli(int32_t n, int32_t d) {
  uint32_t un = n < 0 ? 0u - (uint32_t)n : (uint32_t)n;
  uint32_t ud = d < 0 ? 0u - (uint32_t)d : (uint32_t)d;
  uint32_t r;
  udivmod32(un, ud, &r);
  return (int32_t)(n < 0 ? 0u - r : r);
}
