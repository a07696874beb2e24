/* ADD of two int8 tensors with their own scales, TFLM's int8 scheme: both
 * inputs are shifted left by 20 bits, rescaled to a common scale (twice the
 * larger input scale) by multipliers below one, summed, and the sum is
 * rescaled to the output.  Broadcasting is NumPy's (a dim of 1 repeats). */
#include <float.h>

#include "unit_internal.h"
#include "unit_ops.h"

/* tflite::QuantizeMultiplierSmallerThanOneExp (unit_internal.h). */
int unit_quantize_multiplier_smaller_than_one(double real_multiplier,
                                              int32_t *multiplier,
                                              int32_t *shift) {
  if (!(real_multiplier > 0.0 && real_multiplier < 1.0)) return 0;
  if (unit_quantize_multiplier(real_multiplier, multiplier, shift) != UNIT_OK)
    return 0;
  return *shift <= 0 && *shift >= -31;
}

unit_status_t unit_add_prepare_int8(float input1_scale,
                                    int32_t input1_zero_point,
                                    float input2_scale,
                                    int32_t input2_zero_point,
                                    float output_scale,
                                    int32_t output_zero_point,
                                    int32_t fused_activation,
                                    unit_add_params_t *params) {
  double twice_max_input_scale, real_input1, real_input2, real_output;
  unit_status_t status;
  if (params == 0) return UNIT_ERR_NULL;
  if (!(input1_scale > 0.0f) || !(input2_scale > 0.0f) ||
      !(output_scale > 0.0f) || input1_scale > FLT_MAX ||
      input2_scale > FLT_MAX || output_scale > FLT_MAX)
    return UNIT_ERR_ARG;
  if (input1_zero_point < -128 || input1_zero_point > 127 ||
      input2_zero_point < -128 || input2_zero_point > 127 ||
      output_zero_point < -128 || output_zero_point > 127)
    return UNIT_ERR_OFFSET;
  if (fused_activation < UNIT_ACT_NONE || fused_activation > UNIT_ACT_RELU6)
    return UNIT_ERR_ARG;
  params->input1_offset = -input1_zero_point;
  params->input2_offset = -input2_zero_point;
  params->output_offset = output_zero_point;
  params->left_shift = 20;
  /* The same double arithmetic as TFLM's CalculateOpDataAdd. */
  twice_max_input_scale =
      2.0 * (double)(input1_scale > input2_scale ? input1_scale : input2_scale);
  real_input1 = (double)input1_scale / twice_max_input_scale;
  real_input2 = (double)input2_scale / twice_max_input_scale;
  real_output = twice_max_input_scale /
                ((double)((int32_t)1 << params->left_shift) *
                 (double)output_scale);
  if (!unit_quantize_multiplier_smaller_than_one(
          real_input1, &params->input1_multiplier, &params->input1_shift) ||
      !unit_quantize_multiplier_smaller_than_one(
          real_input2, &params->input2_multiplier, &params->input2_shift) ||
      !unit_quantize_multiplier_smaller_than_one(
          real_output, &params->output_multiplier, &params->output_shift))
    return UNIT_ERR_REQUANT;
  status = unit_activation_range_int8(fused_activation, output_scale,
                                      output_zero_point, &params->act_min,
                                      &params->act_max);
  return status;
}

/* tflite::MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0): with
 * TFLite's default double rounding it is the general helper. */
static int32_t unit_mul_smaller_than_one(int32_t x, int32_t multiplier,
                                         int32_t shift) {
  return unit_multiply_by_quantized_multiplier(x, multiplier, shift);
}

static int8_t unit_add_one(const unit_add_params_t *p, int8_t x, int8_t y) {
  const int32_t shifted1 = (p->input1_offset + x) * ((int32_t)1 << p->left_shift);
  const int32_t shifted2 = (p->input2_offset + y) * ((int32_t)1 << p->left_shift);
  const int32_t scaled1 =
      unit_mul_smaller_than_one(shifted1, p->input1_multiplier, p->input1_shift);
  const int32_t scaled2 =
      unit_mul_smaller_than_one(shifted2, p->input2_multiplier, p->input2_shift);
  int32_t out = unit_mul_smaller_than_one(scaled1 + scaled2,
                                          p->output_multiplier,
                                          p->output_shift) +
                p->output_offset;
  if (out < p->act_min) out = p->act_min;
  if (out > p->act_max) out = p->act_max;
  return (int8_t)out;
}

unit_status_t unit_add_int8(const unit_add_params_t *params, int32_t num_dims,
                            const int32_t *input1_dims, const int8_t *input1,
                            const int32_t *input2_dims, const int8_t *input2,
                            const int32_t *output_dims, int8_t *output) {
  /* Per-dim strides of each input over the output index (0 = broadcast). */
  int32_t stride1[UNIT_MAX_DIMS], stride2[UNIT_MAX_DIMS];
  int32_t index[UNIT_MAX_DIMS];
  int32_t total = 1, s1 = 1, s2 = 1, d, i;
  int32_t off1 = 0, off2 = 0;
  unit_status_t status;
  if (params == 0 || input1_dims == 0 || input2_dims == 0 ||
      output_dims == 0 || input1 == 0 || input2 == 0 || output == 0)
    return UNIT_ERR_NULL;
  if (num_dims < 1 || num_dims > UNIT_MAX_DIMS) return UNIT_ERR_ARG;
  /* TFLM's int8 ADD: left shift 20 (<= 22 keeps the sum of two 255 << shift
   * in int32),
   * input offsets -zp, output offset zp, and multipliers below one (shift
   * <= 0), so no intermediate can overflow int32. */
  if (params->left_shift < 0 || params->left_shift > 22) return UNIT_ERR_ARG;
  if (!unit_input_offset_valid(params->input1_offset) ||
      !unit_input_offset_valid(params->input2_offset) ||
      !unit_int8_value(params->output_offset))
    return UNIT_ERR_OFFSET;
  if (params->input1_multiplier < 0 || params->input2_multiplier < 0 ||
      params->output_multiplier < 0 || params->input1_shift > 0 ||
      params->input1_shift < -31 || params->input2_shift > 0 ||
      params->input2_shift < -31 || params->output_shift > 0 ||
      params->output_shift < -31)
    return UNIT_ERR_REQUANT;
  status = unit_check_act_int8(params->act_min, params->act_max);
  if (status != UNIT_OK) return status;
  for (d = num_dims - 1; d >= 0; --d) {
    if (output_dims[d] <= 0 || input1_dims[d] <= 0 || input2_dims[d] <= 0)
      return UNIT_ERR_ARG;
    if ((input1_dims[d] != output_dims[d] && input1_dims[d] != 1) ||
        (input2_dims[d] != output_dims[d] && input2_dims[d] != 1))
      return UNIT_ERR_SHAPE;
    total = unit_mul_limit(total, output_dims[d], UNIT_COUNT_MAX);
    if (total < 0) return UNIT_ERR_OVERFLOW;
    /* each input has at most as many elements as the output */
    stride1[d] = input1_dims[d] == 1 ? 0 : s1;
    stride2[d] = input2_dims[d] == 1 ? 0 : s2;
    s1 *= input1_dims[d];
    s2 *= input2_dims[d];
    index[d] = 0;
  }
  /* Walk the output in row-major order, carrying an odometer index and the
   * two input offsets along with it. */
  for (i = 0; i < total; ++i) {
    output[i] = unit_add_one(params, input1[off1], input2[off2]);
    for (d = num_dims - 1; d >= 0; --d) {
      ++index[d];
      off1 += stride1[d];
      off2 += stride2[d];
      if (index[d] < output_dims[d]) break;
      off1 -= stride1[d] * output_dims[d];
      off2 -= stride2[d] * output_dims[d];
      index[d] = 0;
    }
  }
  return UNIT_OK;
}
