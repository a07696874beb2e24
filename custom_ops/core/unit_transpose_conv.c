/* TRANSPOSE_CONV (int8 per-channel and float32) as TFLM's reference kernels
 * compute it: a scatter — every input value adds its products into the
 * outputs it reaches — then bias, requantisation and clamp per output. */
#include "unit_internal.h"
#include "unit_layout.h"

int32_t unit_transpose_conv_padding(unit_padding_t padding, int32_t stride,
                                    int32_t output_size, int32_t filter_size) {
  const int32_t out = unit_compute_out_size(padding, output_size, filter_size,
                                            stride, 1);
  return unit_compute_padding(stride, 1, output_size, filter_size, out);
}

size_t unit_transpose_conv_scratch_bytes(const unit_shape_t *output_shape) {
  if (!output_shape || output_shape->h <= 0 || output_shape->w <= 0 ||
      output_shape->c <= 0)
    return 0;
  return (size_t)output_shape->h * (size_t)output_shape->w *
         (size_t)output_shape->c * sizeof(int32_t);
}

/* offsetof(.., v) is the alignment int32_t needs on the target (C99 has no
 * _Alignof): 4 on the hosts, 2 on the MSP430, whose graph runner hands over
 * an int16_t-aligned scratch. */
struct unit_tc_int32_align {
  char c;
  int32_t v;
};

static int unit_tc_shape_positive(const unit_shape_t *s) {
  return s && s->n > 0 && s->h > 0 && s->w > 0 && s->c > 0;
}

/* Shape relations shared by both kernels. */
static unit_status_t unit_tc_check(int32_t stride_h, int32_t stride_w,
                                   int32_t pad_h, int32_t pad_w,
                                   const unit_shape_t *is,
                                   const unit_shape_t *fs,
                                   const unit_shape_t *os) {
  if (!unit_tc_shape_positive(is) || !unit_tc_shape_positive(fs) ||
      !unit_tc_shape_positive(os))
    return UNIT_ERR_ARG;
  if (stride_h <= 0 || stride_w <= 0 || pad_h < 0 || pad_w < 0)
    return UNIT_ERR_ARG;
  if (is->n != os->n || is->c != fs->c || fs->n != os->c) return UNIT_ERR_SHAPE;
  return UNIT_OK;
}

/* The filter taps [lo, hi) of input position `in` that land inside an
 * output of out_size: out = in * stride - pad + k. */
static void unit_tc_taps(int32_t in, int32_t stride, int32_t pad,
                         int32_t filter_size, int32_t out_size, int32_t *lo,
                         int32_t *hi) {
  const int32_t origin = in * stride - pad;
  *lo = origin < 0 ? -origin : 0;
  *hi = out_size - origin < filter_size ? out_size - origin : filter_size;
  if (*hi < *lo) *hi = *lo;
}

#if UNIT_COUNTERS
static void unit_tc_count(unit_stats_t *stats, const unit_shape_t *is,
                          const unit_shape_t *fs, uint64_t executed_taps) {
  if (!stats) return;
  stats->macs_total += (uint64_t)is->n * (uint64_t)is->h * (uint64_t)is->w *
                       (uint64_t)is->c * (uint64_t)fs->h * (uint64_t)fs->w *
                       (uint64_t)fs->n;
  stats->macs_executed += executed_taps * (uint64_t)is->c * (uint64_t)fs->n;
  if (stats->channel_executed) {
    int32_t oc;
    for (oc = 0; oc < fs->n; ++oc)
      stats->channel_executed[oc] += executed_taps * (uint64_t)is->c;
  }
}
#endif

unit_status_t unit_transpose_conv_int8(
    const unit_transpose_conv_params_t *params, const unit_requant_t *requant,
    const unit_shape_t *input_shape, const int8_t *input,
    const unit_shape_t *filter_shape, const int8_t *filter,
    const int32_t *bias, const unit_shape_t *output_shape, int8_t *output,
    void *scratch, size_t scratch_bytes, unit_stats_t *stats) {
  const unit_transpose_conv_params_t *p = params;
  int32_t *acc = (int32_t *)scratch;
  size_t per_image, filter_oc_step, in_pixel, out_row, k;
  int32_t b, iy, ix, fy, fx, ic, oc;
  uint64_t taps = 0;
  unit_status_t status;
  if (!p || !requant || !requant->multiplier || !requant->shift || !input ||
      !filter || !output || !scratch)
    return UNIT_ERR_ARG;
  status = unit_tc_check(p->stride_h, p->stride_w, p->pad_h, p->pad_w,
                         input_shape, filter_shape, output_shape);
  if (status != UNIT_OK) return status;
  if (!unit_input_offset_valid(p->input_offset) || p->act_min > p->act_max)
    return UNIT_ERR_ARG;
  if (((uintptr_t)scratch % offsetof(struct unit_tc_int32_align, v)) != 0u)
    return UNIT_ERR_SCRATCH;
  if (scratch_bytes < unit_transpose_conv_scratch_bytes(output_shape))
    return UNIT_ERR_SCRATCH;
  per_image = (size_t)output_shape->h * (size_t)output_shape->w *
              (size_t)output_shape->c;
  filter_oc_step = (size_t)filter_shape->h * (size_t)filter_shape->w *
                   (size_t)filter_shape->c;
  in_pixel = (size_t)input_shape->c;
  out_row = (size_t)output_shape->w * (size_t)output_shape->c;
  /* one image at a time (images are independent: the same sums as TFLM's
   * whole-batch scratch); int32 sums do not depend on their order */
  for (b = 0; b < input_shape->n; ++b) {
    const int8_t *x_image = input + (size_t)b * (size_t)input_shape->h *
                                        (size_t)input_shape->w * in_pixel;
    int8_t *y_image = output + (size_t)b * per_image;
    for (k = 0; k < per_image; ++k) acc[k] = 0;
    for (iy = 0; iy < input_shape->h; ++iy) {
      int32_t fy_lo, fy_hi;
      unit_tc_taps(iy, p->stride_h, p->pad_h, filter_shape->h, output_shape->h,
                   &fy_lo, &fy_hi);
      for (ix = 0; ix < input_shape->w; ++ix) {
        int32_t fx_lo, fx_hi;
        const int8_t *x_pixel = x_image + ((size_t)iy * (size_t)input_shape->w +
                                           (size_t)ix) * in_pixel;
        unit_tc_taps(ix, p->stride_w, p->pad_w, filter_shape->w,
                     output_shape->w, &fx_lo, &fx_hi);
        taps += (uint64_t)(fy_hi - fy_lo) * (uint64_t)(fx_hi - fx_lo);
        for (fy = fy_lo; fy < fy_hi; ++fy) {
          const int32_t oy = iy * p->stride_h - p->pad_h + fy;
          for (fx = fx_lo; fx < fx_hi; ++fx) {
            const int32_t ox = ix * p->stride_w - p->pad_w + fx;
            int32_t *a = acc + (size_t)oy * out_row +
                         (size_t)ox * (size_t)output_shape->c;
            const int8_t *w_tap = filter + ((size_t)fy * (size_t)filter_shape->w +
                                            (size_t)fx) * (size_t)filter_shape->c;
            for (ic = 0; ic < input_shape->c; ++ic) {
              const int16_t xv = (int16_t)(x_pixel[ic] + p->input_offset);
              const int8_t *w = w_tap + ic;
              if (xv == 0) continue; /* adds nothing */
              for (oc = 0; oc < output_shape->c; ++oc, w += filter_oc_step)
                a[oc] += (int16_t)(xv * *w); /* |x'| <= 255, |w| <= 128 */
            }
          }
        }
      }
    }
    for (k = 0; k < per_image; ++k) {
      const size_t c = k % (size_t)output_shape->c;
      int32_t v = acc[k];
      if (bias) v += bias[c];
      y_image[k] = unit_requantize(v, requant->multiplier[c], requant->shift[c],
                                   p->output_offset, p->act_min, p->act_max);
    }
  }
#if UNIT_COUNTERS
  unit_tc_count(stats, input_shape, filter_shape, taps);
#else
  (void)stats;
  (void)taps;
#endif
  return UNIT_OK;
}

unit_status_t unit_transpose_conv_float(
    const unit_transpose_conv_float_params_t *params,
    const unit_shape_t *input_shape, const float *input,
    const unit_shape_t *filter_shape, const float *filter, const float *bias,
    const unit_shape_t *output_shape, float *output, unit_stats_t *stats) {
  const unit_transpose_conv_float_params_t *p = params;
  size_t per_image, filter_oc_step, in_pixel, out_row, k;
  int32_t b, iy, ix, fy, fx, ic, oc;
  uint64_t taps = 0;
  unit_status_t status;
  if (!p || !input || !filter || !output) return UNIT_ERR_ARG;
  status = unit_tc_check(p->stride_h, p->stride_w, p->pad_h, p->pad_w,
                         input_shape, filter_shape, output_shape);
  if (status != UNIT_OK) return status;
  if (!(p->act_min <= p->act_max)) return UNIT_ERR_ARG;
  per_image = (size_t)output_shape->h * (size_t)output_shape->w *
              (size_t)output_shape->c;
  filter_oc_step = (size_t)filter_shape->h * (size_t)filter_shape->w *
                   (size_t)filter_shape->c;
  in_pixel = (size_t)input_shape->c;
  out_row = (size_t)output_shape->w * (size_t)output_shape->c;
  for (b = 0; b < input_shape->n; ++b) {
    const float *x_image = input + (size_t)b * (size_t)input_shape->h *
                                       (size_t)input_shape->w * in_pixel;
    float *y_image = output + (size_t)b * per_image;
    for (k = 0; k < per_image; ++k) y_image[k] = 0.0f;
    /* TFLM's loop order (input y, x, channel, then filter y, x, output
     * channel): each output sums its products in that order, which float
     * rounding depends on */
    for (iy = 0; iy < input_shape->h; ++iy) {
      int32_t fy_lo, fy_hi;
      unit_tc_taps(iy, p->stride_h, p->pad_h, filter_shape->h, output_shape->h,
                   &fy_lo, &fy_hi);
      for (ix = 0; ix < input_shape->w; ++ix) {
        int32_t fx_lo, fx_hi;
        const float *x_pixel = x_image + ((size_t)iy * (size_t)input_shape->w +
                                          (size_t)ix) * in_pixel;
        unit_tc_taps(ix, p->stride_w, p->pad_w, filter_shape->w,
                     output_shape->w, &fx_lo, &fx_hi);
        taps += (uint64_t)(fy_hi - fy_lo) * (uint64_t)(fx_hi - fx_lo);
        for (ic = 0; ic < input_shape->c; ++ic) {
          const float xv = x_pixel[ic];
          for (fy = fy_lo; fy < fy_hi; ++fy) {
            const int32_t oy = iy * p->stride_h - p->pad_h + fy;
            for (fx = fx_lo; fx < fx_hi; ++fx) {
              const int32_t ox = ix * p->stride_w - p->pad_w + fx;
              float *y = y_image + (size_t)oy * out_row +
                         (size_t)ox * (size_t)output_shape->c;
              const float *w = filter + ((size_t)fy * (size_t)filter_shape->w +
                                         (size_t)fx) * (size_t)filter_shape->c + ic;
              for (oc = 0; oc < output_shape->c; ++oc, w += filter_oc_step)
                y[oc] += xv * *w;
            }
          }
        }
      }
    }
    for (k = 0; k < per_image; ++k) {
      float v = y_image[k];
      if (bias) v += bias[k % (size_t)output_shape->c];
      /* ActivationFunctionWithMinMax: min(max(v, lo), hi) */
      v = v < p->act_min ? p->act_min : v;
      v = v > p->act_max ? p->act_max : v;
      y_image[k] = v;
    }
  }
#if UNIT_COUNTERS
  unit_tc_count(stats, input_shape, filter_shape, taps);
#else
  (void)stats;
  (void)taps;
#endif
  return UNIT_OK;
}
