/* Fixed-point helpers of TFLite's int8 scheme (gemmlowp semantics), written
 * from their documented behaviour so that requantisation matches TFLM's
 * reference kernels bit for bit.  Integer-only: MCU builds link this file;
 * the prepare-time helpers that need floating point are in unit_prepare.c. */
#include "unit_core.h"
#include "unit_port.h"

/* Unsigned 16 x 16 -> 32 product.  On the MSP430 it is the EABI's widening
 * helper __mspabi_mpyul (the port's runtime provides it: a few instructions
 * on the hardware multiplier); written as `*` the compiler would call the
 * general 32 x 32 helper, several times slower. */
#if defined(__MSP430__)
uint32_t __mspabi_mpyul(uint16_t a, uint16_t b);
#define UNIT_UMUL16X16(a, b) __mspabi_mpyul((a), (b))
#else
#define UNIT_UMUL16X16(a, b) ((uint32_t)(a) * (uint32_t)(b))
#endif

/* gemmlowp's SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31,
 * the division truncating toward zero, nudge = 2^30 for a * b >= 0 and
 * 1 - 2^30 otherwise.
 *
 * Worked on the magnitudes in 32-bit halves only (16-bit cores have no
 * 64-bit arithmetic; every 64-bit operation is a helper call or a long
 * inline sequence): |a * b| = high * 2^32 + low from four 16 x 16 products,
 * then (|a * b| + 2^30 [- 1]) >> 31 is read off high and low's top bit. */
int32_t unit_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  uint32_t magnitude_a, magnitude_b, cross, low, high, sum;
  uint16_t a0, a1, b0, b1;
  const int negative = (a < 0) != (b < 0);
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  magnitude_a = a < 0 ? 0u - (uint32_t)a : (uint32_t)a;
  magnitude_b = b < 0 ? 0u - (uint32_t)b : (uint32_t)b;
  a0 = (uint16_t)magnitude_a, a1 = (uint16_t)(magnitude_a >> 16);
  b0 = (uint16_t)magnitude_b, b1 = (uint16_t)(magnitude_b >> 16);
  low = UNIT_UMUL16X16(a0, b0);
  cross = UNIT_UMUL16X16(a0, b1);
  high = 0;
  if (a1 != 0u) { /* accumulators often fit 16 bits: two products fewer */
    sum = cross + UNIT_UMUL16X16(a1, b0);
    if (sum < cross) high = (uint32_t)1 << 16; /* carry out of the cross sum */
    cross = sum;
    high += UNIT_UMUL16X16(a1, b1);
  }
  high += cross >> 16;
  sum = low + (cross << 16);
  if (sum < low) high++;
  /* add the nudge 2^30 (a * b >= 0) or 2^30 - 1 (a * b < 0; the magnitude
   * is then rounded the way a truncating division of a*b + 1 - 2^30 is) */
  low = sum + (((uint32_t)1 << 30) - (negative ? 1u : 0u));
  if (low < sum) high++;
  sum = (high << 1) | (low >> 31);
  return negative ? -(int32_t)sum : (int32_t)sum;
}

/* x / 2^exponent rounded to nearest, ties away from zero (gemmlowp's
 * RoundingDivideByPOT), exponent in [0, 31].  The remainder test is done in
 * 16 bits when the exponent allows (requantisation's usual case): 16-bit
 * cores shift 32-bit values one bit per step in a helper call. */
int32_t unit_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  int32_t quotient;
  if (exponent < 0) exponent = 0; /* total: clamp (callers pass [0, 31]) */
  if (exponent > 31) exponent = 31;
  quotient = x >> exponent;
  if (exponent < 16) {
    const uint16_t mask = (uint16_t)((1u << exponent) - 1u);
    const uint16_t remainder = (uint16_t)((uint16_t)x & mask);
    const uint16_t threshold = (uint16_t)((mask >> 1) + (x < 0 ? 1u : 0u));
    return quotient + (remainder > threshold ? 1 : 0);
  } else {
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
    return quotient + ((remainder > threshold) ? 1 : 0);
  }
}

#if !defined(UNIT_PORT_REQUANTIZE) /* else the port provides it */
int32_t unit_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier,
                                              int32_t shift) {
  int32_t left_shift, right_shift;
  if (shift > 30) shift = 30; /* total: clamp (kernels check [-31, 30]) */
  if (shift < -31) shift = -31;
  left_shift = shift > 0 ? shift : 0;
  right_shift = shift > 0 ? 0 : -shift;
  /* x * 2^left_shift wraps like TFLite's int32 multiply would; callers keep
   * left shifts small (multipliers < 1 give shift <= 0). */
  int32_t shifted = (int32_t)((uint32_t)x << left_shift);
  return unit_rounding_divide_by_pot(
      unit_saturating_rounding_doubling_high_mul(shifted, multiplier),
      right_shift);
}
#endif

/* Overflow-free in 32 bits (no 64-bit division: 16-bit cores have no
 * helper for it): ceil(in / stride) = (in - 1) / stride + 1, and for VALID
 * (in + stride - effective) / stride = (in - effective) / stride + 1 when
 * effective <= in (else no output). */
int32_t unit_compute_out_size(unit_padding_t padding, int32_t in_size,
                              int32_t filter_size, int32_t stride,
                              int32_t dilation) {
  int32_t effective;
  if (in_size <= 0 || filter_size <= 0 || stride <= 0 || dilation <= 0)
    return 0;
  if (padding == UNIT_PADDING_SAME) return (in_size - 1) / stride + 1;
  if (padding != UNIT_PADDING_VALID) return 0;
  if (filter_size - 1 > (in_size - 1) / dilation) return 0; /* effective > in */
  effective = (filter_size - 1) * dilation + 1;           /* <= in_size */
  return (in_size - effective) / stride + 1;
}

int32_t unit_compute_padding(int32_t stride, int32_t dilation, int32_t in_size,
                             int32_t filter_size, int32_t out_size) {
  int64_t total;
  if (stride <= 0 || dilation <= 0 || in_size <= 0 || filter_size <= 0 ||
      out_size <= 0)
    return 0;
  /* (out - 1) * stride + effective - in, in 64 bits; halved by a shift */
  total = (int64_t)(out_size - 1) * stride + (int64_t)(filter_size - 1) * dilation +
          1 - in_size;
  if (total <= 0) return 0;
  total >>= 1;
  return total > INT32_MAX ? INT32_MAX : (int32_t)total;
}
