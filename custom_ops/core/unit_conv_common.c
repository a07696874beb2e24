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
  int32_t *acc_first = acc + rect->acc_offset + rect->ox_lo;
  uint64_t executed = 0;
#if defined(UNIT_PORT_TAP_WALK)
  unit_tap_walk_t walk;
  if (width == 0u || height <= 0 || channels <= 0) return 0;
  walk.x = x_first;
  walk.acc = acc_first;
  walk.width = (uint16_t)width;
  walk.height = (uint16_t)height;
  walk.x_step = (int16_t)x_step;
  walk.x_row_gap = (int16_t)(row_step - rect->x_span);
  walk.acc_row_gap = (int16_t)((uint16_t)(g->out_w - (ptrdiff_t)width) << 2); /* bytes */
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

uint64_t unit_accumulate_window(unit_window_walk_t *walk) {
  uint64_t executed = 0;
#if defined(UNIT_PORT_TAP_WALK)
  unit_msp430_window_walk(walk);
#else
  /* offsets, not pointers: a gap added after the last row may point past
   * the tensor, which only an offset may do */
  ptrdiff_t x_pos = 0, a = 0;
  const int16_t offset = walk->input_offset;
  size_t oy, ox, r, c, i;
  for (oy = 0; oy < walk->height; ++oy, x_pos += walk->x_pos_row_gap,
      a += walk->acc_row_gap) {
    for (ox = 0; ox < walk->width; ++ox, x_pos += walk->x_step, ++a) {
      ptrdiff_t x = x_pos, w = 0;
      int32_t sum = walk->bias;
      for (r = 0; r < walk->rows; ++r, x += walk->x_row_gap, w += walk->w_row_gap) {
        for (c = 0; c < walk->cols; ++c, x += walk->x_col_gap, w += walk->w_col_gap) {
          for (i = 0; i < walk->run; ++i, ++x, ++w)
            sum = unit_wrap_add32(
                sum, (int16_t)((int16_t)(walk->x[x] + offset) * walk->w[w]));
        }
      }
      walk->acc[a] = sum;
    }
  }
#endif
  UNIT_COUNT_ADD(executed, (uint64_t)walk->rows * walk->cols * walk->run *
                               walk->width * walk->height);
  return executed; /* counted in host builds only */
}

/* Outputs [lo, hi) whose whole window (k taps, dilation apart) reads inside
 * the input: those where the first and the last tap do. */
static void window_interior(ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t dilation,
                            ptrdiff_t k, ptrdiff_t in_size, ptrdiff_t out_size,
                            ptrdiff_t *lo, ptrdiff_t *hi) {
  ptrdiff_t lo1, hi1;
  unit_tap_range(stride, pad, 0, in_size, out_size, lo, hi);
  unit_tap_range(stride, pad, (k - 1) * dilation, in_size, out_size, &lo1, &hi1);
  if (lo1 > *lo) *lo = lo1;
  if (hi1 < *hi) *hi = hi1;
  if (*lo > *hi) *lo = *hi;
}

/* The taps [k_lo, k_hi) of output o's window that read inside the input
 * (contiguous: the input position grows with the tap). */
static void window_taps(ptrdiff_t o, ptrdiff_t stride, ptrdiff_t pad,
                        ptrdiff_t dilation, ptrdiff_t k, ptrdiff_t in_size,
                        ptrdiff_t *k_lo, ptrdiff_t *k_hi) {
  ptrdiff_t p = o * stride - pad, t = 0;
  for (; t < k && p < 0; ++t) p += dilation;
  *k_lo = t;
  for (; t < k && p < in_size; ++t) p += dilation;
  *k_hi = t;
}

/* The end of the group of outputs from o that share one window: the
 * interior [a, b) at once, a border output alone. */
static ptrdiff_t window_group_end(ptrdiff_t o, ptrdiff_t end, ptrdiff_t a,
                                  ptrdiff_t b) {
  if (o >= a && o < b) return b < end ? b : end;
  return o + 1;
}

uint64_t unit_conv_dense_block(const unit_conv_geometry_t *g,
                               const int8_t *input, const int8_t *filter_oc,
                               int32_t bias, int16_t input_offset,
                               int32_t *acc, ptrdiff_t row0,
                               ptrdiff_t row_end) {
  ptrdiff_t ry_a, ry_b, cx_a, cx_b, oy, oy_end, ox, ox_end, k;
  uint64_t executed = 0;
  unit_window_walk_t walk;
  window_interior(g->stride_h, g->pad_h, g->dilation_h, g->k_h, g->in_h,
                  g->out_h, &ry_a, &ry_b);
  window_interior(g->stride_w, g->pad_w, g->dilation_w, g->k_w, g->in_w,
                  g->out_w, &cx_a, &cx_b);
  walk.x_step = g->x_step;
  walk.input_offset = input_offset;
  walk.bias = bias;
  walk.w_col_gap = 0; /* a kernel row's weights are contiguous */
  for (oy = row0; oy < row_end; oy = oy_end) {
    ptrdiff_t ky_lo, ky_hi;
    oy_end = window_group_end(oy, row_end, ry_a, ry_b);
    window_taps(oy, g->stride_h, g->pad_h, g->dilation_h, g->k_h, g->in_h,
                &ky_lo, &ky_hi);
    for (ox = 0; ox < g->out_w; ox = ox_end) {
      ptrdiff_t kx_lo, kx_hi;
      int32_t *acc_first = acc + (oy - row0) * g->out_w + ox;
      ox_end = window_group_end(ox, g->out_w, cx_a, cx_b);
      window_taps(ox, g->stride_w, g->pad_w, g->dilation_w, g->k_w, g->in_w,
                  &kx_lo, &kx_hi);
      walk.width = (size_t)(ox_end - ox);
      walk.height = (size_t)(oy_end - oy);
      if (ky_lo == ky_hi || kx_lo == kx_hi) { /* reads only padding */
        size_t r, c;
        for (r = 0; r < walk.height; ++r, acc_first += g->out_w)
          for (c = 0; c < walk.width; ++c) acc_first[c] = bias;
        continue;
      }
      walk.x = input +
               (oy * g->stride_h - g->pad_h + ky_lo * g->dilation_h) * g->in_row +
               (ox * g->stride_w - g->pad_w + kx_lo * g->dilation_w) * g->in_c;
      walk.w = filter_oc + (ky_lo * g->k_w + kx_lo) * g->in_c;
      walk.acc = acc_first;
      walk.x_pos_row_gap = g->row_step - (ptrdiff_t)walk.width * g->x_step;
      walk.acc_row_gap = g->out_w - (ptrdiff_t)walk.width;
      walk.rows = (size_t)(ky_hi - ky_lo);
      k = kx_hi - kx_lo;
      if (g->dilation_w == 1) { /* a kernel row is one run */
        walk.cols = 1u;
        walk.run = (size_t)(k * g->in_c);
        walk.x_col_gap = 0;
      } else {
        walk.cols = (size_t)k;
        walk.run = (size_t)g->in_c;
        walk.x_col_gap = (g->dilation_w - 1) * g->in_c;
      }
      walk.x_row_gap = g->dilation_h * g->in_row -
                       (ptrdiff_t)walk.cols * ((ptrdiff_t)walk.run + walk.x_col_gap);
      walk.w_row_gap = g->k_w * g->in_c - (ptrdiff_t)walk.cols * (ptrdiff_t)walk.run;
      executed += unit_accumulate_window(&walk);
    }
  }
  return executed;
}
