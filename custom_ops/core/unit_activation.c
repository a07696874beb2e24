/* int8 activation and element-wise ops (unit_activation.h), TFLM's
 * reference arithmetic: LOGISTIC / TANH through gemmlowp's fixed-point
 * logistic and tanh (Q4.27 input), HARD_SWISH in int16 fixed point, the
 * ReLU family and LEAKY_RELU / PRELU by requantisation, MUL / SUB /
 * SQUARED_DIFFERENCE with TFLM's multipliers, MINIMUM / MAXIMUM on raw
 * values.  Written from the documented algorithms and constants; prepare
 * functions repeat TFLM's float / double expressions operation for
 * operation (float where TFLM computes in float). */
#include <float.h>

#include "unit_activation.h"
#include "unit_internal.h"

/* ------------------------------------------------ gemmlowp fixed point */

static int32_t fp_add(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a + (uint32_t)b);
}
static int32_t fp_sub(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a - (uint32_t)b);
}
static int32_t fp_mul(int32_t a, int32_t b) {
  return unit_saturating_rounding_doubling_high_mul(a, b);
}

int32_t unit_fp_saturating_shift_left(int32_t x, int32_t exponent) {
  const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0 -> Q0: Taylor expansion around -1/8. */
static int32_t fp_exp_on_interval_minus_quarter_to_0(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
  const int32_t one_third = 715827883;             /* 1/3 in Q0 */
  const int32_t x = fp_add(a, (int32_t)1 << 28);   /* a + 1/8 */
  const int32_t x2 = fp_mul(x, x);
  const int32_t x3 = fp_mul(x2, x);
  const int32_t x4 = fp_mul(x2, x2);
  const int32_t x4_over_4 = unit_rounding_divide_by_pot(x4, 2);
  const int32_t poly = unit_rounding_divide_by_pot(
      fp_add(fp_mul(fp_add(x4_over_4, x3), one_third), x2), 1);
  return fp_add(exp_minus_one_eighth,
                fp_mul(exp_minus_one_eighth, fp_add(x, poly)));
}

int32_t unit_fp_exp_on_negative_values(int32_t a, int32_t integer_bits) {
  /* exp(-2^k) in Q0 for k = -2..4, applied when bit (fraction bits + k) of
   * the remainder is set and the format has more than k integer bits. */
  static const int32_t exp_of_minus_pot[7] = {
      1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t fractional_bits = 31 - integer_bits;
  const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_quarter = fp_sub(a & mask, one_quarter);
  const int32_t remainder = fp_sub(a_mod_quarter_minus_quarter, a);
  int32_t result = fp_exp_on_interval_minus_quarter_to_0(
      unit_fp_saturating_shift_left(a_mod_quarter_minus_quarter, integer_bits));
  int32_t k;
  for (k = 0; k < 7; ++k) {
    const int32_t exponent = k - 2;
    if (integer_bits > exponent &&
        (remainder & ((int32_t)1 << (fractional_bits + exponent))))
      result = fp_mul(result, exp_of_minus_pot[k]);
  }
  /* (gemmlowp clamps below -32 only with more than 5 integer bits.) */
  if (a == 0) result = INT32_MAX;
  return result;
}

/* Three Newton-Raphson steps towards 1 / half_denominator, Q2. */
static int32_t fp_newton_reciprocal(int32_t half_denominator) {
  const int32_t q2_one = (int32_t)1 << 29;
  const int32_t constant_48_over_17 = 1515870810;      /* Q2 */
  const int32_t constant_neg_32_over_17 = -1010580540; /* Q2 */
  int32_t x = fp_add(constant_48_over_17,
                     fp_mul(half_denominator, constant_neg_32_over_17));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = fp_sub(q2_one, fp_mul(half_denominator, x));
    x = fp_add(x, unit_fp_saturating_shift_left(fp_mul(x, one_minus), 2));
  }
  return x;
}

/* (a + 1) / 2 in Q0, rounded half away from zero (RoundingHalfSum). */
static int32_t fp_half_sum_with_one(int32_t a) {
  const int64_t sum = (int64_t)a + (int64_t)INT32_MAX;
  return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

int32_t unit_fp_one_over_one_plus_x(int32_t a) {
  /* x / 2 as Q1 (same raw), back to Q0 */
  return unit_fp_saturating_shift_left(
      fp_newton_reciprocal(fp_half_sum_with_one(a)), 1);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0. */
static int32_t fp_one_minus_x_over_one_plus_x(int32_t a) {
  const int32_t x = fp_newton_reciprocal(fp_half_sum_with_one(a));
  return unit_fp_saturating_shift_left(fp_sub(x, (int32_t)1 << 29), 2);
}

/* gemmlowp::logistic of a Q4.27 value, Q0 result. */
static int32_t fp_logistic_q4(int32_t a) {
  int32_t abs_a, positive;
  if (a == 0) return (int32_t)1 << 30; /* one half */
  abs_a = a > 0 ? a : fp_sub(0, a);
  positive = unit_fp_one_over_one_plus_x(
      unit_fp_exp_on_negative_values(fp_sub(0, abs_a), 4));
  return a > 0 ? positive : fp_sub(INT32_MAX, positive);
}

/* gemmlowp::tanh of a Q4.27 value, Q0 result: -tanh(n) for n = -|a| is
 * (1 - exp(2n)) / (1 + exp(2n)), exp taken of the same raw as Q5.26. */
static int32_t fp_tanh_q4(int32_t a) {
  int32_t n, t;
  if (a == 0) return 0;
  n = a < 0 ? a : fp_sub(0, a);
  t = fp_one_minus_x_over_one_plus_x(unit_fp_exp_on_negative_values(n, 5));
  return a < 0 ? fp_sub(0, t) : t;
}

/* ------------------------------------------------ int16 fixed point (HARD_SWISH) */

static int16_t sat16(int32_t v) {
  if (v > 32767) return 32767;
  if (v < -32768) return -32768;
  return (int16_t)v;
}

/* gemmlowp's int16 SaturatingRoundingDoublingHighMul. */
static int16_t srdhm16(int16_t a, int16_t b) {
  const int32_t ab = (int32_t)a * (int32_t)b;
  const int32_t nudge = ab >= 0 ? ((int32_t)1 << 14) : (1 - ((int32_t)1 << 14));
  if (a == b && a == -32768) return 32767;
  return (int16_t)((ab + nudge) / ((int32_t)1 << 15));
}

/* TFLite's hard-swish SaturatingDoublingHighMul (truncating). */
static int16_t sdhm16(int16_t a, int16_t b) {
  const int32_t ab = (int32_t)a * (int32_t)b;
  if (a == b && a == -32768) return 32767;
  return (int16_t)(ab / ((int32_t)1 << 15));
}

/* gemmlowp's RoundingDivideByPOT on int16 (the mask is 2^e - 1 taken to
 * int16, as the template does). */
static int16_t rdbpot16(int16_t x, int32_t exponent) {
  int32_t mask, remainder, threshold;
  if (exponent < 0) exponent = 0;
  if (exponent > 31) exponent = 31;
  mask = (int32_t)(int16_t)(uint16_t)((((uint32_t)1 << exponent) - 1u) & 0xFFFFu);
  remainder = (int32_t)x & mask;
  threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int16_t)(((int32_t)x >> (exponent > 15 ? 15 : exponent)) +
                   (remainder > threshold ? 1 : 0));
}

/* TFLite's SaturatingLeftShift of an int16. */
static int16_t sat_left_shift16(int16_t v, int32_t amount) {
  if (v == 0) return 0;
  if (amount >= 16) return v > 0 ? 32767 : -32768;
  return sat16((int32_t)v * ((int32_t)1 << amount));
}

static int8_t hard_swish_one(const unit_unary_params_t *p, int8_t x) {
  const int16_t input_value = (int16_t)((int32_t)x - p->input_zero_point);
  const int16_t hires = (int16_t)(input_value * 128);
  const int16_t preshift_output =
      srdhm16(hires, (int16_t)p->multiplier1);
  int16_t reluish = hires, preshift, out;
  int32_t value;
  if (p->shift2 > 0) reluish = sat_left_shift16(reluish, p->shift2 - 1);
  reluish = srdhm16(reluish, (int16_t)p->multiplier2);
  if (p->shift2 > 0) reluish = sat_left_shift16(reluish, 1);
  if (p->shift2 < 0) reluish = rdbpot16(reluish, -p->shift2);
  reluish = (int16_t)(((int32_t)reluish + 32768) >> 1);
  preshift = sdhm16(reluish, preshift_output);
  out = rdbpot16(preshift, -p->shift1);
  value = (int32_t)(int16_t)(out + p->output_zero_point);
  if (value > 127) value = 127;
  if (value < -128) value = -128;
  return (int8_t)value;
}

/* ------------------------------------------------ prepare */

static int zp_ok(int32_t zp) { return zp >= -128 && zp <= 127; }
static int scale_ok(float s) { return s > 0.0f && s <= FLT_MAX; }

static void unary_clear(unit_unary_params_t *p, int32_t kind) {
  p->kind = kind;
  p->input_zero_point = p->output_zero_point = 0;
  p->multiplier1 = p->shift1 = p->multiplier2 = p->shift2 = 0;
  p->radius = p->negative_alpha = 0;
  p->act_min = -128;
  p->act_max = 127;
}

/* TFLM's CalculateArithmeticOpData for int8 LOGISTIC / TANH: input * 2^27
 * as frexp fraction (Q31) and exponent; radius floor(15 * 2^27 / 2^shift). */
static unit_status_t q4_input_prepare(int32_t kind, float input_scale,
                                      int32_t input_zero_point,
                                      unit_unary_params_t *params) {
  double radius;
  if (params == 0) return UNIT_ERR_NULL;
  unary_clear(params, kind);
  if (!scale_ok(input_scale)) return UNIT_ERR_ARG;
  if (!zp_ok(input_zero_point)) return UNIT_ERR_OFFSET;
  if (unit_quantize_multiplier((double)input_scale * (double)((int32_t)1 << 27),
                               &params->multiplier1,
                               &params->shift1) != UNIT_OK)
    return UNIT_ERR_ARG;
  if (params->shift1 < 0 || params->shift1 > 30) return UNIT_ERR_REQUANT;
  radius = 15.0 * (double)((int32_t)1 << 27) /
           (double)((int64_t)1 << params->shift1);
  params->radius = (int32_t)radius; /* positive: the cast floors */
  params->input_zero_point = input_zero_point;
  return UNIT_OK;
}

unit_status_t unit_logistic_prepare_int8(float input_scale,
                                         int32_t input_zero_point,
                                         int32_t output_zero_point,
                                         unit_unary_params_t *params) {
  unit_status_t status = q4_input_prepare(UNIT_UNARY_LOGISTIC, input_scale,
                                          input_zero_point, params);
  if (status != UNIT_OK) return status;
  if (output_zero_point != -128) return UNIT_ERR_OFFSET;
  params->output_zero_point = -128;
  return UNIT_OK;
}

unit_status_t unit_tanh_prepare_int8(float input_scale,
                                     int32_t input_zero_point,
                                     unit_unary_params_t *params) {
  return q4_input_prepare(UNIT_UNARY_TANH, input_scale, input_zero_point,
                          params);
}

/* tflite::DownScaleInt32ToInt16Multiplier. */
static int32_t down_scale_to_int16(int32_t multiplier) {
  if (multiplier >= INT32_MAX - ((int32_t)1 << 15)) return 32767;
  return (multiplier + ((int32_t)1 << 15)) >> 16;
}

unit_status_t unit_hard_swish_prepare_int8(float input_scale,
                                           int32_t input_zero_point,
                                           float output_scale,
                                           int32_t output_zero_point,
                                           unit_unary_params_t *params) {
  float hires_input_scale, reluish_scale, output_ratio, reluish_ratio;
  int32_t m32;
  if (params == 0) return UNIT_ERR_NULL;
  unary_clear(params, UNIT_UNARY_HARD_SWISH);
  if (!scale_ok(input_scale) || !scale_ok(output_scale)) return UNIT_ERR_ARG;
  if (!zp_ok(input_zero_point) || !zp_ok(output_zero_point))
    return UNIT_ERR_OFFSET;
  params->input_zero_point = input_zero_point;
  params->output_zero_point = output_zero_point;
  hires_input_scale = (1.0f / 128.0f) * input_scale;
  reluish_scale = 3.0f / 32768.0f;
  output_ratio = hires_input_scale / output_scale;
  if (unit_quantize_multiplier((double)output_ratio, &m32, &params->shift1) !=
      UNIT_OK)
    return UNIT_ERR_ARG;
  params->multiplier1 = down_scale_to_int16(m32);
  if (params->shift1 > 0) return UNIT_ERR_REQUANT; /* TFLM ENSUREs <= 0 */
  reluish_ratio = hires_input_scale / reluish_scale;
  if (unit_quantize_multiplier((double)reluish_ratio, &m32, &params->shift2) !=
      UNIT_OK)
    return UNIT_ERR_ARG;
  params->multiplier2 = down_scale_to_int16(m32);
  return UNIT_OK;
}

unit_status_t unit_leaky_relu_prepare_int8(float input_scale,
                                           int32_t input_zero_point,
                                           float alpha, float output_scale,
                                           int32_t output_zero_point,
                                           unit_unary_params_t *params) {
  float alpha_ratio, identity_ratio;
  if (params == 0) return UNIT_ERR_NULL;
  unary_clear(params, UNIT_UNARY_LEAKY_RELU);
  if (!scale_ok(input_scale) || !scale_ok(output_scale) ||
      !(alpha >= -FLT_MAX && alpha <= FLT_MAX))
    return UNIT_ERR_ARG;
  if (!zp_ok(input_zero_point) || !zp_ok(output_zero_point))
    return UNIT_ERR_OFFSET;
  params->input_zero_point = input_zero_point;
  params->output_zero_point = output_zero_point;
  alpha_ratio = input_scale * alpha / output_scale; /* float, as TFLM */
  identity_ratio = input_scale / output_scale;
  /* QuantizeMultiplier of a negative value is the negated one of its
   * magnitude (frexp and rounding are symmetric); the kernel uses the
   * magnitude and negates, like TFLM's. */
  params->negative_alpha = alpha_ratio < 0.0f;
  if (unit_quantize_multiplier(
          (double)(alpha_ratio < 0.0f ? -alpha_ratio : alpha_ratio),
          &params->multiplier2, &params->shift2) != UNIT_OK ||
      unit_quantize_multiplier((double)identity_ratio, &params->multiplier1,
                               &params->shift1) != UNIT_OK)
    return UNIT_ERR_ARG;
  if (params->shift1 > 30 || params->shift2 > 30) return UNIT_ERR_REQUANT;
  return UNIT_OK;
}

unit_status_t unit_relu_prepare_int8(int32_t activation, float input_scale,
                                     int32_t input_zero_point,
                                     float output_scale,
                                     int32_t output_zero_point,
                                     unit_unary_params_t *params) {
  unit_status_t status;
  if (params == 0) return UNIT_ERR_NULL;
  unary_clear(params, UNIT_UNARY_RELU_X);
  if (!scale_ok(input_scale) || !scale_ok(output_scale)) return UNIT_ERR_ARG;
  if (!zp_ok(input_zero_point) || !zp_ok(output_zero_point))
    return UNIT_ERR_OFFSET;
  params->input_zero_point = input_zero_point;
  params->output_zero_point = output_zero_point;
  if (activation == UNIT_ACT_RELU6) {
    /* zero = input zero point, six = quantised 6 (input quantisation) */
    params->kind = UNIT_UNARY_RELU6;
    return unit_activation_range_int8(UNIT_ACT_RELU6, input_scale,
                                      input_zero_point, &params->act_min,
                                      &params->act_max);
  }
  if (activation != UNIT_ACT_RELU && activation != UNIT_ACT_RELU_N1_TO_1)
    return UNIT_ERR_ARG;
  if (unit_quantize_multiplier((double)(input_scale / output_scale),
                               &params->multiplier1,
                               &params->shift1) != UNIT_OK)
    return UNIT_ERR_ARG;
  if (params->shift1 > 30) return UNIT_ERR_REQUANT;
  status = unit_activation_range_int8(activation, output_scale,
                                      output_zero_point, &params->act_min,
                                      &params->act_max);
  return status;
}

/* ------------------------------------------------ unary kernels */

static int8_t clamp8(int32_t v, int32_t lo, int32_t hi) {
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return (int8_t)v;
}

static int8_t unary_one(const unit_unary_params_t *p, int8_t x) {
  const int32_t input = (int32_t)x - p->input_zero_point;
  switch (p->kind) {
    case UNIT_UNARY_LOGISTIC:
    case UNIT_UNARY_TANH: {
      int32_t q4, out;
      if (input <= -p->radius) return -128;
      if (input >= p->radius) return 127;
      q4 = unit_multiply_by_quantized_multiplier(input, p->multiplier1,
                                                 p->shift1);
      if (p->kind == UNIT_UNARY_LOGISTIC) {
        out = unit_rounding_divide_by_pot(fp_logistic_q4(q4), 31 - 8) - 128;
      } else {
        out = unit_rounding_divide_by_pot(fp_tanh_q4(q4), 31 - 7);
      }
      return clamp8(out, -128, 127);
    }
    case UNIT_UNARY_HARD_SWISH:
      return hard_swish_one(p, x);
    case UNIT_UNARY_LEAKY_RELU: {
      int32_t out = p->output_zero_point;
      if (input >= 0) {
        out += unit_multiply_by_quantized_multiplier(input, p->multiplier1,
                                                     p->shift1);
      } else {
        const int32_t scaled = unit_multiply_by_quantized_multiplier(
            input, p->multiplier2, p->shift2);
        out += p->negative_alpha ? -scaled : scaled;
      }
      return clamp8(out, -128, 127);
    }
    case UNIT_UNARY_RELU_X:
      return clamp8(p->output_zero_point +
                        unit_multiply_by_quantized_multiplier(
                            input, p->multiplier1, p->shift1),
                    p->act_min, p->act_max);
    default: /* UNIT_UNARY_RELU6: the raw value clamped */
      return clamp8((int32_t)x, p->act_min, p->act_max);
  }
}

static unit_status_t unary_check(const unit_unary_params_t *p) {
  if (p->kind < UNIT_UNARY_LOGISTIC || p->kind > UNIT_UNARY_RELU6)
    return UNIT_ERR_ARG;
  if (!zp_ok(p->input_zero_point) || !zp_ok(p->output_zero_point))
    return UNIT_ERR_OFFSET;
  if (p->multiplier1 < 0 || p->multiplier2 < 0 || p->shift1 < -31 ||
      p->shift1 > 30 || p->shift2 < -31 || p->shift2 > 30)
    return UNIT_ERR_REQUANT;
  if (p->kind == UNIT_UNARY_HARD_SWISH &&
      (p->multiplier1 > 32767 || p->multiplier2 > 32767 || p->shift1 > 0))
    return UNIT_ERR_REQUANT;
  if ((p->kind == UNIT_UNARY_LOGISTIC || p->kind == UNIT_UNARY_TANH) &&
      (p->radius < 0 || p->shift1 < 0))
    return UNIT_ERR_ARG;
  return unit_check_act_int8(p->act_min, p->act_max);
}

unit_status_t unit_unary_int8(const unit_unary_params_t *params, int32_t size,
                              const int8_t *input, int8_t *output) {
  int32_t i;
  unit_status_t status;
  if (params == 0 || input == 0 || output == 0) return UNIT_ERR_NULL;
  if (size < 0) return UNIT_ERR_ARG;
  status = unary_check(params);
  if (status != UNIT_OK) return status;
  for (i = 0; i < size; ++i) output[i] = unary_one(params, input[i]);
  return UNIT_OK;
}

unit_status_t unit_unary_table_int8(const unit_unary_params_t *params,
                                    int8_t table[256]) {
  int16_t v;
  unit_status_t status;
  if (params == 0 || table == 0) return UNIT_ERR_NULL;
  status = unary_check(params);
  if (status != UNIT_OK) return status;
  for (v = -128; v <= 127; ++v)
    table[v + 128] = unary_one(params, (int8_t)v);
  return UNIT_OK;
}

unit_status_t unit_lut_int8(const int8_t table[256], int32_t size,
                            const int8_t *input, int8_t *output) {
  int32_t i;
  if (table == 0 || input == 0 || output == 0) return UNIT_ERR_NULL;
  if (size < 0) return UNIT_ERR_ARG;
  for (i = 0; i < size; ++i)
    output[i] = table[(uint8_t)((int16_t)input[i] + 128)];
  return UNIT_OK;
}

/* ------------------------------------------------ broadcasting */

unit_status_t unit_broadcast_init(unit_broadcast_t *b, int32_t num_dims,
                                  const int32_t *input1_dims,
                                  const int32_t *input2_dims,
                                  const int32_t *output_dims) {
  int32_t d, s1 = 1, s2 = 1;
  if (b == 0 || input1_dims == 0 || input2_dims == 0 || output_dims == 0)
    return UNIT_ERR_NULL;
  if (num_dims < 1 || num_dims > UNIT_MAX_DIMS) return UNIT_ERR_ARG;
  b->num_dims = num_dims;
  b->total = 1;
  b->offset1 = b->offset2 = 0;
  for (d = num_dims - 1; d >= 0; --d) {
    if (output_dims[d] <= 0 || input1_dims[d] <= 0 || input2_dims[d] <= 0)
      return UNIT_ERR_ARG;
    if ((input1_dims[d] != output_dims[d] && input1_dims[d] != 1) ||
        (input2_dims[d] != output_dims[d] && input2_dims[d] != 1))
      return UNIT_ERR_SHAPE;
    b->total = unit_mul_limit(b->total, output_dims[d], UNIT_COUNT_MAX);
    if (b->total < 0) return UNIT_ERR_OVERFLOW;
    b->dims[d] = output_dims[d];
    /* each input has at most as many elements as the output */
    b->stride1[d] = input1_dims[d] == 1 ? 0 : s1;
    b->stride2[d] = input2_dims[d] == 1 ? 0 : s2;
    b->wrap1[d] = b->stride1[d] * output_dims[d];
    b->wrap2[d] = b->stride2[d] * output_dims[d];
    s1 *= input1_dims[d];
    s2 *= input2_dims[d];
    b->index[d] = 0;
  }
  return UNIT_OK;
}

void unit_broadcast_next(unit_broadcast_t *b) {
  int32_t d;
  for (d = b->num_dims - 1; d >= 0; --d) {
    ++b->index[d];
    b->offset1 += b->stride1[d];
    b->offset2 += b->stride2[d];
    if (b->index[d] < b->dims[d]) return;
    b->offset1 -= b->wrap1[d];
    b->offset2 -= b->wrap2[d];
    b->index[d] = 0;
  }
}

void unit_broadcast_next_row(unit_broadcast_t *b) {
  int32_t d;
  for (d = b->num_dims - 2; d >= 0; --d) {
    ++b->index[d];
    b->offset1 += b->stride1[d];
    b->offset2 += b->stride2[d];
    if (b->index[d] < b->dims[d]) return;
    b->offset1 -= b->wrap1[d];
    b->offset2 -= b->wrap2[d];
    b->index[d] = 0;
  }
}

/* ------------------------------------------------ binary ops */

unit_status_t unit_binary_prepare_int8(int32_t kind, float input1_scale,
                                       int32_t input1_zero_point,
                                       float input2_scale,
                                       int32_t input2_zero_point,
                                       float output_scale,
                                       int32_t output_zero_point,
                                       int32_t fused_activation,
                                       unit_binary_params_t *p) {
  if (p == 0) return UNIT_ERR_NULL;
  p->kind = kind;
  p->left_shift = 0;
  p->input1_multiplier = p->input1_shift = 0;
  p->input2_multiplier = p->input2_shift = 0;
  p->output_multiplier = p->output_shift = 0;
  p->output_multiplier2 = p->output_shift2 = 0;
  p->act_min = -128;
  p->act_max = 127;
  p->input1_offset = -input1_zero_point;
  p->input2_offset = -input2_zero_point;
  p->output_offset = output_zero_point;
  if (kind < UNIT_BINARY_MUL || kind > UNIT_BINARY_PRELU) return UNIT_ERR_ARG;
  if (!zp_ok(input1_zero_point) || !zp_ok(input2_zero_point) ||
      !zp_ok(output_zero_point))
    return UNIT_ERR_OFFSET;
  if (kind == UNIT_BINARY_MINIMUM || kind == UNIT_BINARY_MAXIMUM)
    return UNIT_OK; /* raw values: no quantisation involved */
  if (!scale_ok(input1_scale) || !scale_ok(input2_scale) ||
      !scale_ok(output_scale))
    return UNIT_ERR_ARG;
  switch (kind) {
    case UNIT_BINARY_MUL:
      /* CalculateOpDataMul: double product and quotient */
      if (unit_quantize_multiplier((double)input1_scale * (double)input2_scale /
                                       (double)output_scale,
                                   &p->output_multiplier,
                                   &p->output_shift) != UNIT_OK)
        return UNIT_ERR_ARG;
      if (p->output_shift > 30) return UNIT_ERR_REQUANT;
      return unit_activation_range_int8(fused_activation, output_scale,
                                        output_zero_point, &p->act_min,
                                        &p->act_max);
    case UNIT_BINARY_SUB: {
      /* CalculateOpDataSub: float arithmetic, then double */
      const float twice_max =
          2 * (input1_scale > input2_scale ? input1_scale : input2_scale);
      const float real1 = input1_scale / twice_max;
      const float real2 = input2_scale / twice_max;
      const float real_out =
          twice_max / ((float)((int32_t)1 << 20) * output_scale);
      p->left_shift = 20;
      if (!unit_quantize_multiplier_smaller_than_one(
              (double)real1, &p->input1_multiplier, &p->input1_shift) ||
          !unit_quantize_multiplier_smaller_than_one(
              (double)real2, &p->input2_multiplier, &p->input2_shift) ||
          !unit_quantize_multiplier_smaller_than_one(
              (double)real_out, &p->output_multiplier, &p->output_shift))
        return UNIT_ERR_REQUANT;
      return unit_activation_range_int8(fused_activation, output_scale,
                                        output_zero_point, &p->act_min,
                                        &p->act_max);
    }
    case UNIT_BINARY_SQUARED_DIFFERENCE: {
      /* squared_difference.cc PrepareQuantized, left shift 7, double math
       * except (1 << 14) * output_scale, which is float */
      const double twice_max =
          2.0 * (double)(input1_scale > input2_scale ? input1_scale
                                                     : input2_scale);
      const float denominator = (float)((int32_t)1 << 14) * output_scale;
      p->left_shift = 7;
      if (!unit_quantize_multiplier_smaller_than_one(
              (double)input1_scale / twice_max, &p->input1_multiplier,
              &p->input1_shift) ||
          !unit_quantize_multiplier_smaller_than_one(
              (double)input2_scale / twice_max, &p->input2_multiplier,
              &p->input2_shift))
        return UNIT_ERR_REQUANT;
      if (unit_quantize_multiplier(twice_max * twice_max / (double)denominator,
                                   &p->output_multiplier,
                                   &p->output_shift) != UNIT_OK)
        return UNIT_ERR_ARG;
      if (p->output_shift > 30) return UNIT_ERR_REQUANT;
      return UNIT_OK;
    }
    default: /* UNIT_BINARY_PRELU: CalculatePreluParams, double math */
      if (unit_quantize_multiplier((double)input1_scale / (double)output_scale,
                                   &p->output_multiplier,
                                   &p->output_shift) != UNIT_OK ||
          unit_quantize_multiplier((double)input1_scale *
                                       (double)input2_scale /
                                       (double)output_scale,
                                   &p->output_multiplier2,
                                   &p->output_shift2) != UNIT_OK)
        return UNIT_ERR_ARG;
      if (p->output_shift > 30 || p->output_shift2 > 30)
        return UNIT_ERR_REQUANT;
      return UNIT_OK;
  }
}

static int8_t binary_one(const unit_binary_params_t *p, int8_t x, int8_t y) {
  switch (p->kind) {
    case UNIT_BINARY_MUL: {
      const int32_t a = p->input1_offset + x, b = p->input2_offset + y;
      return clamp8(p->output_offset + unit_multiply_by_quantized_multiplier(
                                           a * b, p->output_multiplier,
                                           p->output_shift),
                    p->act_min, p->act_max);
    }
    case UNIT_BINARY_SUB:
    case UNIT_BINARY_SQUARED_DIFFERENCE: {
      const int32_t shifted1 =
          (p->input1_offset + x) * ((int32_t)1 << p->left_shift);
      const int32_t shifted2 =
          (p->input2_offset + y) * ((int32_t)1 << p->left_shift);
      const int32_t diff =
          unit_multiply_by_quantized_multiplier(shifted1, p->input1_multiplier,
                                                p->input1_shift) -
          unit_multiply_by_quantized_multiplier(shifted2, p->input2_multiplier,
                                                p->input2_shift);
      /* SQUARED_DIFFERENCE: |diff| <= 255 * 2^7, so diff^2 fits int32 */
      const int32_t raw =
          p->kind == UNIT_BINARY_SUB ? diff : diff * diff;
      return clamp8(unit_multiply_by_quantized_multiplier(
                        raw, p->output_multiplier, p->output_shift) +
                        p->output_offset,
                    p->act_min, p->act_max);
    }
    case UNIT_BINARY_MINIMUM:
      return x < y ? x : y;
    case UNIT_BINARY_MAXIMUM:
      return x > y ? x : y;
    default: { /* UNIT_BINARY_PRELU */
      const int32_t input = p->input1_offset + x;
      int32_t out;
      if (input >= 0) {
        out = unit_multiply_by_quantized_multiplier(input, p->output_multiplier,
                                                    p->output_shift);
      } else {
        out = unit_multiply_by_quantized_multiplier(
            input * (p->input2_offset + y), p->output_multiplier2,
            p->output_shift2);
      }
      return clamp8(out + p->output_offset, -128, 127);
    }
  }
}

unit_status_t unit_binary_int8(const unit_binary_params_t *p,
                               int32_t num_dims, const int32_t *input1_dims,
                               const int8_t *input1, const int32_t *input2_dims,
                               const int8_t *input2, const int32_t *output_dims,
                               int8_t *output) {
  unit_broadcast_t b;
  int32_t i;
  unit_status_t status;
  if (p == 0 || input1 == 0 || input2 == 0 || output == 0) return UNIT_ERR_NULL;
  if (p->kind < UNIT_BINARY_MUL || p->kind > UNIT_BINARY_PRELU)
    return UNIT_ERR_ARG;
  /* SUB's left shift 20 and SQUARED_DIFFERENCE's 7 keep 255 << shift (and
   * the squared difference) in int32 */
  if (p->left_shift < 0 ||
      p->left_shift > (p->kind == UNIT_BINARY_SQUARED_DIFFERENCE ? 7 : 22))
    return UNIT_ERR_ARG;
  if (!unit_input_offset_valid(p->input1_offset) ||
      !unit_input_offset_valid(p->input2_offset) ||
      !unit_int8_value(p->output_offset))
    return UNIT_ERR_OFFSET;
  if (p->input1_multiplier < 0 || p->input2_multiplier < 0 ||
      p->output_multiplier < 0 || p->output_multiplier2 < 0 ||
      p->input1_shift > 0 || p->input1_shift < -31 || p->input2_shift > 0 ||
      p->input2_shift < -31 || p->output_shift > 30 || p->output_shift < -31 ||
      p->output_shift2 > 30 || p->output_shift2 < -31)
    return UNIT_ERR_REQUANT;
  status = unit_check_act_int8(p->act_min, p->act_max);
  if (status != UNIT_OK) return status;
  status = unit_broadcast_init(&b, num_dims, input1_dims, input2_dims,
                               output_dims);
  if (status != UNIT_OK) return status;
  {
    /* a row of the last dim at a time: its strides are 0 or 1, so the
     * inner loop only adds (no index arithmetic per element) */
    const int32_t row = b.dims[num_dims - 1];
    const int32_t step1 = b.stride1[num_dims - 1], step2 = b.stride2[num_dims - 1];
    for (i = 0; i < b.total; i += row) {
      const int8_t *a = input1 + b.offset1, *c = input2 + b.offset2;
      int8_t *o = output + i;
      int32_t k;
      if (p->kind == UNIT_BINARY_MAXIMUM) {
        for (k = 0; k < row; ++k, a += step1, c += step2)
          o[k] = *a > *c ? *a : *c;
      } else if (p->kind == UNIT_BINARY_MINIMUM) {
        for (k = 0; k < row; ++k, a += step1, c += step2)
          o[k] = *a < *c ? *a : *c;
      } else {
        for (k = 0; k < row; ++k, a += step1, c += step2)
          o[k] = binary_one(p, *a, *c);
      }
      unit_broadcast_next_row(&b);
    }
  }
  return UNIT_OK;
}
