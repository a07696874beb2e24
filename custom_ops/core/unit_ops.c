/* MEAN over H,W, PAD / PADV2, CONCATENATION, QUANTIZE and DEQUANTIZE on
 * int8 tensors, computed the way TFLM's reference kernels do. */
#include <float.h>

#include "unit_internal.h"
#include "unit_ops.h"

static int32_t unit_clamp_int8(int32_t v) {
  if (v < -128) return -128;
  if (v > 127) return 127;
  return v;
}

/* MEAN reduces at most 2^23 values per output (see unit_mean_prepare_int8). */
#define UNIT_MEAN_MAX_COUNT ((int32_t)1 << 23)

static int unit_zero_point_valid(int32_t zero_point) {
  return zero_point >= -128 && zero_point <= 127;
}

/* A quantisation scale: positive and finite. */
static int unit_scale_valid(float scale) {
  return scale > 0.0f && scale <= FLT_MAX;
}

/* The parameters every MEAN kernel reads. */
static unit_status_t unit_check_mean_params(const unit_mean_params_t *p) {
  if (p->multiplier < 0 || p->shift < -31 || p->shift > 30)
    return UNIT_ERR_REQUANT;
  if (p->count <= 0 || p->count > UNIT_MEAN_MAX_COUNT) return UNIT_ERR_ARG;
  if (!unit_zero_point_valid(p->input_zero_point) ||
      !unit_zero_point_valid(p->output_zero_point))
    return UNIT_ERR_OFFSET;
  return UNIT_OK;
}

/* ---- MEAN ---- */

/* floor(log2 x) for x >= 1 */
static int32_t unit_floor_log2_u32(uint32_t x) {
  int32_t e = 0;
  while (x > 1u) {
    x >>= 1;
    ++e;
  }
  return e;
}


unit_status_t unit_mean_prepare_int8(float input_scale,
                                     int32_t input_zero_point,
                                     float output_scale,
                                     int32_t output_zero_point, int32_t count,
                                     unit_mean_params_t *params) {
  int32_t multiplier, shift, count_shift;
  if (params == 0) return UNIT_ERR_NULL;
  if (!unit_scale_valid(input_scale) || !unit_scale_valid(output_scale))
    return UNIT_ERR_ARG;
  if (!unit_zero_point_valid(input_zero_point) ||
      !unit_zero_point_valid(output_zero_point))
    return UNIT_ERR_OFFSET;
  if (count <= 0 || count > UNIT_MEAN_MAX_COUNT) return UNIT_ERR_ARG;
  /* TFLM's Prepare: QuantizeMultiplier(input_scale / output_scale) */
  if (unit_quantize_multiplier((double)input_scale / (double)output_scale,
                               &multiplier, &shift) != UNIT_OK)
    return UNIT_ERR_ARG;
  if (shift < -31 || shift > 30) return UNIT_ERR_REQUANT;
  /* TFLM's Eval folds 1/count in: multiplier * 2^s / count (integer
   * division) with s = floor(log2 count), s <= 32 and s <= 31 + shift. */
  count_shift = unit_floor_log2_u32((uint32_t)count);
  if (count_shift > 32) count_shift = 32;
  if (count_shift > 31 + shift) count_shift = 31 + shift;
  params->multiplier = (int32_t)((((int64_t)multiplier) << count_shift) /
                                 (int64_t)count);
  params->shift = shift - count_shift;
  params->count = count;
  params->input_zero_point = input_zero_point;
  params->output_zero_point = output_zero_point;
  return UNIT_OK;
}

unit_status_t unit_mean_hw_int8(const unit_mean_params_t *params,
                                const unit_shape_t *input_shape,
                                const int8_t *input, int8_t *output) {
  int32_t count, batch, channel, i;
  unit_status_t status;
  if (params == 0 || input_shape == 0 || input == 0 || output == 0)
    return UNIT_ERR_NULL;
  if (input_shape->n <= 0 || input_shape->h <= 0 || input_shape->w <= 0 ||
      input_shape->c <= 0)
    return UNIT_ERR_ARG;
  status = unit_check_mean_params(params);
  if (status != UNIT_OK) return status;
  if (unit_shape_count(input_shape, UNIT_COUNT_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  count = input_shape->h * input_shape->w; /* <= the input's count */
  if (count != params->count) return UNIT_ERR_SHAPE;
  for (batch = 0; batch < input_shape->n; ++batch) {
    const int8_t *in_batch = input + (int32_t)batch * count * input_shape->c;
    for (channel = 0; channel < input_shape->c; ++channel) {
      int32_t sum = 0, value;
      for (i = 0; i < count; ++i) sum += in_batch[i * input_shape->c + channel];
      /* |sum - zp * count| <= 256 * count < 2^31 for count <= 2^23 */
      sum -= params->input_zero_point * count;
      value = unit_multiply_by_quantized_multiplier(sum, params->multiplier,
                                                    params->shift) +
              params->output_zero_point;
      output[batch * input_shape->c + channel] = (int8_t)unit_clamp_int8(value);
    }
  }
  return UNIT_OK;
}

/* unit_reduce_t (unit_internal.h) holds UNIT_MAX_DIMS dims */
typedef char unit_reduce_dims_check[UNIT_REDUCE_MAX_DIMS == UNIT_MAX_DIMS ? 1 : -1];

unit_status_t unit_mean_int8(const unit_mean_params_t *params,
                             int32_t num_dims, const int32_t *input_dims,
                             uint8_t axis_mask, const int8_t *input,
                             int8_t *output) {
  unit_reduce_t r;
  int8_t *out = output;
  unit_status_t status;
  if (params == 0 || input_dims == 0 || input == 0 || output == 0)
    return UNIT_ERR_NULL;
  if (num_dims < 1 || num_dims > UNIT_MAX_DIMS ||
      (axis_mask >> num_dims) != 0 || axis_mask == 0)
    return UNIT_ERR_ARG;
  status = unit_check_mean_params(params);
  if (status != UNIT_OK) return status;
  status = unit_reduce_init(&r, num_dims, input_dims, axis_mask,
                            UNIT_MEAN_MAX_COUNT);
  if (status != UNIT_OK) return status;
  if (r.count != params->count) return UNIT_ERR_SHAPE;
  /* For each output (odometer over the kept dims), sum its reduced window
   * (odometer over the reduced dims), then requantise as mean_hw does. */
  do {
    const int32_t base = unit_reduce_base(&r);
    int32_t sum = 0, value;
    do {
      sum += input[unit_reduce_offset(&r, base)];
    } while (unit_odometer_step(r.num_reduced, r.reduced, input_dims, r.index));
    sum -= params->input_zero_point * r.count;
    value = unit_multiply_by_quantized_multiplier(sum, params->multiplier,
                                                  params->shift) +
            params->output_zero_point;
    *out++ = (int8_t)unit_clamp_int8(value);
  } while (unit_odometer_step(r.num_kept, r.kept, input_dims, r.index));
  return UNIT_OK;
}

/* ---- PAD ---- */

unit_status_t unit_pad_int8(int32_t num_dims, const int32_t *input_dims,
                            const int8_t *input, const int32_t *pad_before,
                            const int32_t *pad_after, int8_t pad_value,
                            int8_t *output) {
  /* Everything is extended to 5 dims by prepending dims of 1, unpadded. */
  int32_t in_dims[UNIT_PAD_MAX_DIMS], out_dims[UNIT_PAD_MAX_DIMS];
  int32_t before[UNIT_PAD_MAX_DIMS], after[UNIT_PAD_MAX_DIMS];
  int32_t index[UNIT_PAD_MAX_DIMS];
  int32_t d, total = 1, i;
  const int32_t first = UNIT_PAD_MAX_DIMS - num_dims;
  if (input_dims == 0 || input == 0 || pad_before == 0 || pad_after == 0 ||
      output == 0)
    return UNIT_ERR_NULL;
  if (num_dims < 1 || num_dims > UNIT_PAD_MAX_DIMS) return UNIT_ERR_ARG;
  for (d = 0; d < UNIT_PAD_MAX_DIMS; ++d) {
    if (d < first) {
      in_dims[d] = 1;
      before[d] = 0;
      after[d] = 0;
    } else {
      in_dims[d] = input_dims[d - first];
      before[d] = pad_before[d - first];
      after[d] = pad_after[d - first];
    }
    if (in_dims[d] <= 0 || before[d] < 0 || after[d] < 0) return UNIT_ERR_ARG;
    out_dims[d] = unit_add_limit(unit_add_limit(before[d], in_dims[d],
                                                UNIT_COUNT_MAX),
                                 after[d], UNIT_COUNT_MAX);
    total = unit_mul_limit(total, out_dims[d], UNIT_COUNT_MAX);
    if (out_dims[d] < 0 || total < 0) return UNIT_ERR_OVERFLOW;
    index[d] = 0;
  }
  /* Output in row-major order, one innermost row at a time: a row outside
   * the input on any outer dim is all padding, otherwise it is padding, a
   * copy of the next input row, padding.  Input rows are consumed in order. */
  {
    const int32_t row = out_dims[UNIT_PAD_MAX_DIMS - 1];
    const int32_t last = UNIT_PAD_MAX_DIMS - 1;
    const int8_t *in = input;
    int8_t *out = output;
    for (i = 0; i < total; i += row) {
      int inside = 1;
      int32_t j;
      for (d = 0; d < last; ++d)
        if (index[d] < before[d] || index[d] >= before[d] + in_dims[d]) inside = 0;
      if (!inside) {
        for (j = 0; j < row; ++j) *out++ = pad_value;
      } else {
        for (j = 0; j < before[last]; ++j) *out++ = pad_value;
        for (j = 0; j < in_dims[last]; ++j) *out++ = *in++;
        for (j = 0; j < after[last]; ++j) *out++ = pad_value;
      }
      for (d = last - 1; d >= 0; --d) { /* next row: odometer over outer dims */
        if (++index[d] < out_dims[d]) break;
        index[d] = 0;
      }
    }
  }
  return UNIT_OK;
}

/* ---- CONCATENATION ---- */

unit_status_t unit_concatenation_int8(int32_t num_inputs,
                                      const int8_t *const *inputs,
                                      int32_t num_dims,
                                      const int32_t *input_dims, int32_t axis,
                                      int8_t *output) {
  int32_t outer = 1, inner = 1, i, d, k, j;
  int32_t axis_total = 0;
  int8_t *out = output;
  if (inputs == 0 || input_dims == 0 || output == 0) return UNIT_ERR_NULL;
  if (num_inputs < 1 || num_inputs > UNIT_CONCAT_MAX_INPUTS) return UNIT_ERR_ARG;
  if (num_dims < 1 || num_dims > UNIT_MAX_DIMS) return UNIT_ERR_ARG;
  if (axis < 0 || axis >= num_dims) return UNIT_ERR_ARG;
  for (i = 0; i < num_inputs; ++i) {
    if (inputs[i] == 0) return UNIT_ERR_NULL;
    for (d = 0; d < num_dims; ++d) {
      const int32_t dim = input_dims[i * num_dims + d];
      if (dim <= 0) return UNIT_ERR_ARG;
      if (d != axis && dim != input_dims[d]) return UNIT_ERR_SHAPE;
    }
    axis_total = unit_add_limit(axis_total, input_dims[i * num_dims + axis],
                                UNIT_COUNT_MAX);
    if (axis_total < 0) return UNIT_ERR_OVERFLOW;
  }
  /* the output's element count bounds every index below */
  {
    int32_t total = axis_total;
    for (d = 0; d < num_dims; ++d)
      if (d != axis) total = unit_mul_limit(total, input_dims[d], UNIT_COUNT_MAX);
    if (total < 0) return UNIT_ERR_OVERFLOW;
  }
  for (d = 0; d < axis; ++d) outer *= input_dims[d];
  for (d = axis + 1; d < num_dims; ++d) inner *= input_dims[d];
  for (k = 0; k < outer; ++k) {
    for (i = 0; i < num_inputs; ++i) {
      const int32_t copy_size = input_dims[i * num_dims + axis] * inner;
      const int8_t *in = inputs[i] + k * copy_size;
      for (j = 0; j < copy_size; ++j) *out++ = in[j];
    }
  }
  return UNIT_OK;
}

/* ---- QUANTIZE / DEQUANTIZE ---- */

unit_status_t unit_requantize_prepare_int8(float input_scale,
                                           int32_t input_zero_point,
                                           float output_scale,
                                           int32_t output_zero_point,
                                           unit_requantize_params_t *params) {
  unit_requantize_params_t p;
  if (params == 0) return UNIT_ERR_NULL;
  if (!unit_scale_valid(input_scale) || !unit_scale_valid(output_scale))
    return UNIT_ERR_ARG;
  if (!unit_zero_point_valid(input_zero_point) ||
      !unit_zero_point_valid(output_zero_point))
    return UNIT_ERR_OFFSET;
  if (unit_quantize_multiplier((double)input_scale / (double)output_scale,
                               &p.multiplier, &p.shift) != UNIT_OK)
    return UNIT_ERR_ARG;
  /* int8 differences are at most 255 (8 bits); keep x * 2^shift in int32 */
  if (p.shift > 22 || p.shift < -31) return UNIT_ERR_REQUANT;
  params->multiplier = p.multiplier;
  params->shift = p.shift;
  params->input_zero_point = input_zero_point;
  params->output_zero_point = output_zero_point;
  return UNIT_OK;
}

unit_status_t unit_requantize_int8(const unit_requantize_params_t *params,
                                   int32_t size, const int8_t *input,
                                   int8_t *output) {
  int32_t i;
  if (params == 0 || input == 0 || output == 0) return UNIT_ERR_NULL;
  if (size < 0) return UNIT_ERR_ARG;
  if (params->multiplier < 0 || params->shift < -31 || params->shift > 22)
    return UNIT_ERR_REQUANT;
  if (!unit_zero_point_valid(params->input_zero_point) ||
      !unit_zero_point_valid(params->output_zero_point))
    return UNIT_ERR_OFFSET;
  for (i = 0; i < size; ++i) {
    const int32_t value =
        unit_multiply_by_quantized_multiplier(
            (int32_t)input[i] - params->input_zero_point, params->multiplier,
            params->shift) +
        params->output_zero_point;
    output[i] = (int8_t)unit_clamp_int8(value);
  }
  return UNIT_OK;
}

/* Round half away from zero (std::round) for |q| <= 1024, without libm:
 * q - trunc(q) is exact in float at these magnitudes. */
static int32_t unit_round_half_away(float q) {
  int32_t t = (int32_t)q; /* truncates toward zero */
  const float fraction = q - (float)t;
  if (fraction >= 0.5f) t += 1;
  else if (fraction <= -0.5f) t -= 1;
  return t;
}

unit_status_t unit_quantize_float_to_int8(float scale, int32_t zero_point,
                                          int32_t size, const float *input,
                                          int8_t *output) {
  int32_t i;
  if (input == 0 || output == 0) return UNIT_ERR_NULL;
  if (size < 0 || !unit_scale_valid(scale)) return UNIT_ERR_ARG;
  if (!unit_zero_point_valid(zero_point)) return UNIT_ERR_OFFSET;
  for (i = 0; i < size; ++i) {
    float q = input[i] / scale; /* float division, as TFLM */
    int32_t value;
    if (q != q) { /* NaN */
      output[i] = (int8_t)zero_point;
      continue;
    }
    /* Beyond +-1024 the result saturates anyway (|zero_point| <= 128);
     * clamping first keeps the float -> int conversion defined. */
    if (q > 1024.0f) q = 1024.0f;
    if (q < -1024.0f) q = -1024.0f;
    value = unit_round_half_away(q) + zero_point;
    output[i] = (int8_t)unit_clamp_int8(value);
  }
  return UNIT_OK;
}

unit_status_t unit_dequantize_int8(float scale, int32_t zero_point,
                                   int32_t size, const int8_t *input,
                                   float *output) {
  int32_t i;
  if (input == 0 || output == 0) return UNIT_ERR_NULL;
  if (size < 0 || !unit_scale_valid(scale)) return UNIT_ERR_ARG;
  if (!unit_zero_point_valid(zero_point)) return UNIT_ERR_OFFSET;
  for (i = 0; i < size; ++i)
    output[i] = (float)((double)scale *
                        (double)((int32_t)input[i] - zero_point));
  return UNIT_OK;
}
