/* Fixed-point helpers of TFLite's int8 scheme (gemmlowp semantics), written
 * from their documented behaviour so that requantisation matches TFLM's
 * reference kernels bit for bit.  Integer-only: MCU builds link this file;
 * the prepare-time helpers that need floating point are in unit_prepare.c. */
#include "unit_core.h"

/* Unsigned 32 x 32 -> 64 from four 16 x 16 -> 32 products: 16-bit cores
 * have no 64-bit multiplier, and a generic 64 x 64 helper costs several
 * times more than these four products. */
static uint64_t umul32x32(uint32_t a, uint32_t b) {
  const uint32_t a0 = a & 0xFFFFu, a1 = a >> 16;
  const uint32_t b0 = b & 0xFFFFu, b1 = b >> 16;
  const uint64_t middle = (uint64_t)(a0 * b1) + (uint64_t)(a1 * b0);
  return ((uint64_t)(a1 * b1) << 32) + (middle << 16) + (uint64_t)(a0 * b0);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31,
 * the division truncating toward zero, nudge = 2^30 for a * b >= 0 and
 * 1 - 2^30 otherwise.  Worked on the magnitude |a * b| so only unsigned
 * shifts are needed. */
int32_t unit_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  uint32_t magnitude_a, magnitude_b;
  uint64_t magnitude;
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  magnitude_a = a < 0 ? 0u - (uint32_t)a : (uint32_t)a;
  magnitude_b = b < 0 ? 0u - (uint32_t)b : (uint32_t)b;
  magnitude = umul32x32(magnitude_a, magnitude_b);
  if ((a < 0) == (b < 0) || magnitude == 0u) /* a * b >= 0 */
    return (int32_t)((magnitude + ((uint64_t)1 << 30)) >> 31);
  /* a * b < 0: a*b + 1 - 2^30 = -(|a*b| + 2^30 - 1), truncated toward 0 */
  return -(int32_t)((magnitude + ((uint64_t)1 << 30) - 1u) >> 31);
}

int32_t unit_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  /* 2^exponent - 1 for exponent in [0, 31], in 32-bit arithmetic (a 64-bit
   * variable shift is a slow helper call on 16-bit cores). */
  int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
  return (x >> exponent) + ((remainder > threshold) ? 1 : 0);
}

int32_t unit_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier,
                                              int32_t shift) {
  int32_t left_shift = shift > 0 ? shift : 0;
  int32_t right_shift = shift > 0 ? 0 : -shift;
  /* x * 2^left_shift wraps like TFLite's int32 multiply would; callers keep
   * left shifts small (multipliers < 1 give shift <= 0). */
  int32_t shifted = (int32_t)((uint32_t)x << left_shift);
  return unit_rounding_divide_by_pot(
      unit_saturating_rounding_doubling_high_mul(shifted, multiplier),
      right_shift);
}

int32_t unit_compute_out_size(unit_padding_t padding, int32_t in_size,
                              int32_t filter_size, int32_t stride,
                              int32_t dilation) {
  int32_t effective = (filter_size - 1) * dilation + 1;
  if (stride <= 0) return 0;
  if (padding == UNIT_PADDING_SAME) return (in_size + stride - 1) / stride;
  if (padding == UNIT_PADDING_VALID)
    return (in_size + stride - effective) / stride;
  return 0;
}

int32_t unit_compute_padding(int32_t stride, int32_t dilation, int32_t in_size,
                             int32_t filter_size, int32_t out_size) {
  int32_t effective = (filter_size - 1) * dilation + 1;
  int32_t padding = ((out_size - 1) * stride + effective - in_size) / 2;
  return padding > 0 ? padding : 0;
}
