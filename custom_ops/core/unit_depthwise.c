/* int8 DEPTHWISE_CONV_2D: TFLM's reference arithmetic, plus UnIT skipping.
 *
 * Output channel oc = ic * depth_multiplier + m reads input channel ic.
 * The UnIT path is output-channel-outer like conv: the kh*kw quotients
 * tau[k] = T_q / |w| of one output channel are computed once into scratch and
 * reused at every output position.
 */
#include "unit_internal.h"

size_t unit_depthwise_scratch_bytes(const unit_shape_t *filter,
                                    const unit_skip_t *skip) {
  if (!filter || !skip || !skip->thresholds) return 0;
  return (size_t)filter->h * (size_t)filter->w * sizeof(int16_t);
}

static unit_status_t check_depthwise(const unit_conv_params_t *params,
                                     const unit_requant_t *requant,
                                     const unit_shape_t *is,
                                     const int8_t *input,
                                     const unit_shape_t *fs,
                                     const int8_t *filter,
                                     const unit_shape_t *os,
                                     const int8_t *output) {
  if (!params || !requant || !requant->multiplier || !requant->shift || !is ||
      !input || !fs || !filter || !os || !output)
    return UNIT_ERR_ARG;
  if (is->n <= 0 || is->h <= 0 || is->w <= 0 || is->c <= 0 || fs->h <= 0 ||
      fs->w <= 0 || os->h <= 0 || os->w <= 0 || params->stride_h <= 0 ||
      params->stride_w <= 0 || params->dilation_h <= 0 ||
      params->dilation_w <= 0 || params->depth_multiplier <= 0 ||
      !unit_input_offset_valid(params->input_offset))
    return UNIT_ERR_ARG;
  if (fs->n != 1 || fs->c != is->c * params->depth_multiplier ||
      os->c != fs->c || os->n != is->n)
    return UNIT_ERR_SHAPE;
  return UNIT_OK;
}

/* Accumulates one output value; tau == NULL means dense (no skipping). */
static int32_t depthwise_accumulate(const unit_conv_params_t *p,
                                    const unit_shape_t *is,
                                    const int8_t *input,
                                    const unit_shape_t *fs,
                                    const int8_t *filter, int32_t b,
                                    int32_t oy, int32_t ox, int32_t ic,
                                    int32_t oc, const int16_t *tau,
                                    uint64_t *executed) {
  int32_t ky, kx;
  int32_t acc = 0;
  const int32_t in_y0 = oy * p->stride_h - p->pad_h;
  const int32_t in_x0 = ox * p->stride_w - p->pad_w;
  const int16_t input_offset = (int16_t)p->input_offset; /* [-127, 128] */
  for (ky = 0; ky < fs->h; ++ky) {
    const int32_t in_y = in_y0 + ky * p->dilation_h;
    if (in_y < 0 || in_y >= is->h) continue;
    for (kx = 0; kx < fs->w; ++kx) {
      const int32_t in_x = in_x0 + kx * p->dilation_w;
      int16_t xv;
      if (in_x < 0 || in_x >= is->w) continue;
      xv = (int16_t)(input[(((size_t)b * is->h + in_y) * is->w + in_x) * is->c +
                           ic] +
                     input_offset);
      if (tau && unit_abs16(xv) <= tau[ky * fs->w + kx]) continue; /* skip */
      acc += (int16_t)(xv * filter[((size_t)ky * fs->w + kx) * fs->c + oc]);
      UNIT_COUNT_ADD(*executed, 1);
    }
  }
  (void)executed; /* unused when the counters are compiled out */
  return acc;
}

unit_status_t unit_depthwise_conv_2d_int8(
    const unit_conv_params_t *params, const unit_requant_t *requant,
    const unit_shape_t *input_shape, const int8_t *input,
    const unit_shape_t *filter_shape, const int8_t *filter,
    const int32_t *bias, const unit_shape_t *output_shape, int8_t *output,
    const unit_skip_t *skip, void *scratch, size_t scratch_bytes,
    unit_stats_t *stats) {
  const unit_conv_params_t *p = params;
  const unit_shape_t *os = output_shape;
  int16_t *tau = 0;
  int32_t oc, b, oy, ox;
  unit_status_t status =
      check_depthwise(params, requant, input_shape, input, filter_shape,
                      filter, output_shape, output);
  if (status != UNIT_OK) return status;
  status = unit_check_skip(skip, os->c);
  if (status != UNIT_OK) return status;
  if (skip && skip->thresholds) {
    if (!scratch ||
        scratch_bytes < unit_depthwise_scratch_bytes(filter_shape, skip))
      return UNIT_ERR_SCRATCH;
    tau = (int16_t *)scratch;
  }
#if UNIT_COUNTERS
  if (stats)
    stats->macs_total += (uint64_t)os->n * os->h * os->w * os->c *
                         filter_shape->h * filter_shape->w;
#endif
  /* Output-channel-outer in both paths: integer sums do not depend on the
   * order, and the UnIT path needs it for its per-channel quotients. */
  for (oc = 0; oc < os->c; ++oc) {
    const int32_t ic = oc / p->depth_multiplier;
    uint64_t executed = 0;
    if (tau) {
      unit_divisor_group_t group;
      const unit_division_t mode = skip->division;
      unit_divisor_group_init(&group, skip->thresholds[oc / skip->group_size],
                              mode);
      unit_weight_quotients(&group, mode, filter + oc,
                            (size_t)filter_shape->h * filter_shape->w,
                            (size_t)filter_shape->c, tau);
    }
    for (b = 0; b < os->n; ++b) {
      for (oy = 0; oy < os->h; ++oy) {
        for (ox = 0; ox < os->w; ++ox) {
          int32_t acc = depthwise_accumulate(p, input_shape, input,
                                             filter_shape, filter, b, oy, ox,
                                             ic, oc, tau, &executed);
          if (bias) acc += bias[oc];
          output[(((size_t)b * os->h + oy) * os->w + ox) * os->c + oc] =
              unit_requantize(acc, requant->multiplier[oc],
                              requant->shift[oc], p->output_offset,
                              p->act_min, p->act_max);
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
#endif
  }
  (void)stats;
  return UNIT_OK;
}
