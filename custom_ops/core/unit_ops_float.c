/* float32 MAX_POOL_2D, AVERAGE_POOL_2D, ADD, SOFTMAX and MEAN
 * (unit_ops.h), with the arithmetic of TFLM's float reference kernels in
 * their order: float sums accumulate tap by tap (window rows, then columns)
 * or element by element (row-major), so results are bit-exact with TFLM.
 * Host-only (libm's expf): the MSP430 build leaves this file out (its
 * Makefile's HOST_ONLY, tflm_unit/msp430/build.py). */
#include <float.h>
#include <math.h>

#include "unit_activation.h"
#include "unit_internal.h"
#include "unit_ops.h"

static int shape_valid(const unit_shape_t *s) {
  return s != 0 && s->n > 0 && s->h > 0 && s->w > 0 && s->c > 0;
}

/* act_min <= act_max, neither NaN. */
static int range_valid(float act_min, float act_max) {
  return act_min <= act_max;
}

/* ---- pooling ---- */

static unit_status_t pool_2d_float(int average,
                                   const unit_pool_params_t *params,
                                   float act_min, float act_max,
                                   const unit_shape_t *in_shape,
                                   const float *input,
                                   const unit_shape_t *out_shape,
                                   float *output) {
  int32_t b, oy, ox, c;
  size_t out = 0;
  unit_status_t status;
  if (params == 0 || in_shape == 0 || input == 0 || out_shape == 0 ||
      output == 0)
    return UNIT_ERR_NULL;
  if (!shape_valid(in_shape) || !shape_valid(out_shape) ||
      !range_valid(act_min, act_max))
    return UNIT_ERR_ARG;
  if (in_shape->n != out_shape->n || in_shape->c != out_shape->c)
    return UNIT_ERR_SHAPE;
  status = unit_pool_geometry(params->filter_h, params->filter_w,
                              params->stride_h, params->stride_w, params->pad_h,
                              params->pad_w, in_shape, out_shape);
  if (status != UNIT_OK) return status;
  /* the geometry check bounds every origin + filter below by UNIT_COUNT_MAX */
  for (b = 0; b < out_shape->n; ++b) {
    for (oy = 0; oy < out_shape->h; ++oy) {
      const int32_t y0 = oy * params->stride_h - params->pad_h;
      const int32_t fy_start = y0 < 0 ? -y0 : 0;
      const int32_t fy_end = params->filter_h < in_shape->h - y0
                                 ? params->filter_h
                                 : in_shape->h - y0;
      for (ox = 0; ox < out_shape->w; ++ox) {
        const int32_t x0 = ox * params->stride_w - params->pad_w;
        const int32_t fx_start = x0 < 0 ? -x0 : 0;
        const int32_t fx_end = params->filter_w < in_shape->w - x0
                                   ? params->filter_w
                                   : in_shape->w - x0;
        for (c = 0; c < out_shape->c; ++c, ++out) {
          float value = average ? 0.0f : -FLT_MAX;
          float count = 0.0f;
          int32_t fy, fx;
          for (fy = fy_start; fy < fy_end; ++fy) {
            const size_t row =
                (((size_t)b * (size_t)in_shape->h + (size_t)(y0 + fy)) *
                 (size_t)in_shape->w);
            for (fx = fx_start; fx < fx_end; ++fx) {
              const float v =
                  input[(row + (size_t)(x0 + fx)) * (size_t)in_shape->c +
                        (size_t)c];
              if (average) {
                value += v;
                count += 1.0f;
              } else {
                value = value < v ? v : value; /* std::max(value, v) */
              }
            }
          }
          if (average) {
            if (count == 0.0f) return UNIT_ERR_SHAPE; /* TFLM fails too */
            value = value / count;
          }
          output[out] = unit_clamp_float(value, act_min, act_max);
        }
      }
    }
  }
  return UNIT_OK;
}

unit_status_t unit_max_pool_2d_float(const unit_pool_params_t *params,
                                     float act_min, float act_max,
                                     const unit_shape_t *input_shape,
                                     const float *input,
                                     const unit_shape_t *output_shape,
                                     float *output) {
  return pool_2d_float(0, params, act_min, act_max, input_shape, input,
                       output_shape, output);
}

unit_status_t unit_average_pool_2d_float(const unit_pool_params_t *params,
                                         float act_min, float act_max,
                                         const unit_shape_t *input_shape,
                                         const float *input,
                                         const unit_shape_t *output_shape,
                                         float *output) {
  return pool_2d_float(1, params, act_min, act_max, input_shape, input,
                       output_shape, output);
}

/* ---- ADD ---- */

unit_status_t unit_add_float(float act_min, float act_max, int32_t num_dims,
                             const int32_t *input1_dims, const float *input1,
                             const int32_t *input2_dims, const float *input2,
                             const int32_t *output_dims, float *output) {
  unit_broadcast_t walk;
  int32_t i;
  unit_status_t status;
  if (input1 == 0 || input2 == 0 || output == 0) return UNIT_ERR_NULL;
  if (!range_valid(act_min, act_max)) return UNIT_ERR_ARG;
  status = unit_broadcast_init(&walk, num_dims, input1_dims, input2_dims,
                               output_dims);
  if (status != UNIT_OK) return status;
  for (i = 0; i < walk.total; ++i) {
    output[i] = unit_clamp_float(input1[walk.offset1] + input2[walk.offset2],
                                 act_min, act_max);
    unit_broadcast_next(&walk);
  }
  return UNIT_OK;
}

/* ---- SOFTMAX ---- */

unit_status_t unit_softmax_float(float beta, int32_t outer_size,
                                 int32_t depth, const float *input,
                                 float *output) {
  int32_t row, c;
  if (input == 0 || output == 0) return UNIT_ERR_NULL;
  if (outer_size <= 0 || depth <= 0 || !(beta > 0.0f && beta <= FLT_MAX))
    return UNIT_ERR_ARG;
  if (unit_mul_limit(outer_size, depth, UNIT_COUNT_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  for (row = 0; row < outer_size; ++row) {
    const float *in = input + (size_t)row * (size_t)depth;
    float *out = output + (size_t)row * (size_t)depth;
    float max = -FLT_MAX, sum = 0.0f;
    for (c = 0; c < depth; ++c) max = max < in[c] ? in[c] : max;
    for (c = 0; c < depth; ++c) {
      const float e = expf((in[c] - max) * beta);
      out[c] = e;
      sum += e;
    }
    for (c = 0; c < depth; ++c) out[c] = out[c] / sum;
  }
  return UNIT_OK;
}

/* ---- MEAN ---- */

unit_status_t unit_mean_float(int32_t num_dims, const int32_t *input_dims,
                              uint8_t axis_mask, const float *input,
                              float *output) {
  unit_reduce_t r;
  float *out = output;
  unit_status_t status;
  if (input_dims == 0 || input == 0 || output == 0) return UNIT_ERR_NULL;
  /* the reduced count never exceeds the element count, which init bounds */
  status = unit_reduce_init(&r, num_dims, input_dims, axis_mask, UNIT_COUNT_MAX);
  if (status != UNIT_OK) return status;
  /* For each output (odometer over the kept dims) its reduced elements
   * (odometer over the reduced dims) in row-major order: the order TFLM's
   * Reduce adds them in, walking the whole input row-major. */
  do {
    const int32_t base = unit_reduce_base(&r);
    float sum = 0.0f;
    do {
      sum += input[unit_reduce_offset(&r, base)];
    } while (unit_odometer_step(r.num_reduced, r.reduced, input_dims, r.index));
    *out++ = sum / (float)r.count;
  } while (unit_odometer_step(r.num_kept, r.kept, input_dims, r.index));
  return UNIT_OK;
}
