/* SOFTMAX int8 -> int8, TFLM's fixed-point path: input differences from the
 * row maximum are scaled (beta * input_scale) into Q5.26, exponentiated with
 * gemmlowp's fixed-point exp (a Taylor polynomial on [-1/4, 0) times
 * constants exp(-2^k) picked by the bits of the argument), summed in Q12.19,
 * inverted with Newton-Raphson, and each exp is scaled by the reciprocal to
 * 8 bits.  Written from gemmlowp's documented algorithm and constants. */
#include <float.h>

#include "unit_internal.h"
#include "unit_ops.h"

/* Number formats used below (raw int32 with N integer bits, 31-N fraction
 * bits): Q0 = [-1, 1), Q2 = [-4, 4), Q5 = [-32, 32), Q12 = [-4096, 4096). */
#define UNIT_SOFTMAX_DIFF_INTEGER_BITS 5
#define UNIT_SOFTMAX_ACCUM_INTEGER_BITS 12

/* Wrapping int32 add / sub: gemmlowp's raw int32 arithmetic, without C's
 * signed-overflow undefined behaviour. */
static int32_t unit_wrap_add(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a + (uint32_t)b);
}

static int32_t unit_fp_mul(int32_t a, int32_t b) {
  return unit_saturating_rounding_doubling_high_mul(a, b);
}

/* exp(a) for a <= 0 in Q5.26 and 1 / (1 + a): gemmlowp's fixed point,
 * shared with LOGISTIC / TANH (unit_activation.c). */
static int32_t unit_exp_on_negative_values(int32_t a) {
  return unit_fp_exp_on_negative_values(a, UNIT_SOFTMAX_DIFF_INTEGER_BITS);
}

static int32_t unit_count_leading_zeros32(uint32_t x) {
  int32_t n = 0;
  if (x == 0u) return 32;
  while ((x & 0x80000000u) == 0u) {
    x <<= 1;
    ++n;
  }
  return n;
}

/* tflite::GetReciprocal: 1 / x for x in Q(integer_digits), as a Q0 mantissa
 * and the number of bits x had above one. */
static int32_t unit_get_reciprocal(int32_t x, int32_t integer_digits,
                                   int32_t *num_bits_over_unit) {
  const int32_t headroom_plus_one = unit_count_leading_zeros32((uint32_t)x);
  const int32_t shifted_sum_minus_one =
      (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
  *num_bits_over_unit = integer_digits - headroom_plus_one;
  return unit_fp_one_over_one_plus_x(shifted_sum_minus_one);
}

unit_status_t unit_softmax_prepare_int8(float input_scale, float beta,
                                        float output_scale,
                                        int32_t output_zero_point,
                                        unit_softmax_params_t *params) {
  /* tflite::PreprocessSoftmaxScaling / CalculateInputRadius, double math. */
  const double max_real_multiplier = 2147483647.0; /* 2^31 - 1 */
  double real_multiplier, radius;
  int32_t multiplier, shift;
  if (params == 0) return UNIT_ERR_NULL;
  if (!(input_scale > 0.0f) || !(beta > 0.0f) || input_scale > FLT_MAX ||
      beta > FLT_MAX)
    return UNIT_ERR_ARG;
  if (output_zero_point != -128) return UNIT_ERR_OFFSET;
  if (output_scale != 1.0f / 256.0f) return UNIT_ERR_ARG;
  real_multiplier =
      (double)beta * (double)input_scale *
      (double)((int32_t)1 << (31 - UNIT_SOFTMAX_DIFF_INTEGER_BITS));
  if (real_multiplier > max_real_multiplier)
    real_multiplier = max_real_multiplier;
  if (!(real_multiplier > 1.0)) return UNIT_ERR_ARG; /* TFLM CHECKs > 1 */
  if (unit_quantize_multiplier(real_multiplier, &multiplier, &shift) != UNIT_OK)
    return UNIT_ERR_ARG;
  if (shift < 0 || shift > 31) return UNIT_ERR_REQUANT;
  params->input_multiplier = multiplier;
  params->input_left_shift = shift;
  /* radius = floor((2^5 - 1) * 2^26 / 2^shift) */
  radius = 31.0 * (double)((int32_t)1 << (31 - UNIT_SOFTMAX_DIFF_INTEGER_BITS)) /
           (double)((int64_t)1 << shift);
  params->diff_min = -(int32_t)radius; /* radius >= 0: the cast floors */
  return UNIT_OK;
}

/* MultiplyByQuantizedMultiplierGreaterThanOne: x * 2^shift, then Q31. */
static int32_t unit_scale_diff(int32_t diff, int32_t multiplier,
                               int32_t left_shift) {
  return unit_fp_mul((int32_t)((uint32_t)diff << left_shift), multiplier);
}

unit_status_t unit_softmax_int8(const unit_softmax_params_t *params,
                                int32_t outer_size, int32_t depth,
                                const int8_t *input, int8_t *output) {
  int32_t row, c;
  if (params == 0 || input == 0 || output == 0) return UNIT_ERR_NULL;
  if (outer_size <= 0 || depth <= 0) return UNIT_ERR_ARG;
  if (unit_mul_limit(outer_size, depth, UNIT_COUNT_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  if (params->input_multiplier < 0 || params->input_left_shift < 0 ||
      params->input_left_shift > 31)
    return UNIT_ERR_REQUANT;
  if (params->diff_min > 0) return UNIT_ERR_ARG;
  for (row = 0; row < outer_size; ++row) {
    const int8_t *in = input + (int32_t)row * depth;
    int8_t *out = output + (int32_t)row * depth;
    int32_t max_in_row = -128;
    int32_t sum_of_exps = 0; /* Q12 */
    int32_t num_bits_over_unit, reciprocal, exponent;
    for (c = 0; c < depth; ++c)
      if (in[c] > max_in_row) max_in_row = in[c];
    for (c = 0; c < depth; ++c) {
      const int32_t diff = (int32_t)in[c] - max_in_row;
      if (diff >= params->diff_min) {
        const int32_t exp_value = unit_exp_on_negative_values(unit_scale_diff(
            diff, params->input_multiplier, params->input_left_shift));
        /* Q0 -> Q12: rounding shift right by 12 */
        sum_of_exps = unit_wrap_add(
            sum_of_exps, unit_rounding_divide_by_pot(
                             exp_value, UNIT_SOFTMAX_ACCUM_INTEGER_BITS));
      }
    }
    reciprocal = unit_get_reciprocal(sum_of_exps, UNIT_SOFTMAX_ACCUM_INTEGER_BITS,
                                     &num_bits_over_unit);
    exponent = num_bits_over_unit + 31 - 8;
    if (exponent < 0 || exponent > 31) return UNIT_ERR_ARG;
    for (c = 0; c < depth; ++c) {
      const int32_t diff = (int32_t)in[c] - max_in_row;
      if (diff >= params->diff_min) {
        const int32_t exp_value = unit_exp_on_negative_values(unit_scale_diff(
            diff, params->input_multiplier, params->input_left_shift));
        int32_t value = unit_rounding_divide_by_pot(
                            unit_fp_mul(reciprocal, exp_value), exponent) -
                        128;
        if (value > 127) value = 127;
        if (value < -128) value = -128;
        out[c] = (int8_t)value;
      } else {
        out[c] = -128;
      }
    }
  }
  return UNIT_OK;
}
