/* int8 FULLY_CONNECTED: TFLM's reference arithmetic, plus UnIT skipping.
 *
 * The UnIT path is input-stationary: for each input x' the threshold of each
 * group is divided once by |x'| (tau_g = T_g / |x'|) and reused across every
 * weight of that input in the group; a weight is skipped when |w| <= tau_g.
 * An input at its zero point (x' = 0) is skipped outright with all its
 * weights.  Accumulators for all outputs live in scratch.
 */
#include "unit_internal.h"

size_t unit_fc_scratch_bytes(int32_t output_depth, const unit_skip_t *skip) {
  int32_t groups;
  if (!skip || !skip->thresholds || output_depth <= 0 ||
      output_depth > UNIT_INDEX_MAX ||
      unit_check_skip(skip, output_depth) != UNIT_OK)
    return 0;
  groups = output_depth / skip->group_size;
  return unit_size_mul_add(
      (size_t)groups, sizeof(unit_divisor_group_t),
      unit_size_mul_add((size_t)output_depth, sizeof(int32_t), 0u));
}

static void fc_dense(const unit_fc_params_t *p, const unit_requant_t *rq,
                     int32_t batches, int32_t input_depth,
                     int32_t output_depth, const int8_t *input,
                     const int8_t *filter, const int32_t *bias, int8_t *output,
                     unit_stats_t *stats) {
  /* Sizes in the target's index type: no 32-bit index arithmetic on
   * 16-bit cores (whose whole memory is 64 KiB). */
  const ptrdiff_t in_depth = (ptrdiff_t)input_depth;
  const ptrdiff_t out_depth = (ptrdiff_t)output_depth;
  ptrdiff_t b, o;
  const int16_t input_offset = (int16_t)p->input_offset; /* [-127, 128] */
  for (b = 0; b < batches; ++b, input += in_depth, output += out_depth) {
    const int8_t *w = filter;
    for (o = 0; o < out_depth; ++o, w += in_depth) {
      int32_t acc = unit_dot_int8(input, w, (size_t)in_depth, input_offset);
      if (bias) acc = unit_wrap_add32(acc, bias[o]);
      output[o] = unit_requantize(acc, rq->multiplier[o], rq->shift[o],
                                  p->output_offset, p->act_min, p->act_max);
#if UNIT_COUNTERS
      if (stats) {
        stats->macs_executed += (uint64_t)input_depth;
        if (stats->channel_executed)
          stats->channel_executed[o] += (uint64_t)input_depth;
      }
#endif
    }
  }
  (void)stats;
}

static void fc_unit(const unit_fc_params_t *p, const unit_requant_t *rq,
                    int32_t batches, int32_t input_depth, int32_t output_depth,
                    const int8_t *input, const int8_t *filter,
                    const int32_t *bias, int8_t *output,
                    const unit_skip_t *skip, void *scratch,
                    unit_stats_t *stats) {
  const unit_division_t mode = skip->division;
  /* Sizes in the target's index type (see fc_dense). */
  const ptrdiff_t in_depth = (ptrdiff_t)input_depth;
  const ptrdiff_t out_depth = (ptrdiff_t)output_depth;
  const ptrdiff_t group_size = (ptrdiff_t)skip->group_size;
  const ptrdiff_t groups = out_depth / group_size;
  int32_t *acc = (int32_t *)scratch;
  unit_divisor_group_t *group = (unit_divisor_group_t *)(acc + output_depth);
  const int16_t input_offset = (int16_t)p->input_offset; /* [-127, 128] */
  ptrdiff_t b, d, g, o;
  for (g = 0; g < groups; ++g)
    unit_divisor_group_init(&group[g], skip->thresholds[g], mode);
  for (b = 0; b < batches; ++b) {
    const int8_t *x = input + b * in_depth;
    for (o = 0; o < out_depth; ++o) acc[o] = bias ? bias[o] : 0;
    for (d = 0; d < in_depth; ++d) {
      const int16_t xv = (int16_t)(x[d] + input_offset);
      const int8_t *w = filter + d; /* this input's weights, down the filter column */
      uint8_t magnitude, exponent;
      if (xv == 0) continue; /* the whole input row is skipped */
      magnitude = (uint8_t)unit_abs16(xv);
      exponent = unit_floor_log2(magnitude, mode); /* once per input */
      for (o = 0, g = 0; g < groups; ++g) {
        /* One division per (input, group), reused over the group. */
        const int16_t tau =
            unit_group_quotient(&group[g], magnitude, exponent, mode);
        const ptrdiff_t o_end = o + group_size;
        for (; o < o_end; ++o, w += in_depth) {
          if (unit_tap_skipped(*w, tau)) continue; /* |w| <= tau, w == 0 too */
          acc[o] = unit_wrap_add32(acc[o], (int16_t)(xv * *w));
#if UNIT_COUNTERS
          if (stats) {
            stats->macs_executed += 1u;
            if (stats->channel_executed) stats->channel_executed[o] += 1u;
          }
#endif
        }
      }
    }
    for (o = 0; o < out_depth; ++o)
      output[b * out_depth + o] =
          unit_requantize(acc[o], rq->multiplier[o], rq->shift[o],
                          p->output_offset, p->act_min, p->act_max);
  }
  (void)stats;
}

/* The checks both fully connected layouts (unit_fc_sorted.c) share:
 * positive sizes whose products fit the index range, the offsets, the
 * clamp and every output channel's requantisation. */
unit_status_t unit_check_fc_args(const unit_fc_params_t *params,
                                 const unit_requant_t *requant,
                                 int32_t batches, int32_t input_depth,
                                 int32_t output_depth) {
  unit_status_t status;
  if (batches <= 0 || input_depth <= 0 || output_depth <= 0)
    return UNIT_ERR_ARG;
  if (unit_mul_limit(batches, input_depth, UNIT_INDEX_MAX) < 0 ||
      unit_mul_limit(output_depth, input_depth, UNIT_INDEX_MAX) < 0 ||
      unit_mul_limit(batches, output_depth, UNIT_INDEX_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  if (!unit_input_offset_valid(params->input_offset) ||
      !unit_int8_value(params->output_offset))
    return UNIT_ERR_OFFSET;
  status = unit_check_act_int8(params->act_min, params->act_max);
  if (status != UNIT_OK) return status;
  status = unit_check_requant(requant, output_depth);
  if (status != UNIT_OK) return status;
  return UNIT_OK;
}

unit_status_t unit_fully_connected_int8(
    const unit_fc_params_t *params, const unit_requant_t *requant,
    int32_t batches, int32_t input_depth, int32_t output_depth,
    const int8_t *input, const int8_t *filter, const int32_t *bias,
    int8_t *output, const unit_skip_t *skip, void *scratch,
    size_t scratch_bytes, unit_stats_t *stats) {
  unit_status_t status;
  if (!params || !requant || !requant->multiplier || !requant->shift ||
      !input || !filter || !output)
    return UNIT_ERR_NULL;
  status = unit_check_fc_args(params, requant, batches, input_depth,
                              output_depth);
  if (status != UNIT_OK) return status;
  status = unit_check_skip(skip, output_depth);
  if (status != UNIT_OK) return status;
#if UNIT_COUNTERS
  if (stats)
    stats->macs_total += (uint64_t)batches * input_depth * output_depth;
#endif
  if (skip && skip->thresholds) {
    const size_t need = unit_fc_scratch_bytes(output_depth, skip);
    if (need == 0u) return UNIT_ERR_OVERFLOW; /* arguments are valid */
    if (!scratch || scratch_bytes < need) return UNIT_ERR_SCRATCH;
    fc_unit(params, requant, batches, input_depth, output_depth, input, filter,
            bias, output, skip, scratch, stats);
  } else {
    fc_dense(params, requant, batches, input_depth, output_depth, input,
             filter, bias, output, stats);
  }
  return UNIT_OK;
}
