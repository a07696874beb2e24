/* int8 CONV_2D, UnIT with bucketed inputs (DESIGN.md §9 "Zero-cost
 * skipping").
 *
 * unit_conv.c's UnIT kernel applies each weight to every output position of
 * its rectangle and pays one compare per skipped MAC.  Here the input is
 * sorted instead, once per row block: for every input row, channel and
 * column phase (input column mod stride_w) a list of the row's entries
 * (key, column / stride_w) in descending |x'| order, ending in an entry
 * with x' = 0 (a sentinel: |0| <= tau for every tau >= 0).  The key is
 * x + 128 as an unsigned byte (x' = key + input_offset - 128): with the
 * usual input_offset 128 (zero point -128) it is x' itself, which the
 * MSP430 walk compares with tau directly.  The MACs a
 * weight executes in one input row, |x'| > tau_w, are then a prefix of the
 * list, and the walk ends at the first |x'| <= tau_w: a skipped MAC costs
 * nothing beyond the one compare that ends each row's walk.
 *
 * An entry adds w * x' to the accumulator of the output column its input
 * column and the weight's kernel column map to, after one unsigned compare
 * that drops the columns this kernel column maps outside the output (left,
 * right, or under SAME padding).  Rows are walked per output row, so rows
 * outside the input are never visited
 * (padding contributes nothing, as in TFLM).  Inputs with |x'| <= the
 * layer's smallest possible quotient (min T >> 7: no weight executes them)
 * are left out of the lists.
 *
 * The skip decision is unit_conv.c's, compare for compare (same quotients,
 * same unit_tap_skipped test); int32 sums do not depend on their order, so
 * outputs and executed-MAC counts are those of unit_conv_2d_int8 with the
 * same skip setting, in every division mode.
 */
#include "unit_internal.h"

/* The bucketed layout of one call. */
typedef struct {
  ptrdiff_t lead;     /* accumulators before a row's out_w real ones (0) */
  ptrdiff_t acc_row;  /* accumulators per row */
  ptrdiff_t capacity; /* entries per list: ceil(in_w / stride_w) + 1 */
} bucket_geometry_t;

/* One kernel position (ky, kx) in the current row block, computed once
 * per block for every output channel: rows == 0 when it reads only
 * padding. */
typedef struct {
  int32_t lists;  /* byte offset of channel 0's list of its first row */
  int32_t acc;    /* accumulator offset of that row's column 0 */
  int32_t rows;   /* output rows it reaches in the block */
  int32_t first;  /* list column q is output column q - first */
} bucket_position_t;

/* 0 when the columns q = ix / stride_w do not fit a byte. */
/* x' of a list entry's key (x + 128 as an unsigned byte): key + input_offset
 * - 128, in int16_t for every int8 x and input_offset in [-128, 127]. */
static inline int16_t key_to_x(uint16_t key, int16_t input_offset) {
  return (int16_t)((int16_t)key + input_offset - 128);
}

static int bucket_geometry(const unit_shape_t *is, const unit_shape_t *fs,
                           const unit_shape_t *os,
                           const unit_conv_params_t *p, bucket_geometry_t *bg) {
  const int32_t sw = os->w > 1 ? p->stride_w : 1;
  const int32_t columns = (is->w + sw - 1) / sw;
  (void)fs;
  if (columns > 256) return 0;
  bg->lead = 0; /* the walk tests each column against the output's */
  bg->acc_row = (ptrdiff_t)os->w;
  bg->capacity = (ptrdiff_t)columns + 1;
  return 1;
}

/* Input rows a block of `rows` output rows reads (at most the input's). */
static size_t block_input_rows(const unit_shape_t *is, const unit_shape_t *fs,
                               const unit_shape_t *os,
                               const unit_conv_params_t *p, size_t rows) {
  const size_t sh = os->h > 1 ? (size_t)p->stride_h : 1u;
  const size_t span =
      (rows - 1u) * sh + (size_t)(fs->h - 1) * (size_t)p->dilation_h + 1u;
  return span < (size_t)is->h ? span : (size_t)is->h;
}

/* Scratch for a block of `rows` output rows: quotients, accumulators, lists
 * (0 on overflow or a row too wide for byte columns). */
static size_t bucketed_bytes(const unit_conv_params_t *p,
                             const unit_shape_t *is, const unit_shape_t *fs,
                             const unit_shape_t *os, size_t rows) {
  bucket_geometry_t bg;
  size_t quotients, acc, lists, list_bytes;
  const size_t sw = os->w > 1 ? (size_t)p->stride_w : 1u;
  if (!bucket_geometry(is, fs, os, p, &bg)) return 0u;
  /* the kernel positions' plan, the quotients of one channel (rounded up
   * to 4 bytes), then the block's peak |x'| per input channel (as well) */
  quotients = unit_size_mul_add((size_t)fs->h * fs->w * fs->c,
                                sizeof(int16_t), 3u) & ~(size_t)3u;
  if (quotients != 0u) /* the kernel positions' plan */
    quotients = unit_size_mul_add((size_t)fs->h * fs->w,
                                  sizeof(bucket_position_t), quotients);
  if (quotients != 0u)
    quotients = unit_size_mul_add((size_t)is->c, sizeof(int16_t),
                                  quotients + 3u) & ~(size_t)3u;
  acc = unit_size_mul_add(rows * (size_t)bg.acc_row, sizeof(int32_t), 0u);
  list_bytes = unit_size_mul_add((size_t)bg.capacity * 2u, sw, 0u);
  lists = unit_size_mul_add(block_input_rows(is, fs, os, p, rows) * (size_t)is->c,
                            list_bytes, 0u);
  if (acc == 0u || list_bytes == 0u || lists == 0u ||
      quotients == 0u || quotients > SIZE_MAX - acc || lists > SIZE_MAX - acc - quotients)
    return 0u;
  return quotients + acc + lists;
}

/* Both queries check what the kernel checks first (0 = invalid). */
static size_t bucketed_scratch(const unit_conv_params_t *p,
                               const unit_shape_t *is, const unit_shape_t *fs,
                               const unit_shape_t *os, const unit_skip_t *skip,
                               int whole_image) {
  if (!p || !is || !fs || !os || unit_check_skip(skip, os->c) != UNIT_OK ||
      unit_check_conv_geometry(p->stride_h, p->stride_w, p->dilation_h,
                               p->dilation_w, p->pad_h, p->pad_w, is, fs,
                               os) != UNIT_OK)
    return 0u;
  if (!skip || !skip->thresholds) /* dense: unit_conv_2d_int8's scratch */
    return whole_image ? unit_conv_scratch_bytes(fs, os, skip)
                       : unit_conv_min_scratch_bytes(fs, os, skip);
  return bucketed_bytes(p, is, fs, os, whole_image ? (size_t)os->h : 1u);
}

size_t unit_conv_bucketed_scratch_bytes(const unit_conv_params_t *params,
                                        const unit_shape_t *input,
                                        const unit_shape_t *filter,
                                        const unit_shape_t *output,
                                        const unit_skip_t *skip) {
  return bucketed_scratch(params, input, filter, output, skip, 1);
}

size_t unit_conv_bucketed_min_scratch_bytes(const unit_conv_params_t *params,
                                            const unit_shape_t *input,
                                            const unit_shape_t *filter,
                                            const unit_shape_t *output,
                                            const unit_skip_t *skip) {
  return bucketed_scratch(params, input, filter, output, skip, 0);
}

/* The lists of input rows [iy0, iy1): list (iy, c, phase) at entry
 * (((iy - iy0) * in_c + c) * stride_w + phase) * capacity, each entry two
 * bytes (key x + 128, column / stride_w).  Entries with |x'| <= least are left
 * out; the rest are insertion-sorted by descending |x'| (rows are short),
 * then the sentinel x' = 0.  peak[c]: the largest |x'| in channel c's
 * lists (0 when they are empty). */
static void build_lists(const unit_conv_geometry_t *g,
                        const bucket_geometry_t *bg, const int8_t *input,
                        ptrdiff_t iy0, ptrdiff_t iy1, int16_t input_offset,
                        int16_t least, uint8_t *lists, int16_t *peak) {
  /* x' = 0: x = -input_offset, key x + 128 */
  const uint8_t sentinel = (uint8_t)((uint8_t)(int8_t)(-input_offset) ^ 0x80u);
  const ptrdiff_t sw = g->stride_w;
  const ptrdiff_t x_step = g->x_step; /* stride_w * in_c */
  ptrdiff_t iy, c, r, ix, q;
  for (c = 0; c < g->in_c; ++c) peak[c] = 0;
  for (iy = iy0; iy < iy1; ++iy) {
    const int8_t *row = input + iy * g->in_row;
    for (c = 0; c < g->in_c; ++c) {
      int16_t top = peak[c];
      for (r = 0; r < sw; ++r, lists += 2 * bg->capacity) {
        uint8_t *end = lists; /* past the last entry */
        const int8_t *xp = row + r * g->in_c + c;
        /* ix = r + q * sw: column q of the phase */
        for (ix = r, q = 0; ix < g->in_w; ix += sw, xp += x_step, ++q) {
          const int8_t x = *xp;
          const int16_t mag = unit_abs16((int16_t)(x + input_offset));
          uint8_t *at;
          if (mag <= least) continue;
          for (at = end; at != lists; at -= 2) { /* smaller magnitudes up */
            if (unit_abs16(key_to_x(at[-2], input_offset)) >= mag)
              break;
            at[0] = at[-2];
            at[1] = at[-1];
          }
          at[0] = (uint8_t)((uint8_t)x ^ 0x80u); /* x + 128 */
          at[1] = (uint8_t)q;
          end += 2;
          if (mag > top) top = mag;
        }
        end[0] = sentinel;
        end[1] = 0u;
      }
      peak[c] = top;
    }
  }
}

#if defined(UNIT_PORT_BUCKET_WALK)
/* One kernel position's walks for the port's assembly
 * (unit_msp430_bucket.S); 16-bit fields at fixed offsets. */
typedef struct {
  const uint8_t *entries; /* channel 0's list of the first row */
  int16_t row_step;       /* bytes from a row's list to the next row's */
  int32_t *acc;           /* the first row's accumulators, at column 0 */
  int16_t acc_step;       /* bytes between accumulator rows */
  uint16_t rows;          /* > 0 */
  const int8_t *w;        /* the channels' weights, one byte apart */
  const int16_t *tau;     /* their quotients */
  int16_t input_offset;
  uint16_t first, width;  /* the columns [first, first + width) are real */
  uint16_t channels;      /* > 0 */
  int16_t channel_step;   /* bytes from a channel's list to the next's */
  const int16_t *peak;    /* the channels' largest |x'| in the block */
} unit_bucket_walk_t;
typedef char unit_bucket_walk_layout_check[sizeof(unit_bucket_walk_t) == 26 ? 1 : -1];
void unit_msp430_bucket_walk(unit_bucket_walk_t *walk);
#endif

/* One kernel position, `channels` input channels: channel c's weight w[c]
 * (quotient tau[c]; skipped outright when tau[c] >= peak[c], the largest
 * |x'| of the channel in the block: it multiplies nothing) over `rows`
 * input rows.  In each row's list, while |x'| > tau,
 * acc[column - first] += x' * w for the columns in [first, first + width)
 * (the others map outside the output for this kernel column: not
 * multiplied).  Lists: channel_step bytes between channels, row_step
 * between rows; accumulator rows acc_row apart.  Returns the MACs executed
 * (counted in host builds). */
static uint64_t walk_channels(const uint8_t *lists, ptrdiff_t channel_step,
                              ptrdiff_t row_step, int32_t *acc,
                              ptrdiff_t acc_row, ptrdiff_t rows,
                              const int8_t *w, const int16_t *tau,
                              const int16_t *peak, ptrdiff_t channels,
                              int16_t input_offset, ptrdiff_t first,
                              ptrdiff_t width) {
  uint64_t executed = 0;
#if defined(UNIT_PORT_BUCKET_WALK)
  unit_bucket_walk_t walk;
  walk.entries = lists;
  walk.row_step = (int16_t)row_step;
  walk.acc = acc;
  walk.acc_step = (int16_t)(acc_row * (ptrdiff_t)sizeof(int32_t));
  walk.rows = (uint16_t)rows;
  walk.w = w;
  walk.tau = tau;
  walk.input_offset = input_offset;
  walk.first = (uint16_t)first;
  walk.width = (uint16_t)width;
  walk.channels = (uint16_t)channels;
  walk.channel_step = (int16_t)channel_step;
  walk.peak = peak;
  unit_msp430_bucket_walk(&walk);
#else
  ptrdiff_t c, r;
  for (c = 0; c < channels; ++c, lists += channel_step) {
    const int16_t t = tau[c];
    const int16_t wc = w[c];
    /* key + shifted = x' + tau */
    const uint16_t shifted =
        (uint16_t)((uint16_t)input_offset - 128u + (uint16_t)t);
    const uint16_t span = (uint16_t)((uint16_t)t << 1);
    const uint8_t *e = lists;
    int32_t *a = acc;
    if (t >= peak[c]) continue; /* multiplies nothing in this block */
    for (r = rows; r > 0; --r, e += row_step, a += acc_row) {
      const uint8_t *x = e;
      for (;; x += 2) {
        const uint16_t key = x[0];
        const uint16_t column = (uint16_t)((uint16_t)x[1] - (uint16_t)first);
        if ((uint16_t)(key + shifted) <= span) break; /* |x'| <= tau */
        if (column >= (uint16_t)width) continue; /* outside the output */
        a[column] = unit_wrap_add32(
            a[column],
            (int16_t)(key_to_x(key, input_offset) * wc));
        UNIT_COUNT_ADD(executed, 1);
      }
    }
  }
#endif
  return executed;
}

/* The plan of every kernel position for the block [row0, row_end) whose
 * input rows [iy0, ...) are in the lists. */
static void plan_positions(const unit_conv_geometry_t *g,
                           const bucket_geometry_t *bg,
                           const unit_tap_plan_t *plan, ptrdiff_t iy0,
                           ptrdiff_t row0, ptrdiff_t row_end,
                           bucket_position_t *pos) {
  const ptrdiff_t list_step = 2 * bg->capacity;      /* bytes per list */
  const ptrdiff_t row_lists = g->in_c * g->stride_w; /* lists per input row */
  ptrdiff_t ky, kx;
  for (ky = 0; ky < g->k_h; ++ky) {
    unit_tap_rect_t rect;
    unit_tap_rows(g, ky, row0, row_end, &rect);
    for (kx = 0; kx < g->k_w; ++kx, ++pos) {
      ptrdiff_t phase, first;
      pos->rows = 0;
      if (rect.oy_lo == rect.oy_hi) continue; /* reads only padding rows */
      unit_tap_planned_columns(g, plan, kx, &rect);
      if (unit_tap_rect_empty(&rect)) continue; /* reads only padding */
      /* input columns ix = ox * sw - pw + kx * dw: phase ix mod sw, and
       * q = ix / sw is output column ox = q - first, first =
       * (kx * dw - pw - phase) / sw (exact) */
      phase = (kx * g->dilation_w - g->pad_w) % g->stride_w;
      if (phase < 0) phase += g->stride_w;
      first = (kx * g->dilation_w - g->pad_w - phase) / g->stride_w;
      pos->lists = (int32_t)(((rect.oy_lo * g->stride_h - g->pad_h +
                               ky * g->dilation_h - iy0) * row_lists + phase) *
                             list_step);
      pos->acc = (int32_t)((rect.oy_lo - row0) * bg->acc_row + bg->lead);
      pos->rows = (int32_t)(rect.oy_hi - rect.oy_lo);
      pos->first = (int32_t)first;
    }
  }
}

/* Output channel oc over the block whose lists are `lists`: each kernel
 * position's walk of all input channels. */
static uint64_t bucketed_channel(const unit_conv_geometry_t *g,
                                 const bucket_geometry_t *bg,
                                 const bucket_position_t *pos,
                                 const uint8_t *lists, const int16_t *peak,
                                 const int16_t *tau, const int8_t *w,
                                 int16_t input_offset, int32_t *acc) {
  const ptrdiff_t list_step = 2 * bg->capacity;
  const ptrdiff_t channel_step = g->stride_w * list_step;
  const ptrdiff_t row_step = g->stride_h * g->in_c * channel_step;
  const bucket_position_t *end = pos + g->k_h * g->k_w;
  uint64_t executed = 0;
  for (; pos != end; ++pos, w += g->in_c, tau += g->in_c) {
    if (pos->rows == 0) continue; /* reads only padding */
    executed += walk_channels(lists + (ptrdiff_t)pos->lists, channel_step,
                              row_step, acc + (ptrdiff_t)pos->acc, bg->acc_row,
                              (ptrdiff_t)pos->rows, w, tau, peak, g->in_c,
                              input_offset, (ptrdiff_t)pos->first, g->out_w);
  }
  return executed;
}

unit_status_t unit_conv_2d_bucketed_int8(
    const unit_conv_params_t *params, const unit_requant_t *requant,
    const unit_shape_t *input_shape, const int8_t *input,
    const unit_shape_t *filter_shape, const int8_t *filter,
    const int32_t *bias, const unit_shape_t *output_shape, int8_t *output,
    const unit_skip_t *skip, void *scratch, size_t scratch_bytes,
    unit_stats_t *stats) {
  const unit_conv_params_t *p = params;
  unit_status_t status;
  unit_conv_geometry_t g;
  bucket_geometry_t bg;
  unit_tap_plan_t plan;
  size_t need, quotient_bytes, taps;
  ptrdiff_t block_rows, b, row0, oc, pos;
  int16_t *tau, *peak, least;
  bucket_position_t *positions;
  int32_t *acc;
  uint8_t *lists;
  int16_t input_offset;
  if (!skip || !skip->thresholds) /* dense: nothing to bucket */
    return unit_conv_2d_int8(params, requant, input_shape, input, filter_shape,
                             filter, bias, output_shape, output, skip, scratch,
                             scratch_bytes, stats);
  status = unit_check_conv_args(params, requant, input_shape, input,
                                filter_shape, filter, output_shape, output);
  if (status != UNIT_OK) return status;
  if (filter_shape->c != input_shape->c ||
      output_shape->c != filter_shape->n || output_shape->n != input_shape->n)
    return UNIT_ERR_SHAPE;
  status = unit_check_requant(requant, output_shape->c);
  if (status != UNIT_OK) return status;
  status = unit_check_skip(skip, output_shape->c);
  if (status != UNIT_OK) return status;
  need = unit_conv_bucketed_min_scratch_bytes(params, input_shape, filter_shape,
                                              output_shape, skip);
  if (need == 0u) return UNIT_ERR_OVERFLOW; /* shapes and skip are valid */
  if (!scratch || scratch_bytes < need) return UNIT_ERR_SCRATCH;
#if UNIT_COUNTERS
  if (stats)
    stats->macs_total += (uint64_t)output_shape->n * output_shape->h *
                         output_shape->w * output_shape->c * filter_shape->h *
                         filter_shape->w * filter_shape->c;
#endif
  /* the most output rows whose block fits (at least one: need) */
  for (block_rows = (ptrdiff_t)output_shape->h; block_rows > 1; --block_rows) {
    const size_t bytes = bucketed_bytes(p, input_shape, filter_shape,
                                        output_shape, (size_t)block_rows);
    if (bytes != 0u && bytes <= scratch_bytes) break;
  }
  if (!bucket_geometry(input_shape, filter_shape, output_shape, p, &bg))
    return UNIT_ERR_OVERFLOW; /* not reached: need != 0 */
  unit_conv_geometry(p, input_shape, filter_shape, output_shape, &g);
  unit_tap_plan(&g, &plan);
  taps = (size_t)(g.k_h * g.k_w * g.in_c);
  positions = (bucket_position_t *)scratch;
  tau = (int16_t *)(positions + g.k_h * g.k_w);
  quotient_bytes = (size_t)(g.k_h * g.k_w) * sizeof(bucket_position_t) +
                   unit_quotient_bytes(taps, 1);
  peak = (int16_t *)((uint8_t *)scratch + quotient_bytes);
  quotient_bytes += unit_quotient_bytes((size_t)g.in_c, 1);
  acc = (int32_t *)((uint8_t *)scratch + quotient_bytes);
  lists = (uint8_t *)(acc + block_rows * bg.acc_row);
  input_offset = (int16_t)p->input_offset;
  { /* no weight's quotient is below the smallest T >> 7 (|w| <= 128) */
    ptrdiff_t k;
    int16_t t_min = INT16_MAX;
    for (k = 0; k < g.out_c / skip->group_size; ++k)
      if (skip->thresholds[k] < t_min) t_min = skip->thresholds[k];
    least = (int16_t)(t_min > 0 ? t_min >> 7 : 0);
  }
  for (b = 0; b < g.batches; ++b, input += g.in_image) {
    for (row0 = 0; row0 < g.out_h; row0 += block_rows) {
      const ptrdiff_t row_end =
          row0 + block_rows < g.out_h ? row0 + block_rows : g.out_h;
      const ptrdiff_t rows = row_end - row0;
      const ptrdiff_t positions_in_block = rows * bg.acc_row;
      const ptrdiff_t top = row0 * g.stride_h - g.pad_h;
      const ptrdiff_t bottom =
          (row_end - 1) * g.stride_h - g.pad_h + (g.k_h - 1) * g.dilation_h + 1;
      const ptrdiff_t iy0 = top > 0 ? top : 0;
      const ptrdiff_t iy1 = bottom < g.in_h ? bottom : g.in_h;
      int8_t *out_block = output + (b * g.out_h + row0) * g.out_w * g.out_c;
      build_lists(&g, &bg, input, iy0, iy1, input_offset, least, lists, peak);
      plan_positions(&g, &bg, &plan, iy0, row0, row_end, positions);
      for (oc = 0; oc < g.out_c; ++oc) {
        const int8_t *filter_oc = filter + (size_t)oc * taps;
        const int32_t bias_oc = bias ? bias[oc] : 0;
        unit_divisor_group_t group;
        uint64_t executed;
        unit_divisor_group_init(&group, skip->thresholds[oc / skip->group_size],
                                skip->division);
        unit_weight_quotients(&group, skip->division, filter_oc, taps, 1, tau);
        for (pos = 0; pos < positions_in_block; ++pos) acc[pos] = bias_oc;
        executed = bucketed_channel(&g, &bg, positions, lists, peak, tau,
                                    filter_oc, input_offset, acc);
        /* acc_row == out_w: the block's accumulators are its outputs' */
        unit_requantize_run(acc, rows * g.out_w, out_block + oc, g.out_c,
                            requant->multiplier[oc], requant->shift[oc], p);
        unit_stats_add_channel(stats, oc, executed);
      }
    }
  }
  (void)stats;
  return UNIT_OK;
}
