/* int8 CONV_2D: TFLM's reference arithmetic, plus UnIT skipping.
 *
 * Both paths run output-channel-outer (integer sums do not depend on the
 * order).  UnIT path: for each output channel the threshold is
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

/* Every output of output channel `oc` (all batches and positions).  tau is
 * the channel's quotient scratch, or NULL for the dense (builtin) kernel.
 * Offsets move by additions only; a tap is read only when in bounds.
 * Returns the multiplications executed. */
static uint64_t conv_channel(const unit_conv_geometry_t *g,
                             const unit_conv_params_t *p, const int8_t *input,
                             const int8_t *filter_oc, const int16_t *tau,
                             int32_t bias, int32_t multiplier, int32_t shift,
                             int8_t *out) {
  const int16_t input_offset = (int16_t)p->input_offset; /* -zp: [-127, 128] */
  const ptrdiff_t k_row = g->k_w * g->in_c;              /* taps per kernel row */
  const ptrdiff_t y_step = g->dilation_h * g->in_row;    /* next kernel row */
  const ptrdiff_t x_step = g->dilation_w * g->in_c;      /* next kernel column */
  uint64_t executed = 0;
  ptrdiff_t b, oy, ox, ky, kx;
  for (b = 0; b < g->batches; ++b, input += g->in_image) {
    ptrdiff_t in_y0 = -g->pad_h;
    for (oy = 0; oy < g->out_h; ++oy, in_y0 += g->stride_h) {
      ptrdiff_t in_x0 = -g->pad_w;
      for (ox = 0; ox < g->out_w; ++ox, in_x0 += g->stride_w, out += g->out_c) {
        int32_t acc = bias;
        ptrdiff_t in_y = in_y0;
        ptrdiff_t y_offset = in_y0 * g->in_row; /* may be negative: not read */
        ptrdiff_t row_tap = 0;                  /* first tap of kernel row ky */
        for (ky = 0; ky < g->k_h;
             ++ky, in_y += g->dilation_h, y_offset += y_step, row_tap += k_row) {
          ptrdiff_t in_x = in_x0;
          ptrdiff_t offset = y_offset + in_x0 * g->in_c;
          ptrdiff_t tap = row_tap;
          if (in_y < 0 || in_y >= g->in_h) continue;
          for (kx = 0; kx < g->k_w;
               ++kx, in_x += g->dilation_w, offset += x_step, tap += g->in_c) {
            if (in_x < 0 || in_x >= g->in_w) continue;
            if (tau) {
              acc += unit_skip_dot_int8(input + offset, filter_oc + tap, tau + tap,
                                        (size_t)g->in_c, input_offset, &executed);
            } else {
              acc += unit_dot_int8(input + offset, filter_oc + tap,
                                   (size_t)g->in_c, input_offset);
              UNIT_COUNT_ADD(executed, g->in_c);
            }
          }
        }
        *out = unit_requantize(acc, multiplier, shift, p->output_offset,
                               p->act_min, p->act_max);
      }
    }
  }
  return executed;
}

static void conv_int8(const unit_conv_params_t *p, const unit_requant_t *rq,
                      const unit_shape_t *is, const int8_t *input,
                      const unit_shape_t *fs, const int8_t *filter,
                      const int32_t *bias, const unit_shape_t *os,
                      int8_t *output, const unit_skip_t *skip, int16_t *tau,
                      unit_stats_t *stats) {
  unit_conv_geometry_t g;
  ptrdiff_t oc;
  const size_t taps = (size_t)fs->h * fs->w * fs->c;
  unit_conv_geometry(p, is, fs, os, &g);
  /* Output-channel-outer: integer sums do not depend on the order, and the
   * UnIT path divides once per weight of the channel, reused everywhere. */
  for (oc = 0; oc < g.out_c; ++oc) {
    const int8_t *filter_oc = filter + (size_t)oc * taps;
    uint64_t executed;
    if (tau) {
      unit_divisor_group_t group;
      unit_divisor_group_init(&group, skip->thresholds[oc / skip->group_size],
                              skip->division);
      unit_weight_quotients(&group, skip->division, filter_oc, taps, 1, tau);
    }
    executed = conv_channel(&g, p, input, filter_oc, tau, bias ? bias[oc] : 0,
                            rq->multiplier[oc], rq->shift[oc], output + oc);
#if UNIT_COUNTERS
    if (stats) {
      stats->macs_executed += executed;
      if (stats->channel_executed) stats->channel_executed[oc] += executed;
    }
#endif
    (void)executed;
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
  if (skip && skip->thresholds) {
    if (!scratch ||
        scratch_bytes < unit_conv_scratch_bytes(filter_shape, skip))
      return UNIT_ERR_SCRATCH;
    conv_int8(params, requant, input_shape, input, filter_shape, filter, bias,
              output_shape, output, skip, (int16_t *)scratch, stats);
  } else {
    conv_int8(params, requant, input_shape, input, filter_shape, filter, bias,
              output_shape, output, skip, NULL, stats);
  }
  return UNIT_OK;
}
