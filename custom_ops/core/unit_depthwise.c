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

/* Every output of output channel `oc`, which reads input channel `ic`.
 * tau holds the channel's kh*kw quotients, or is NULL for the dense
 * kernel.  Offsets move by additions only; returns the MACs executed. */
static uint64_t depthwise_channel(const unit_conv_geometry_t *g,
                                  const unit_conv_params_t *p,
                                  const int8_t *input, const int8_t *filter,
                                  ptrdiff_t ic, ptrdiff_t oc,
                                  const int16_t *tau, int32_t bias,
                                  int32_t multiplier, int32_t shift,
                                  int8_t *out) {
  const int16_t input_offset = (int16_t)p->input_offset; /* -zp: [-127, 128] */
  const ptrdiff_t y_step = g->dilation_h * g->in_row;
  const ptrdiff_t x_step = g->dilation_w * g->in_c;
  uint64_t executed = 0;
  ptrdiff_t b, oy, ox, ky, kx;
  input += ic;
  for (b = 0; b < g->batches; ++b, input += g->in_image) {
    ptrdiff_t in_y0 = -g->pad_h;
    for (oy = 0; oy < g->out_h; ++oy, in_y0 += g->stride_h) {
      ptrdiff_t in_x0 = -g->pad_w;
      for (ox = 0; ox < g->out_w; ++ox, in_x0 += g->stride_w, out += g->out_c) {
        int32_t acc = bias;
        ptrdiff_t in_y = in_y0;
        ptrdiff_t y_offset = in_y0 * g->in_row; /* may be negative: not read */
        ptrdiff_t tap = 0;                      /* ky * k_w + kx */
        for (ky = 0; ky < g->k_h; ++ky, in_y += g->dilation_h, y_offset += y_step) {
          ptrdiff_t in_x = in_x0;
          ptrdiff_t offset = y_offset + in_x0 * g->in_c;
          if (in_y < 0 || in_y >= g->in_h) {
            tap += g->k_w;
            continue;
          }
          for (kx = 0; kx < g->k_w; ++kx, ++tap, in_x += g->dilation_w, offset += x_step) {
            int16_t xv;
            if (in_x < 0 || in_x >= g->in_w) continue;
            xv = (int16_t)(input[offset] + input_offset);
            if (tau && unit_tap_skipped(xv, tau[tap])) continue; /* skip */
            acc += (int16_t)(xv * filter[tap * g->out_c + oc]);
            UNIT_COUNT_ADD(executed, 1);
          }
        }
        *out = unit_requantize(acc, multiplier, shift, p->output_offset,
                               p->act_min, p->act_max);
      }
    }
  }
  return executed;
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
  unit_conv_geometry_t g;
  ptrdiff_t oc;
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
  unit_conv_geometry(p, input_shape, filter_shape, os, &g);
  /* Output-channel-outer: integer sums do not depend on the order, and the
   * UnIT path divides once per weight of the channel. */
  for (oc = 0; oc < g.out_c; ++oc) {
    uint64_t executed;
    if (tau) {
      unit_divisor_group_t group;
      unit_divisor_group_init(&group, skip->thresholds[oc / skip->group_size],
                              skip->division);
      unit_weight_quotients(&group, skip->division, filter + oc,
                            (size_t)(g.k_h * g.k_w), (size_t)g.out_c, tau);
    }
    executed = depthwise_channel(&g, p, input, filter, oc / p->depth_multiplier,
                                 oc, tau, bias ? bias[oc] : 0,
                                 requant->multiplier[oc], requant->shift[oc],
                                 output + oc);
#if UNIT_COUNTERS
    if (stats) {
      stats->macs_executed += executed;
      if (stats->channel_executed) stats->channel_executed[oc] += executed;
    }
#endif
    (void)executed;
  }
  (void)stats;
  return UNIT_OK;
}
