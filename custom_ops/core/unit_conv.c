/* int8 CONV_2D: TFLM's reference arithmetic, plus UnIT skipping.
 *
 * Both paths run output-channel-outer (integer sums do not depend on the
 * order) into int32 accumulators in scratch (a block of output rows at a
 * time when scratch is smaller than a whole image).  Dense path:
 * output-stationary, each position's window summed in one accumulator
 * (unit_conv_dense_block; on the MSP430 the multiplier's own MAC
 * registers).  UnIT path: weight-stationary, each weight applied to every
 * output position of its channel at once; the
 * channel's threshold is divided once by every |w| into quotients tau[k]; a
 * tap is then skipped with one compare, |x'| <= tau[k], before any multiply,
 * and a weight whose tau covers every |x'| (zero weights: tau = INT16_MAX) is
 * skipped at all positions without visiting them.
 *
 * |x'| <= 255 and |w| <= 128, so every product fits int16: multiplies stay
 * 16x16 on 16-bit cores; only the accumulator is 32 bits.
 */
#include "unit_internal.h"

/* Arguments and shapes (filter [Co, kh, kw, Ci]). */
static unit_status_t check_conv(const unit_conv_params_t *params,
                                const unit_requant_t *requant,
                                const unit_shape_t *input_shape,
                                const int8_t *input,
                                const unit_shape_t *filter_shape,
                                const int8_t *filter,
                                const unit_shape_t *output_shape,
                                const int8_t *output) {
  const unit_status_t status =
      unit_check_conv_args(params, requant, input_shape, input, filter_shape,
                           filter, output_shape, output);
  if (status != UNIT_OK) return status;
  if (filter_shape->c != input_shape->c ||
      output_shape->c != filter_shape->n || output_shape->n != input_shape->n)
    return UNIT_ERR_SHAPE;
  return unit_check_requant(requant, output_shape->c);
}

/* Scratch for `rows` output rows (0 if the shapes or skip are invalid). */
static size_t conv_scratch(const unit_shape_t *filter,
                           const unit_shape_t *output, const unit_skip_t *skip,
                           int whole_image) {
  int32_t taps;
  if (!filter || !output || unit_shape_count(filter, UNIT_INDEX_MAX) < 0 ||
      unit_shape_count(output, UNIT_INDEX_MAX) < 0 ||
      unit_check_skip(skip, output->c) != UNIT_OK)
    return 0;
  taps = filter->h * filter->w * filter->c; /* <= the filter's count */
  return unit_conv_block_scratch_bytes(
      (size_t)taps, skip, output, whole_image ? (size_t)output->h : 1u);
}

size_t unit_conv_scratch_bytes(const unit_shape_t *filter,
                               const unit_shape_t *output,
                               const unit_skip_t *skip) {
  return conv_scratch(filter, output, skip, 1);
}

size_t unit_conv_min_scratch_bytes(const unit_shape_t *filter,
                                   const unit_shape_t *output,
                                   const unit_skip_t *skip) {
  return conv_scratch(filter, output, skip, 0);
}

/* Every output of output channel `oc`, a block of `block_rows` output rows
 * at a time: the block's accumulators start at the bias, each weight is
 * applied to all positions of the block at once (unit_accumulate_tap), then
 * the block is requantised.  tau holds the channel's quotients, or is NULL
 * for the dense (builtin) kernel.  Returns the multiplications executed. */
static uint64_t conv_channel(const unit_conv_geometry_t *g,
                             const unit_tap_plan_t *plan,
                             const unit_conv_params_t *p, const int8_t *input,
                             const int8_t *filter_oc, const int16_t *tau,
                             int32_t bias, int32_t multiplier, int32_t shift,
                             int32_t *acc, ptrdiff_t block_rows, int8_t *out) {
  const int16_t input_offset = (int16_t)p->input_offset; /* -zp: [-127, 128] */
  uint64_t executed = 0;
  ptrdiff_t b, row0, pos, ky, kx;
  for (b = 0; b < g->batches; ++b, input += g->in_image) {
    for (row0 = 0; row0 < g->out_h; row0 += block_rows) {
      const ptrdiff_t row_end =
          row0 + block_rows < g->out_h ? row0 + block_rows : g->out_h;
      const ptrdiff_t positions = (row_end - row0) * g->out_w;
      const int8_t *w = filter_oc;
      const int16_t *t = tau;
      unit_tap_rect_t rect;
      if (!tau) { /* dense: output-stationary (unit_conv_dense_block) */
        executed += unit_conv_dense_block(g, input, filter_oc, bias,
                                          input_offset, acc, row0, row_end);
        unit_requantize_run(acc, positions, out, g->out_c, multiplier, shift, p);
        out += positions * g->out_c;
        continue;
      }
      for (pos = 0; pos < positions; ++pos) acc[pos] = bias;
      for (ky = 0; ky < g->k_h; ++ky) {
        unit_tap_rows(g, ky, row0, row_end, &rect);
        ptrdiff_t columns, channels;
        for (kx = 0; kx < g->k_w; kx += columns, w += channels, t += channels) {
          /* planned kernel columns reaching the same output columns are
           * walked at once, as one run of input channels */
          columns = kx < plan->planned ? plan->col[kx].merged : 1;
          channels = kx < plan->planned ? plan->col[kx].channels : g->in_c;
          unit_tap_planned_columns(g, plan, kx, &rect);
          if (unit_tap_rect_empty(&rect)) continue; /* reads only padding */
          executed += unit_accumulate_tap(g, &rect,
                                          input + rect.y_offset + rect.x_offset,
                                          w, t, channels, input_offset, acc);
        }
      }
      unit_requantize_run(acc, positions, out, g->out_c, multiplier, shift, p);
      out += positions * g->out_c;
    }
  }
  return executed;
}

static void conv_int8(const unit_conv_params_t *p, const unit_requant_t *rq,
                      const unit_shape_t *is, const int8_t *input,
                      const unit_shape_t *fs, const int8_t *filter,
                      const int32_t *bias, const unit_shape_t *os,
                      int8_t *output, const unit_skip_t *skip, void *scratch,
                      size_t scratch_bytes, unit_stats_t *stats) {
  unit_conv_geometry_t g;
  ptrdiff_t oc;
  const size_t taps = (size_t)fs->h * fs->w * fs->c;
  const int skipping = skip && skip->thresholds;
  const size_t quotient_bytes = unit_quotient_bytes(taps, skipping);
  int16_t *tau = skipping ? (int16_t *)scratch : NULL;
  int32_t *acc = (int32_t *)((uint8_t *)scratch + quotient_bytes);
  size_t rows_fit =
      (scratch_bytes - quotient_bytes) / ((size_t)os->w * sizeof(int32_t));
  const ptrdiff_t block_rows =
      rows_fit > (size_t)os->h ? (ptrdiff_t)os->h : (ptrdiff_t)rows_fit;
  unit_tap_plan_t plan;
  unit_conv_geometry(p, is, fs, os, &g);
  unit_tap_plan(&g, &plan); /* the UnIT path's rectangles */
  for (oc = 0; oc < g.out_c; ++oc) {
    const int8_t *filter_oc = filter + (size_t)oc * taps;
    uint64_t executed;
    if (tau) {
      unit_divisor_group_t group;
      unit_divisor_group_init(&group, skip->thresholds[oc / skip->group_size],
                              skip->division);
      unit_weight_quotients(&group, skip->division, filter_oc, taps, 1, tau);
    }
    executed = conv_channel(&g, &plan, p, input, filter_oc, tau, bias ? bias[oc] : 0,
                            rq->multiplier[oc], rq->shift[oc], acc, block_rows,
                            output + oc);
    unit_stats_add_channel(stats, oc, executed);
  }
  (void)stats;
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
  {
    const size_t need =
        unit_conv_min_scratch_bytes(filter_shape, output_shape, skip);
    if (need == 0u) return UNIT_ERR_OVERFLOW; /* shapes and skip are valid */
    if (!scratch || scratch_bytes < need) return UNIT_ERR_SCRATCH;
  }
  conv_int8(params, requant, input_shape, input, filter_shape, filter, bias,
            output_shape, output, skip, scratch, scratch_bytes, stats);
  return UNIT_OK;
}
