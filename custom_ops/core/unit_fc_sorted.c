/* int8 FULLY_CONNECTED, UnIT with the sorted weight layout (DESIGN.md §9
 * "Zero-cost skipping").
 *
 * unit_fc.c's UnIT kernel compares every weight of an input against
 * tau_g = T_g / |x'| and pays for the compare even when it skips.  Here each
 * (input, group) segment of the filter is stored offline in descending |w|
 * order with its output index: the weights the skip rule keeps (|w| > tau)
 * are then a prefix, and the walk ends at the first |w| <= tau.  Every
 * segment ends in a zero weight (a sentinel: |0| <= tau for every tau >= 0),
 * so the walk needs no counter, and a skipped weight costs nothing beyond the
 * single compare that ends its segment.
 *
 * The decision is unit_fc.c's, compare for compare (same quotient, same
 * unit_tap_skipped test); int32 sums do not depend on their order, so the
 * outputs are bit-identical to unit_fully_connected_int8 with the same skip
 * setting, in every division mode.
 */
#include "unit_internal.h"

/* Entries of one segment: the group's weights plus the sentinel. */
static int32_t segment_entries(int32_t group_size) { return group_size + 1; }

size_t unit_fc_sorted_entries(int32_t input_depth, int32_t output_depth,
                              int32_t group_size) {
  int32_t groups, per_input, total;
  if (input_depth <= 0 || output_depth <= 0 || group_size <= 0 ||
      output_depth % group_size != 0 || output_depth > UNIT_INDEX_MAX - 1)
    return 0u;
  groups = output_depth / group_size;
  if (output_depth > UNIT_INDEX_MAX - groups) return 0u;
  per_input = output_depth + groups;
  total = unit_mul_limit(input_depth, per_input, UNIT_INDEX_MAX);
  return total < 0 ? 0u : (size_t)total;
}

/* The index array a layout of `output_depth` outputs uses. */
int32_t unit_fc_sorted_index_bytes(int32_t output_depth) {
  return output_depth <= 256 ? 1 : 2;
}

static void store_index(uint8_t *index8, uint16_t *index16, size_t at,
                        int32_t o) {
  if (index8)
    index8[at] = (uint8_t)o;
  else
    index16[at] = (uint16_t)o;
}

static int32_t load_index(const unit_fc_sorted_t *layout, size_t at) {
  return layout->index8 ? (int32_t)layout->index8[at]
                        : (int32_t)layout->index16[at];
}

/* Exactly one index array, of the width the output count allows. */
static unit_status_t check_index_arrays(const void *index8,
                                        const void *index16,
                                        int32_t output_depth) {
  if ((index8 == NULL) == (index16 == NULL)) return UNIT_ERR_NULL;
  if (index8 && output_depth > 256) return UNIT_ERR_ARG;
  if (output_depth > 65536) return UNIT_ERR_OVERFLOW;
  return UNIT_OK;
}

unit_status_t unit_fc_sorted_build(const int8_t *filter, int32_t input_depth,
                                   int32_t output_depth, int32_t group_size,
                                   int8_t *weights, uint8_t *index8,
                                   uint16_t *index16) {
  const size_t entries =
      unit_fc_sorted_entries(input_depth, output_depth, group_size);
  unit_status_t status;
  int32_t d, g, o;
  size_t at = 0u;
  if (!filter || !weights) return UNIT_ERR_NULL;
  status = check_index_arrays(index8, index16, output_depth);
  if (status != UNIT_OK) return status;
  if (input_depth <= 0 || output_depth <= 0) return UNIT_ERR_ARG;
  if (group_size <= 0 || output_depth % group_size != 0) return UNIT_ERR_GROUP;
  if (entries == 0u ||
      unit_mul_limit(output_depth, input_depth, UNIT_INDEX_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  for (d = 0; d < input_depth; ++d) {
    for (g = 0; g < output_depth / group_size; ++g) {
      const int32_t first = g * group_size;
      const size_t end = at + (size_t)segment_entries(group_size);
      int32_t m;
      /* Descending |w|, ascending output index among equals (stable);
       * zero weights are left out: the sentinel run stands for them. */
      for (m = 128; m >= 1; --m)
        for (o = first; o < first + group_size; ++o) {
          const int32_t w = filter[(size_t)o * (size_t)input_depth + (size_t)d];
          if ((w < 0 ? -w : w) == m) {
            weights[at] = (int8_t)w;
            store_index(index8, index16, at, o);
            ++at;
          }
        }
      for (; at < end; ++at) { /* zero weights and the sentinel */
        weights[at] = 0;
        store_index(index8, index16, at, first);
      }
    }
  }
  return UNIT_OK;
}

unit_status_t unit_fc_sorted_check(const unit_fc_sorted_t *layout,
                                   int32_t input_depth, int32_t output_depth) {
  size_t entries, at = 0u;
  int32_t segment, segments, group_size, k;
  unit_status_t status;
  if (!layout || !layout->weights) return UNIT_ERR_NULL;
  status = check_index_arrays(layout->index8, layout->index16, output_depth);
  if (status != UNIT_OK) return status;
  if (input_depth <= 0 || output_depth <= 0) return UNIT_ERR_ARG;
  group_size = layout->group_size;
  if (group_size <= 0 || output_depth % group_size != 0) return UNIT_ERR_GROUP;
  entries = unit_fc_sorted_entries(input_depth, output_depth, group_size);
  if (entries == 0u) return UNIT_ERR_OVERFLOW;
  segments = (int32_t)(entries / (size_t)segment_entries(group_size));
  for (segment = 0; segment < segments; ++segment) {
    const int32_t first = (segment % (output_depth / group_size)) * group_size;
    int32_t previous = 128, zero_seen = 0;
    for (k = 0; k < segment_entries(group_size); ++k, ++at) {
      const int32_t w = layout->weights[at];
      const int32_t magnitude = w < 0 ? -w : w;
      const int32_t o = load_index(layout, at);
      if (o < first || o >= first + group_size) return UNIT_ERR_SHAPE;
      if (magnitude > previous || (zero_seen && magnitude != 0))
        return UNIT_ERR_SHAPE; /* not descending, or no zero run at the end */
      if (magnitude == 0) zero_seen = 1;
      previous = magnitude;
    }
    if (!zero_seen) return UNIT_ERR_SHAPE; /* unreachable: last slot checked */
  }
  return UNIT_OK;
}

unit_status_t unit_fc_sorted_check_filter(const unit_fc_sorted_t *layout,
                                          const int8_t *filter,
                                          int32_t input_depth,
                                          int32_t output_depth) {
  ptrdiff_t d, g, k, o;
  ptrdiff_t at = 0;
  ptrdiff_t seg, groups, group_size;
  unit_status_t status = unit_fc_sorted_check(layout, input_depth, output_depth);
  if (status != UNIT_OK) return status; /* every index is in its group */
  if (!filter) return UNIT_ERR_NULL;
  group_size = (ptrdiff_t)layout->group_size;
  seg = group_size + 1;
  groups = (ptrdiff_t)output_depth / group_size;
  for (d = 0; d < (ptrdiff_t)input_depth; ++d) {
    for (g = 0; g < groups; ++g, at += seg) {
      const ptrdiff_t first = g * group_size;
      ptrdiff_t nonzero = 0, listed = 0, previous = -1;
      int32_t previous_magnitude = 0;
      for (o = first; o < first + group_size; ++o)
        if (filter[o * (ptrdiff_t)input_depth + d] != 0) ++nonzero;
      for (k = 0; k < seg; ++k) {
        const int32_t w = layout->weights[at + k];
        const int32_t magnitude = w < 0 ? -w : w;
        const ptrdiff_t out = (ptrdiff_t)load_index(layout, (size_t)(at + k));
        if (w == 0) break; /* the zero run (checked above) */
        /* the filter's weight, each output once: equal magnitudes in
         * ascending output order, as unit_fc_sorted_build writes them */
        if (filter[out * (ptrdiff_t)input_depth + d] != w) return UNIT_ERR_SHAPE;
        if (magnitude == previous_magnitude && out <= previous)
          return UNIT_ERR_SHAPE;
        previous = out;
        previous_magnitude = magnitude;
        ++listed;
      }
      if (listed != nonzero) return UNIT_ERR_SHAPE; /* a weight left out */
    }
  }
  return UNIT_OK;
}

size_t unit_fc_sorted_scratch_bytes(int32_t output_depth,
                                    const unit_skip_t *skip) {
  int32_t groups;
  if (output_depth <= 0 || output_depth > UNIT_INDEX_MAX) return 0u;
  if (skip && skip->thresholds) {
    if (unit_check_skip(skip, output_depth) != UNIT_OK) return 0u;
    groups = output_depth / skip->group_size;
  } else {
    groups = 0; /* T = 0: no divisors, only the accumulators */
  }
  return unit_size_mul_add(
      (size_t)groups, sizeof(unit_divisor_group_t),
      unit_size_mul_add((size_t)output_depth, sizeof(int32_t), 0u));
}

#if UNIT_COUNTERS
#define SORTED_COUNT(stats, o)                                         \
  do {                                                                 \
    if (stats) {                                                       \
      stats->macs_executed += 1u;                                      \
      if (stats->channel_executed) stats->channel_executed[o] += 1u;   \
    }                                                                  \
  } while (0)
#else
#define SORTED_COUNT(stats, o) ((void)0)
#endif

/* One segment's prefix: accumulate until the first |w| <= tau (at the
 * latest the sentinel).  Two copies, one per index width; the uint8 one is
 * in assembly on the MSP430 (unit_msp430_fc_sorted.S).  A quotient >= 128
 * skips every weight (|w| <= 128): no walk at all. */
#if defined(UNIT_PORT_FC_SORTED_WALK)
#if UNIT_COUNTERS
#error "the port's sorted walk does not count MACs: build with -DUNIT_COUNTERS=0"
#endif
void unit_msp430_fc_sorted_walk8(int32_t *acc, const int8_t *w,
                                 const uint8_t *index, int16_t xv,
                                 int16_t tau);
static void walk8(int32_t *acc, const int8_t *w, const uint8_t *index,
                  int16_t xv, int16_t tau, unit_stats_t *stats) {
  if (tau < 128) unit_msp430_fc_sorted_walk8(acc, w, index, xv, tau);
  (void)stats;
}
#else
static void walk8(int32_t *acc, const int8_t *w, const uint8_t *index,
                  int16_t xv, int16_t tau, unit_stats_t *stats) {
  if (tau >= 128) return;
  for (; !unit_tap_skipped(*w, tau); ++w, ++index) {
    acc[*index] = unit_wrap_add32(acc[*index], (int16_t)(xv * *w));
    SORTED_COUNT(stats, *index);
  }
  (void)stats;
}
#endif

static void walk16(int32_t *acc, const int8_t *w, const uint16_t *index,
                   int16_t xv, int16_t tau, unit_stats_t *stats) {
  if (tau >= 128) return;
  for (; !unit_tap_skipped(*w, tau); ++w, ++index) {
    acc[*index] = unit_wrap_add32(acc[*index], (int16_t)(xv * *w));
    SORTED_COUNT(stats, *index);
  }
  (void)stats;
}

/* One input's segments: the quotient of each group, then its walk. */
static void input_row(int32_t *acc, const unit_divisor_group_t *group,
                      ptrdiff_t groups, ptrdiff_t seg, const int8_t *w,
                      const uint8_t *i8, const uint16_t *i16, int16_t xv,
                      unit_division_t mode, unit_stats_t *stats) {
  const uint8_t magnitude = (uint8_t)unit_abs16(xv);
  ptrdiff_t g;
  if (mode == UNIT_DIV_EXACT) {
    for (g = 0; g < groups; ++g, w += seg, ++group) {
      const int16_t tau = (int16_t)(group->t / (int16_t)magnitude);
      if (i8) {
        walk8(acc, w, i8, xv, tau, stats);
        i8 += seg;
      } else {
        walk16(acc, w, i16, xv, tau, stats);
        i16 += seg;
      }
    }
  } else {
    /* The power-of-two modes: T_q >> e from the group's table (the value
     * unit_group_quotient gives; the exponent found the mode's way). */
    const uint8_t e = unit_floor_log2(magnitude, mode); /* once per input */
    for (g = 0; g < groups; ++g, w += seg, ++group) {
      const int16_t tau = group->table[e];
      if (i8) {
        walk8(acc, w, i8, xv, tau, stats);
        i8 += seg;
      } else {
        walk16(acc, w, i16, xv, tau, stats);
        i16 += seg;
      }
    }
  }
}

/* The common case in one tight loop (few live values, so 16-bit cores keep
 * them in registers): uint8 indices, thresholds given. */
static void rows8(int32_t *acc, const int8_t *x, const int8_t *x_end,
                  int16_t input_offset, const int8_t *w, const uint8_t *i8,
                  ptrdiff_t seg, ptrdiff_t groups,
                  const unit_divisor_group_t *group, unit_division_t mode,
                  unit_stats_t *stats) {
  const ptrdiff_t row = groups * seg;
  const unit_divisor_group_t *group_end = group + groups;
  for (; x != x_end; ++x, w += row, i8 += row) {
    const int16_t xv = (int16_t)(*x + input_offset);
    const int8_t *ws = w;
    const uint8_t *is = i8;
    const unit_divisor_group_t *gp;
    uint8_t magnitude;
    if (xv == 0) continue; /* the whole input row is skipped */
    magnitude = (uint8_t)unit_abs16(xv);
    if (mode == UNIT_DIV_EXACT) {
      for (gp = group; gp != group_end; ++gp, ws += seg, is += seg)
        walk8(acc, ws, is, xv, (int16_t)(gp->t / (int16_t)magnitude), stats);
    } else {
      const uint8_t e = unit_floor_log2(magnitude, mode); /* once per input */
      for (gp = group; gp != group_end; ++gp, ws += seg, is += seg)
        walk8(acc, ws, is, xv, gp->table[e], stats);
    }
  }
}

static void fc_sorted(const unit_fc_params_t *p, const unit_requant_t *rq,
                      int32_t batches, int32_t input_depth,
                      int32_t output_depth, const int8_t *input,
                      const unit_fc_sorted_t *layout, const int32_t *bias,
                      int8_t *output, const int16_t *thresholds,
                      int32_t group_size, unit_division_t mode, void *scratch,
                      unit_stats_t *stats) {
  /* Sizes in the target's index type (no 32-bit index arithmetic on
   * 16-bit cores, see unit_fc.c). */
  const ptrdiff_t in_depth = (ptrdiff_t)input_depth;
  const ptrdiff_t out_depth = (ptrdiff_t)output_depth;
  const ptrdiff_t seg = (ptrdiff_t)group_size + 1;
  const ptrdiff_t layout_groups = out_depth / (ptrdiff_t)group_size;
  const ptrdiff_t row = layout_groups * seg; /* entries per input */
  const ptrdiff_t groups = thresholds ? layout_groups : 0;
  const int16_t input_offset = (int16_t)p->input_offset; /* [-127, 128] */
  int32_t *acc = (int32_t *)scratch;
  unit_divisor_group_t *group = (unit_divisor_group_t *)(acc + output_depth);
  ptrdiff_t b, d, g, o;
  for (g = 0; g < groups; ++g) {
    unit_divisor_group_init(&group[g], thresholds ? thresholds[g] : 0, mode);
    if (mode != UNIT_DIV_EXACT) { /* table[e] = T_q >> e, by halving */
      int e;
      group[g].table[0] = group[g].t;
      for (e = 1; e < 8; ++e)
        group[g].table[e] = (int16_t)(group[g].table[e - 1] >> 1);
    }
  }
  for (b = 0; b < batches; ++b) {
    const int8_t *x = input + b * in_depth;
    const int8_t *w = layout->weights;
    const uint8_t *i8 = layout->index8;
    const uint16_t *i16 = layout->index16;
    for (o = 0; o < out_depth; ++o) acc[o] = bias ? bias[o] : 0;
    if (i8 && thresholds) {
      rows8(acc, x, x + in_depth, input_offset, w, i8, seg, layout_groups,
            group, mode, stats);
      d = in_depth;
    } else {
      d = 0;
    }
    for (; d < in_depth; ++d, w += row) {
      const int16_t xv = (int16_t)(x[d] + input_offset);
      /* x' = 0: the whole input row is skipped */
      if (xv == 0) {
        /* the whole input row is skipped */
      } else if (thresholds) {
        input_row(acc, group, layout_groups, seg, w, i8, i16, xv, mode,
                  stats);
      } else { /* T = 0: tau = 0 in every segment */
        const int8_t *ws = w;
        const uint8_t *s8 = i8;
        const uint16_t *s16 = i16;
        for (g = 0; g < layout_groups; ++g, ws += seg) {
          if (s8) {
            walk8(acc, ws, s8, xv, 0, stats);
            s8 += seg;
          } else {
            walk16(acc, ws, s16, xv, 0, stats);
            s16 += seg;
          }
        }
      }
      if (i8) i8 += row; else i16 += row;
    }
    for (o = 0; o < out_depth; ++o)
      output[b * out_depth + o] =
          unit_requantize(acc[o], rq->multiplier[o], rq->shift[o],
                          p->output_offset, p->act_min, p->act_max);
  }
  (void)stats;
}

unit_status_t unit_fully_connected_sorted_int8(
    const unit_fc_params_t *params, const unit_requant_t *requant,
    int32_t batches, int32_t input_depth, int32_t output_depth,
    const int8_t *input, const unit_fc_sorted_t *layout, const int32_t *bias,
    int8_t *output, const unit_skip_t *skip, void *scratch,
    size_t scratch_bytes, unit_stats_t *stats) {
  unit_status_t status;
  const int skipping = skip && skip->thresholds;
  ptrdiff_t group_size, groups;
  size_t need;
  if (!params || !requant || !requant->multiplier || !requant->shift ||
      !input || !layout || !layout->weights || !output)
    return UNIT_ERR_NULL;
  status = check_index_arrays(layout->index8, layout->index16, output_depth);
  if (status != UNIT_OK) return status;
  status = unit_check_fc_args(params, requant, batches, input_depth,
                              output_depth);
  if (status != UNIT_OK) return status;
  /* The layout's segments must each lie in one threshold group: the skip
   * groups are the layout's.  Sizes are now known to fit ptrdiff_t, so the
   * one division is in the target's index type (on 16-bit cores a 32-bit
   * division costs ~1 000 cycles, as much as a few hundred skipped MACs). */
  if (layout->group_size <= 0 || layout->group_size > output_depth)
    return UNIT_ERR_GROUP;
  group_size = (ptrdiff_t)layout->group_size;
  if ((ptrdiff_t)output_depth % group_size != 0) return UNIT_ERR_GROUP;
  groups = (ptrdiff_t)output_depth / group_size;
  if (skipping) {
    if (skip->group_size != layout->group_size) return UNIT_ERR_GROUP;
    if (!unit_division_valid(skip->division)) return UNIT_ERR_DIVISION;
  }
  /* input_depth * (output_depth + groups) entries in range; the scratch:
   * int32 accumulators and, when skipping, a divisor per group. */
  if (output_depth > UNIT_INDEX_MAX - (int32_t)groups ||
      unit_mul_limit(input_depth, output_depth + (int32_t)groups,
                     UNIT_INDEX_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  need = unit_size_mul_add(
      skipping ? (size_t)groups : 0u, sizeof(unit_divisor_group_t),
      unit_size_mul_add((size_t)output_depth, sizeof(int32_t), 0u));
  if (need == 0u) return UNIT_ERR_OVERFLOW;
  if (!scratch || scratch_bytes < need) return UNIT_ERR_SCRATCH;
#if UNIT_COUNTERS
  if (stats)
    stats->macs_total += (uint64_t)batches * input_depth * output_depth;
#endif
  /* Without thresholds: T = 0 in every segment, which skips only zero
   * products (the dense result, bit for bit). */
  fc_sorted(params, requant, batches, input_depth, output_depth, input, layout,
            bias, output, skipping ? skip->thresholds : NULL,
            layout->group_size, skipping ? skip->division : UNIT_DIV_EXACT,
            scratch, stats);
  return UNIT_OK;
}
