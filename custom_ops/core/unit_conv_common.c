/* The weight-stationary inner loop shared by CONV_2D and DEPTHWISE_CONV_2D.
 *
 * One weight w (kernel tap ky, kx of one input channel) is applied to every
 * output position of the channel at once: acc[oy][ox] += x'(oy, ox) * w over
 * the rectangle of positions where the tap reads inside the input (padding
 * taps contribute nothing, as in TFLM), so the loop has no bounds checks, the
 * weight and its quotient stay in registers, and a weight whose quotient
 * covers every possible |x'| is not visited at all. */
#include "unit_internal.h"

void unit_tap_range(ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t offset,
                    ptrdiff_t in_size, ptrdiff_t out_size, ptrdiff_t *lo,
                    ptrdiff_t *hi) {
  const ptrdiff_t first = pad - offset;              /* o * stride >= first */
  const ptrdiff_t last = in_size - 1 + pad - offset; /* o * stride <= last */
  if (stride == 1) { /* the common case, without a division helper */
    *lo = first <= 0 ? 0 : first;
    *hi = last < 0 ? 0 : last + 1;
  } else {
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = last < 0 ? 0 : last / stride + 1;
  }
  if (*hi > out_size) *hi = out_size;
  if (*lo > *hi) *lo = *hi;
}

unit_status_t unit_check_spatial(int32_t in, int32_t filter, int32_t stride,
                                 int32_t dilation, int32_t pad, int32_t out,
                                 int32_t limit) {
  /* effective filter size (filter - 1) * dilation + 1 */
  const int32_t reach = unit_mul_limit(filter - 1, dilation, limit - 1);
  const int32_t span = out > 1 ? unit_mul_limit(out - 1, stride, limit) : 0;
  int32_t effective;
  if (reach < 0 || span < 0) return UNIT_ERR_OVERFLOW;
  effective = reach + 1;
  if (pad >= effective) return UNIT_ERR_SHAPE; /* TFLite's pad < effective */
  if (span - pad >= in) return UNIT_ERR_SHAPE; /* a window past the input */
  if (unit_add_limit(span, effective, limit) < 0 ||
      unit_add_limit(unit_add_limit(in, pad, limit), out > 1 ? stride : 1,
                     limit) < 0)
    return UNIT_ERR_OVERFLOW;
  /* the padding the output needs, (out - 1) * stride + effective - in, is at
   * most TFLite's top + bottom = 2 * pad + 1: no more output than the input
   * gives (VALID: none needed; SAME: bottom is top or top + 1) */
  if (span + effective - in - pad - 1 > pad) return UNIT_ERR_SHAPE;
  return UNIT_OK;
}

unit_status_t unit_check_conv_geometry(int32_t stride_h, int32_t stride_w,
                                       int32_t dilation_h, int32_t dilation_w,
                                       int32_t pad_h, int32_t pad_w,
                                       const unit_shape_t *is,
                                       const unit_shape_t *fs,
                                       const unit_shape_t *os) {
  unit_status_t status;
  int32_t in_row;
  if (is->n <= 0 || is->h <= 0 || is->w <= 0 || is->c <= 0 || fs->n <= 0 ||
      fs->h <= 0 || fs->w <= 0 || fs->c <= 0 || os->n <= 0 || os->h <= 0 ||
      os->w <= 0 || os->c <= 0 || stride_h <= 0 || stride_w <= 0 ||
      dilation_h <= 0 || dilation_w <= 0 || pad_h < 0 || pad_w < 0)
    return UNIT_ERR_ARG;
  if (os->n != is->n) return UNIT_ERR_SHAPE;
  if (unit_shape_count(is, UNIT_INDEX_MAX) < 0 ||
      unit_shape_count(fs, UNIT_INDEX_MAX) < 0 ||
      unit_shape_count(os, UNIT_INDEX_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  status = unit_check_spatial(is->h, fs->h, stride_h, dilation_h, pad_h, os->h,
                              UNIT_INDEX_MAX);
  if (status != UNIT_OK) return status;
  status = unit_check_spatial(is->w, fs->w, stride_w, dilation_w, pad_w, os->w,
                              UNIT_INDEX_MAX);
  if (status != UNIT_OK) return status;
  /* the steps between adjacent output rows / columns, in input elements */
  in_row = unit_mul_limit(is->w, is->c, UNIT_INDEX_MAX);
  if (unit_mul_limit(os->h > 1 ? stride_h : 1, in_row, UNIT_INDEX_MAX) < 0 ||
      unit_mul_limit(os->w > 1 ? stride_w : 1, is->c, UNIT_INDEX_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  return UNIT_OK;
}

unit_status_t unit_check_conv_args(const unit_conv_params_t *params,
                                   const unit_requant_t *requant,
                                   const unit_shape_t *input_shape,
                                   const int8_t *input,
                                   const unit_shape_t *filter_shape,
                                   const int8_t *filter,
                                   const unit_shape_t *output_shape,
                                   const int8_t *output) {
  unit_status_t status;
  if (!params || !requant || !requant->multiplier || !requant->shift ||
      !input_shape || !input || !filter_shape || !filter || !output_shape ||
      !output)
    return UNIT_ERR_NULL;
  status = unit_check_conv_geometry(
      params->stride_h, params->stride_w, params->dilation_h,
      params->dilation_w, params->pad_h, params->pad_w, input_shape,
      filter_shape, output_shape);
  if (status != UNIT_OK) return status;
  if (!unit_input_offset_valid(params->input_offset) ||
      !unit_int8_value(params->output_offset))
    return UNIT_ERR_OFFSET;
  return unit_check_act_int8(params->act_min, params->act_max);
}

uint64_t unit_accumulate_tap(const unit_conv_geometry_t *g,
                             const unit_tap_rect_t *rect, const int8_t *x_first,
                             const int8_t *w, const int16_t *tau,
                             ptrdiff_t channels, int16_t input_offset,
                             int32_t *acc) {
  const ptrdiff_t x_step = g->x_step;
  const ptrdiff_t row_step = g->row_step;
  const size_t width = (size_t)(rect->ox_hi - rect->ox_lo);
  const ptrdiff_t height = rect->oy_hi - rect->oy_lo;
  int32_t *acc_first = acc + (rect->oy_lo - rect->row0) * g->out_w + rect->ox_lo;
  uint64_t executed = 0;
#if defined(UNIT_PORT_TAP_WALK)
  unit_tap_walk_t walk;
  if (width == 0u || height <= 0 || channels <= 0) return 0;
  walk.x = x_first;
  walk.acc = acc_first;
  walk.width = (uint16_t)width;
  walk.height = (uint16_t)height;
  walk.x_step = (int16_t)x_step;
  walk.x_row_gap = (int16_t)(row_step - (ptrdiff_t)width * x_step);
  walk.acc_row_gap = (int16_t)((g->out_w - (ptrdiff_t)width) * (ptrdiff_t)sizeof(int32_t));
  walk.input_offset = input_offset;
  walk.w = w;
  walk.tau = tau;
  walk.channels = (uint16_t)channels;
  unit_msp430_tap_walk(&walk);
#else
  ptrdiff_t c, oy;
  for (c = 0; c < channels; ++c) {
    const int8_t *x_row = x_first + c;
    int32_t *acc_row = acc_first;
    const int16_t wc = w[c];
    /* Skip test on the raw input: |x + offset| <= tau  <=>
     * (uint16_t)(x + offset + tau) <= 2 * tau  (see unit_tap_skipped). */
    const int16_t t = tau ? tau[c] : 0;
    const uint16_t shifted = (uint16_t)((uint16_t)input_offset + (uint16_t)t);
    const uint16_t span = (uint16_t)((uint16_t)t << 1);
    if (tau && UNIT_TAU_SKIPS_ALL(t)) continue; /* never multiplies */
    for (oy = 0; oy < height; ++oy, x_row += row_step, acc_row += g->out_w) {
      const int8_t *x = x_row;
      int32_t *a = acc_row;
      size_t n = width;
      if (!tau) { /* dense: every tap multiplies, as the builtin kernel */
        for (; n != 0u; --n, x += x_step, ++a)
          *a = unit_wrap_add32(*a, (int16_t)((int16_t)(*x + input_offset) * wc));
        UNIT_COUNT_ADD(executed, width);
      } else {
        for (; n != 0u; --n, x += x_step, ++a) {
          if ((uint16_t)((uint16_t)*x + shifted) <= span) continue; /* skip */
          *a = unit_wrap_add32(*a, (int16_t)((int16_t)(*x + input_offset) * wc));
          UNIT_COUNT_ADD(executed, 1);
        }
      }
    }
  }
#endif
  return executed; /* counted in host builds only */
}
