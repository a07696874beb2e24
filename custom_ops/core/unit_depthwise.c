/* int8 DEPTHWISE_CONV_2D: TFLM's reference arithmetic, plus UnIT skipping.
 *
 * Output channel oc = ic * depth_multiplier + m reads input channel ic.
 * Output-channel-outer and weight-stationary like conv (unit_conv.c): the
 * kh*kw quotients tau[k] = T_q / |w| of one output channel are computed once
 * into scratch and reused at every output position.
 */
#include "unit_internal.h"

/* Scratch for `rows` output rows (0 if the shapes or skip are invalid). */
static size_t depthwise_scratch(const unit_shape_t *filter,
                                const unit_shape_t *output,
                                const unit_skip_t *skip, int whole_image) {
  if (!filter || !output || unit_shape_count(filter, UNIT_INDEX_MAX) < 0 ||
      unit_shape_count(output, UNIT_INDEX_MAX) < 0 ||
      unit_check_skip(skip, output->c) != UNIT_OK)
    return 0;
  return unit_conv_block_scratch_bytes(
      (size_t)filter->h * (size_t)filter->w, skip, output,
      whole_image ? (size_t)output->h : 1u);
}

size_t unit_depthwise_scratch_bytes(const unit_shape_t *filter,
                                    const unit_shape_t *output,
                                    const unit_skip_t *skip) {
  return depthwise_scratch(filter, output, skip, 1);
}

size_t unit_depthwise_min_scratch_bytes(const unit_shape_t *filter,
                                        const unit_shape_t *output,
                                        const unit_skip_t *skip) {
  return depthwise_scratch(filter, output, skip, 0);
}

/* Arguments and shapes (filter [1, kh, kw, Ci * depth_multiplier]). */
static unit_status_t check_depthwise(const unit_conv_params_t *params,
                                     const unit_requant_t *requant,
                                     const unit_shape_t *is,
                                     const int8_t *input,
                                     const unit_shape_t *fs,
                                     const int8_t *filter,
                                     const unit_shape_t *os,
                                     const int8_t *output) {
  const unit_status_t status =
      unit_check_conv_args(params, requant, is, input, fs, filter, os, output);
  if (status != UNIT_OK) return status;
  if (params->depth_multiplier <= 0) return UNIT_ERR_ARG;
  if (fs->n != 1 ||
      unit_mul_limit(is->c, params->depth_multiplier, UNIT_INDEX_MAX) != fs->c ||
      os->c != fs->c || os->n != is->n)
    return UNIT_ERR_SHAPE;
  return unit_check_requant(requant, os->c);
}

/* Every output of output channel `oc`, which reads input channel `ic`:
 * accumulators start at the bias, each of the kh*kw weights is applied to
 * all positions at once, then all positions are requantised.  tau holds the
 * channel's quotients, or is NULL for the dense kernel.  Returns the MACs
 * executed. */
static uint64_t depthwise_channel(const unit_conv_geometry_t *g,
                                  const unit_tap_plan_t *plan,
                                  const unit_conv_params_t *p,
                                  const int8_t *input, const int8_t *filter,
                                  ptrdiff_t ic, ptrdiff_t oc,
                                  const int16_t *tau, int32_t bias,
                                  int32_t multiplier, int32_t shift,
                                  int32_t *acc, ptrdiff_t block_rows,
                                  int8_t *out) {
  const int16_t input_offset = (int16_t)p->input_offset; /* -zp: [-127, 128] */
  uint64_t executed = 0;
  ptrdiff_t b, row0, pos, ky, kx;
  for (b = 0; b < g->batches; ++b, input += g->in_image) {
    for (row0 = 0; row0 < g->out_h; row0 += block_rows) {
      const ptrdiff_t row_end =
          row0 + block_rows < g->out_h ? row0 + block_rows : g->out_h;
      const ptrdiff_t positions = (row_end - row0) * g->out_w;
      const int8_t *w = filter + oc; /* filter [1, kh, kw, out_c] */
      ptrdiff_t tap = 0;
      unit_tap_rect_t rect;
      for (pos = 0; pos < positions; ++pos) acc[pos] = bias;
      for (ky = 0; ky < g->k_h; ++ky) {
        unit_tap_rows(g, ky, row0, row_end, &rect);
        for (kx = 0; kx < g->k_w; ++kx, ++tap, w += g->out_c) {
          if (tau && UNIT_TAU_SKIPS_ALL(tau[tap])) continue; /* never multiplies */
          unit_tap_planned_columns(g, plan, kx, &rect);
          if (unit_tap_rect_empty(&rect)) continue; /* reads only padding */
          executed += unit_accumulate_tap(
              g, &rect, input + rect.y_offset + rect.x_offset + ic, w,
              tau ? tau + tap : NULL, 1, input_offset, acc);
        }
      }
      unit_requantize_run(acc, positions, out, g->out_c, multiplier, shift, p);
      out += positions * g->out_c;
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
  const int skipping = skip && skip->thresholds;
  size_t quotient_bytes, need;
  int16_t *tau = skipping ? (int16_t *)scratch : NULL;
  int32_t *acc;
  ptrdiff_t block_rows;
  unit_conv_geometry_t g;
  unit_tap_plan_t plan;
  ptrdiff_t oc;
  unit_status_t status =
      check_depthwise(params, requant, input_shape, input, filter_shape,
                      filter, output_shape, output);
  if (status != UNIT_OK) return status;
  status = unit_check_skip(skip, os->c);
  if (status != UNIT_OK) return status;
  need = unit_depthwise_min_scratch_bytes(filter_shape, output_shape, skip);
  if (need == 0u) return UNIT_ERR_OVERFLOW; /* shapes and skip are valid */
  if (!scratch || scratch_bytes < need) return UNIT_ERR_SCRATCH;
  quotient_bytes =
      unit_quotient_bytes((size_t)filter_shape->h * filter_shape->w, skipping);
  acc = (int32_t *)((uint8_t *)scratch + quotient_bytes);
  {
    const size_t rows_fit =
        (scratch_bytes - quotient_bytes) / ((size_t)os->w * sizeof(int32_t));
    block_rows =
        rows_fit > (size_t)os->h ? (ptrdiff_t)os->h : (ptrdiff_t)rows_fit;
  }
#if UNIT_COUNTERS
  if (stats)
    stats->macs_total += (uint64_t)os->n * os->h * os->w * os->c *
                         filter_shape->h * filter_shape->w;
#endif
  unit_conv_geometry(p, input_shape, filter_shape, os, &g);
  unit_tap_plan(&g, &plan);
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
    executed = depthwise_channel(&g, &plan, p, input, filter, oc / p->depth_multiplier,
                                 oc, tau, bias ? bias[oc] : 0,
                                 requant->multiplier[oc], requant->shift[oc],
                                 acc, block_rows, output + oc);
    unit_stats_add_channel(stats, oc, executed);
  }
  (void)stats;
  return UNIT_OK;
}
