/* int8 CONV_2D: TFLM's reference arithmetic, plus UnIT skipping.
 *
 * Dense path (no thresholds): the builtin kernel's loop order.
 * UnIT path: output-channel-outer.  For each output channel the threshold is
 * divided once by every |w| of its kernel into a scratch of quotients tau[k];
 * at every output position a tap is then skipped with one compare,
 * |x'| <= tau[k], before any multiply (zero weights get tau = INT16_MAX, and
 * x' = 0 always satisfies the compare, so zeros are skipped outright).
 *
 * |x'| <= 255 and |w| <= 128, so every product fits int16: multiplies stay
 * 16x16 on 16-bit cores; only the accumulator is 32 bits.
 */
#include "unit_internal.h"

/* Shape checks shared by the dense and UnIT paths. */
static unit_status_t check_conv(const unit_conv_params_t *params,
                                const unit_requant_t *requant,
                                const unit_shape_t *input_shape,
                                const int8_t *input,
                                const unit_shape_t *filter_shape,
                                const int8_t *filter,
                                const unit_shape_t *output_shape,
                                const int8_t *output) {
  if (!params || !requant || !requant->multiplier || !requant->shift ||
      !input_shape || !input || !filter_shape || !filter || !output_shape ||
      !output)
    return UNIT_ERR_ARG;
  if (input_shape->n <= 0 || input_shape->h <= 0 || input_shape->w <= 0 ||
      input_shape->c <= 0 || filter_shape->n <= 0 || filter_shape->h <= 0 ||
      filter_shape->w <= 0 || output_shape->h <= 0 || output_shape->w <= 0 ||
      params->stride_h <= 0 || params->stride_w <= 0 ||
      params->dilation_h <= 0 || params->dilation_w <= 0 ||
      !unit_input_offset_valid(params->input_offset))
    return UNIT_ERR_ARG;
  if (filter_shape->c != input_shape->c ||
      output_shape->c != filter_shape->n || output_shape->n != input_shape->n)
    return UNIT_ERR_SHAPE;
  return UNIT_OK;
}

size_t unit_conv_scratch_bytes(const unit_shape_t *filter,
                               const unit_skip_t *skip) {
  if (!filter || !skip || !skip->thresholds) return 0;
  return (size_t)filter->h * (size_t)filter->w * (size_t)filter->c *
         sizeof(int16_t);
}

static void conv_dense(const unit_conv_params_t *p, const unit_requant_t *rq,
                       const unit_shape_t *is, const int8_t *input,
                       const unit_shape_t *fs, const int8_t *filter,
                       const int32_t *bias, const unit_shape_t *os,
                       int8_t *output, unit_stats_t *stats) {
  int32_t b, oy, ox, oc, ky, kx;
  const int32_t in_c = is->c;
  const int16_t input_offset = (int16_t)p->input_offset; /* -zp: [-127, 128] */
  for (b = 0; b < os->n; ++b) {
    for (oy = 0; oy < os->h; ++oy) {
      const int32_t in_y0 = oy * p->stride_h - p->pad_h;
      for (ox = 0; ox < os->w; ++ox) {
        const int32_t in_x0 = ox * p->stride_w - p->pad_w;
        for (oc = 0; oc < os->c; ++oc) {
          int32_t acc = 0;
          uint64_t executed = 0;
          const int8_t *filter_oc = filter + (size_t)oc * fs->h * fs->w * in_c;
          for (ky = 0; ky < fs->h; ++ky) {
            const int32_t in_y = in_y0 + ky * p->dilation_h;
            if (in_y < 0 || in_y >= is->h) continue;
            for (kx = 0; kx < fs->w; ++kx) {
              const int32_t in_x = in_x0 + kx * p->dilation_w;
              if (in_x < 0 || in_x >= is->w) continue;
              acc += unit_dot_int8(
                  input + (((size_t)b * is->h + in_y) * is->w + in_x) * in_c,
                  filter_oc + ((size_t)ky * fs->w + kx) * in_c, (size_t)in_c,
                  input_offset);
              UNIT_COUNT_ADD(executed, in_c);
            }
          }
          if (bias) acc += bias[oc];
          output[(((size_t)b * os->h + oy) * os->w + ox) * os->c + oc] =
              unit_requantize(acc, rq->multiplier[oc], rq->shift[oc],
                              p->output_offset, p->act_min, p->act_max);
#if UNIT_COUNTERS
          if (stats) {
            stats->macs_executed += executed;
            if (stats->channel_executed) stats->channel_executed[oc] += executed;
          }
#else
          (void)executed;
          (void)stats;
#endif
        }
      }
    }
  }
}

static void conv_unit(const unit_conv_params_t *p, const unit_requant_t *rq,
                      const unit_shape_t *is, const int8_t *input,
                      const unit_shape_t *fs, const int8_t *filter,
                      const int32_t *bias, const unit_shape_t *os,
                      int8_t *output, const unit_skip_t *skip, int16_t *tau,
                      unit_stats_t *stats) {
  int32_t b, oy, ox, oc, ky, kx;
  const int32_t in_c = is->c;
  const int16_t input_offset = (int16_t)p->input_offset; /* -zp: [-127, 128] */
  const size_t taps = (size_t)fs->h * fs->w * in_c;
  const unit_division_t mode = skip->division;
  for (oc = 0; oc < os->c; ++oc) {
    const int8_t *filter_oc = filter + (size_t)oc * taps;
    uint64_t executed = 0;
    unit_divisor_group_t group;
    unit_divisor_group_init(&group, skip->thresholds[oc / skip->group_size],
                            mode);
    /* One division per weight, reused at every output position. */
    unit_weight_quotients(&group, mode, filter_oc, taps, 1, tau);
    for (b = 0; b < os->n; ++b) {
      for (oy = 0; oy < os->h; ++oy) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_h;
        for (ox = 0; ox < os->w; ++ox) {
          const int32_t in_x0 = ox * p->stride_w - p->pad_w;
          int32_t acc = 0;
          for (ky = 0; ky < fs->h; ++ky) {
            const int32_t in_y = in_y0 + ky * p->dilation_h;
            if (in_y < 0 || in_y >= is->h) continue;
            for (kx = 0; kx < fs->w; ++kx) {
              const int32_t in_x = in_x0 + kx * p->dilation_w;
              const size_t tap0 = ((size_t)ky * fs->w + kx) * in_c;
              if (in_x < 0 || in_x >= is->w) continue;
              acc += unit_skip_dot_int8(
                  input + (((size_t)b * is->h + in_y) * is->w + in_x) * in_c,
                  filter_oc + tap0, tau + tap0, (size_t)in_c, input_offset,
                  &executed);
            }
          }
          if (bias) acc += bias[oc];
          output[(((size_t)b * os->h + oy) * os->w + ox) * os->c + oc] =
              unit_requantize(acc, rq->multiplier[oc], rq->shift[oc],
                              p->output_offset, p->act_min, p->act_max);
        }
      }
    }
#if UNIT_COUNTERS
    if (stats) {
      stats->macs_executed += executed;
      if (stats->channel_executed) stats->channel_executed[oc] += executed;
    }
#else
    (void)executed;
    (void)stats;
#endif
  }
}

unit_status_t unit_conv_2d_int8(const unit_conv_params_t *params,
                                const unit_requant_t *requant,
                                const unit_shape_t *input_shape,
                                const int8_t *input,
                                const unit_shape_t *filter_shape,
                                const int8_t *filter, const int32_t *bias,
                                const unit_shape_t *output_shape,
                                int8_t *output, const unit_skip_t *skip,
                                void *scratch, size_t scratch_bytes,
                                unit_stats_t *stats) {
  unit_status_t status = check_conv(params, requant, input_shape, input,
                                    filter_shape, filter, output_shape, output);
  if (status != UNIT_OK) return status;
  status = unit_check_skip(skip, output_shape->c);
  if (status != UNIT_OK) return status;
#if UNIT_COUNTERS
  if (stats)
    stats->macs_total += (uint64_t)output_shape->n * output_shape->h *
                         output_shape->w * output_shape->c * filter_shape->h *
                         filter_shape->w * filter_shape->c;
#endif
  if (skip && skip->thresholds) {
    if (!scratch ||
        scratch_bytes < unit_conv_scratch_bytes(filter_shape, skip))
      return UNIT_ERR_SCRATCH;
    conv_unit(params, requant, input_shape, input, filter_shape, filter, bias,
              output_shape, output, skip, (int16_t *)scratch, stats);
  } else {
    conv_dense(params, requant, input_shape, input, filter_shape, filter,
               bias, output_shape, output, stats);
  }
  return UNIT_OK;
}
