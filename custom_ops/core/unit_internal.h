/* Private helpers shared by the kernel core's source files (not part of the
 * public API).  Inline so that the inner loops stay call-free. */
#ifndef TFLM_UNIT_INTERNAL_H_
#define TFLM_UNIT_INTERNAL_H_

#include "unit_core.h"
#include "unit_port.h"

/* ---- argument validation (once per call, never per MAC) ---- */

/* The largest element count / index the conv-like kernels accept: their
 * geometry is in ptrdiff_t (16 bits on MSP430) and int32. */
#if PTRDIFF_MAX > INT32_MAX
#define UNIT_INDEX_MAX ((int32_t)INT32_MAX)
#else
#define UNIT_INDEX_MAX ((int32_t)PTRDIFF_MAX)
#endif
/* The same for ops indexed with int32 and size_t (pooling, add, mean, ...). */
#if SIZE_MAX > INT32_MAX
#define UNIT_COUNT_MAX ((int32_t)INT32_MAX)
#else
#define UNIT_COUNT_MAX ((int32_t)SIZE_MAX)
#endif

/* a * b for a, b >= 0 when the product is <= limit (limit <= INT32_MAX),
 * else -1.  Both factors are first bounded by the limit, so the product fits
 * 32 unsigned bits where the limit is 16-bit (MSP430: a 16 x 16 multiply),
 * 64 bits otherwise; no division. */
static inline int32_t unit_mul_limit(int32_t a, int32_t b, int32_t limit) {
  if (a < 0 || b < 0) return -1;
  if (a == 0 || b == 0) return 0; /* e.g. (1 - 1) taps * any dilation */
  if (a > limit || b > limit) return -1;
  if (a <= 0xFFFF && b <= 0xFFFF) {
    const uint32_t p = (uint32_t)a * (uint32_t)b;
    return p > (uint32_t)limit ? -1 : (int32_t)p;
  } else {
    const uint64_t p = (uint64_t)a * (uint64_t)b;
    return p > (uint64_t)limit ? -1 : (int32_t)p;
  }
}

/* a + b for a, b >= 0 when the sum is <= limit, else -1. */
static inline int32_t unit_add_limit(int32_t a, int32_t b, int32_t limit) {
  if (a < 0 || b < 0 || a > limit || b > limit - a) return -1;
  return a + b;
}

/* n * h * w * c of a shape with every dim > 0, if <= limit; else -1. */
static inline int32_t unit_shape_count(const unit_shape_t *s, int32_t limit) {
  if (s->n <= 0 || s->h <= 0 || s->w <= 0 || s->c <= 0) return -1;
  return unit_mul_limit(unit_mul_limit(unit_mul_limit(s->n, s->h, limit),
                                       s->w, limit),
                        s->c, limit);
}

/* a * b + c in size_t, 0 on overflow (a scratch size). */
static inline size_t unit_size_mul_add(size_t a, size_t b, size_t c) {
  if (a != 0u && b > (SIZE_MAX - c) / a) return 0u;
  return a * b + c;
}

static inline int unit_int8_value(int32_t v) { return v >= -128 && v <= 127; }

/* Requantisation of `channels` output channels as TFLM's
 * MultiplyByQuantizedMultiplier accepts it: multiplier >= 0, shift in
 * [-31, 30].  One pass over the channels per call. */
static inline unit_status_t unit_check_requant(const unit_requant_t *rq,
                                               int32_t channels) {
  int32_t c;
  if (!rq || !rq->multiplier || !rq->shift) return UNIT_ERR_NULL;
  for (c = 0; c < channels; ++c)
    if (rq->multiplier[c] < 0 || rq->shift[c] < -31 || rq->shift[c] > 30)
      return UNIT_ERR_REQUANT;
  return UNIT_OK;
}

/* Shared argument checks of the fully connected kernels (unit_fc.c). */
unit_status_t unit_check_fc_args(const unit_fc_params_t *params,
                                 const unit_requant_t *requant,
                                 int32_t batches, int32_t input_depth,
                                 int32_t output_depth);

/* The quantised clamp of an int8 output. */
static inline unit_status_t unit_check_act_int8(int32_t act_min,
                                                int32_t act_max) {
  if (!unit_int8_value(act_min) || !unit_int8_value(act_max) ||
      act_min > act_max)
    return UNIT_ERR_ACTIVATION;
  return UNIT_OK;
}

/* One spatial dimension of a conv / depthwise / pool call, all values > 0
 * (pad >= 0) already: 0 <= pad < effective filter size and
 * (out - 1) * stride - pad < in (every output window starts before the
 * input's end) and (out - 1) * stride + effective - in <= 2 * pad + 1 (no
 * more padding needed than TFLite's top + bottom), as every TFLite SAME /
 * VALID geometry is (UNIT_ERR_SHAPE);
 * and every index the kernels form, (out - 1) * stride + effective filter,
 * in + pad + stride, within `limit` (UNIT_ERR_OVERFLOW).  The stride only
 * matters when out > 1. */
unit_status_t unit_check_spatial(int32_t in, int32_t filter, int32_t stride,
                                 int32_t dilation, int32_t pad, int32_t out,
                                 int32_t limit);

#if UNIT_COUNTERS
#define UNIT_COUNT_ADD(counter, n) ((counter) += (uint64_t)(n))
#else
#define UNIT_COUNT_ADD(counter, n) ((void)0)
#endif

/* Adds the multiplications executed for one output channel to the stats
 * (no-op when counters are compiled out or stats is NULL). */
static inline void unit_stats_add_channel(unit_stats_t *stats, ptrdiff_t channel,
                                          uint64_t executed) {
#if UNIT_COUNTERS
  if (stats) {
    stats->macs_executed += executed;
    if (stats->channel_executed) stats->channel_executed[channel] += executed;
  }
#else
  (void)stats;
  (void)channel;
  (void)executed;
#endif
}

/* A group's threshold prepared for repeated division: the threshold itself
 * and, for the `tree` mode, the table of T_q >> e for e = 0..7. */
typedef struct {
  int16_t t;
  int16_t table[8];
} unit_divisor_group_t;

static inline void unit_divisor_group_init(unit_divisor_group_t *group,
                                           int16_t t_q,
                                           unit_division_t mode) {
  group->t = t_q > 0 ? t_q : 0;
  if (mode == UNIT_DIV_TREE) unit_shift_table(group->t, group->table);
}

/* floor(log2 d) for d in [1, 255], found the way the mode says. */
static inline uint8_t unit_floor_log2(uint8_t d, unit_division_t mode) {
  uint8_t e = 0;
  switch (mode) {
    case UNIT_DIV_TREE:
      return unit_tree_exponent(d);
    case UNIT_DIV_CLZ:
#if defined(__GNUC__) || defined(__clang__)
      return (uint8_t)((int)(8 * sizeof(unsigned long) - 1) -
                       __builtin_clzl((unsigned long)d));
#endif
      /* no clz instruction: fall through to counting shifts */
    case UNIT_DIV_SHIFT:
    case UNIT_DIV_EXACT:
    default:
      while (d > 1u) { /* shift d right until it is 1 */
        d = (uint8_t)(d >> 1);
        e++;
      }
      return e;
  }
}

/* The group's T_q divided by d (1..255).  `e` must be unit_floor_log2(d)
 * for the power-of-two modes (unused by `exact`). */
static inline int16_t unit_group_quotient(const unit_divisor_group_t *group,
                                          uint8_t d, uint8_t e,
                                          unit_division_t mode) {
  if (mode == UNIT_DIV_EXACT) return (int16_t)(group->t / (int16_t)d);
  if (mode == UNIT_DIV_TREE) return group->table[e];
  return (int16_t)(group->t >> e);
}

/* floor(log2 d) for d in [1, 255] (entry 0 is 0), unit_division.c: the
 * power-of-two modes' exponent of a weight in one load. */
extern const uint8_t unit_floor_log2_table[256];

/* tau[k] = T_q / |w_k| for the `count` weights weights[k * stride] of one
 * output channel (the conv/depthwise scratch).  A zero weight gets
 * INT16_MAX, so the compare |x'| <= tau skips it outright.  The power-of-two
 * modes all give T_q >> floor(log2 |w|) (however they find the exponent), so
 * here each quotient is two table loads: the exponent from
 * unit_floor_log2_table and T_q >> e from the group's table of 8. */
static inline void unit_weight_quotients(const unit_divisor_group_t *group,
                                         unit_division_t mode,
                                         const int8_t *weights, size_t count,
                                         size_t stride, int16_t *tau) {
  int16_t shifted[8];
  const int16_t *table = group->table;
  if (mode == UNIT_DIV_EXACT) {
    for (; count != 0u; --count, weights += stride, ++tau) {
      const int16_t w = *weights;
      *tau = w == 0 ? INT16_MAX
                    : (int16_t)(group->t / (int16_t)(w < 0 ? -w : w));
    }
    return;
  }
  if (mode != UNIT_DIV_TREE) { /* the tree mode's group already has it */
    unit_shift_table(group->t, shifted);
    table = shifted;
  }
  for (; count != 0u; --count, weights += stride, ++tau) {
    const int16_t w = *weights;
    *tau = w == 0 ? INT16_MAX
                  : table[unit_floor_log2_table[(uint8_t)(w < 0 ? -w : w)]];
  }
}

/* -zero_point of an int8 tensor: the range that keeps x' and x' * w in int16. */
static inline int unit_input_offset_valid(int32_t input_offset) {
  return input_offset >= -127 && input_offset <= 128;
}

static inline int unit_division_valid(unit_division_t mode) {
  return mode == UNIT_DIV_EXACT || mode == UNIT_DIV_SHIFT ||
         mode == UNIT_DIV_TREE || mode == UNIT_DIV_CLZ;
}

/* Validates a skip setting against the output channel count. */
static inline unit_status_t unit_check_skip(const unit_skip_t *skip,
                                            int32_t channels) {
  if (skip == 0 || skip->thresholds == 0) return UNIT_OK;
  if (skip->group_size <= 0 || channels % skip->group_size != 0)
    return UNIT_ERR_GROUP;
  if (!unit_division_valid(skip->division)) return UNIT_ERR_DIVISION;
  return UNIT_OK;
}

/* a + b wrapping modulo 2^32 as TFLM's int32 arithmetic does on real
 * hardware, without C's signed-overflow undefined behaviour (the same
 * instruction). */
static inline int32_t unit_wrap_add32(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* Requantise an int32 accumulator to int8 with the output clamp. */
static inline int8_t unit_requantize(int32_t acc, int32_t multiplier,
                                     int32_t shift, int32_t output_offset,
                                     int32_t act_min, int32_t act_max) {
  acc = unit_multiply_by_quantized_multiplier(acc, multiplier, shift);
  acc = unit_wrap_add32(acc, output_offset);
  if (acc < act_min) acc = act_min;
  if (acc > act_max) acc = act_max;
  return (int8_t)acc;
}

#if defined(UNIT_PORT_REQUANTIZE)
/* A run of requantisations for the MSP430 port's assembly
 * (unit_msp430_requant.S); field offsets fixed as for unit_tap_walk_t. */
typedef struct {
  const int32_t *acc;
  int8_t *out;
  uint16_t n;         /* > 0 */
  int16_t out_stride; /* bytes between outputs */
  int32_t multiplier;
  int16_t shift, output_offset, act_min, act_max;
} unit_requant_run_t;
typedef char unit_requant_run_layout_check[sizeof(unit_requant_run_t) == 20 ? 1 : -1];
void unit_msp430_requantize_run(unit_requant_run_t *run);
#endif

/* out[k * out_stride] = requantised acc[k] for k < n: one output channel's
 * block of a conv or depthwise conv. */
static inline void unit_requantize_run(const int32_t *acc, ptrdiff_t n,
                                       int8_t *out, ptrdiff_t out_stride,
                                       int32_t multiplier, int32_t shift,
                                       const unit_conv_params_t *p) {
#if defined(UNIT_PORT_REQUANTIZE)
  if (n > 0 && p->output_offset >= INT16_MIN && p->output_offset <= INT16_MAX &&
      p->act_min >= INT16_MIN && p->act_max <= INT16_MAX) {
    unit_requant_run_t run;
    run.acc = acc;
    run.out = out;
    run.n = (uint16_t)n;
    run.out_stride = (int16_t)out_stride;
    run.multiplier = multiplier;
    run.shift = (int16_t)shift;
    run.output_offset = (int16_t)p->output_offset;
    run.act_min = (int16_t)p->act_min;
    run.act_max = (int16_t)p->act_max;
    unit_msp430_requantize_run(&run);
    return;
  }
#endif
  for (; n > 0; --n, ++acc, out += out_stride)
    *out = unit_requantize(*acc, multiplier, shift, p->output_offset,
                           p->act_min, p->act_max);
}

static inline int16_t unit_abs16(int16_t v) { return v < 0 ? (int16_t)-v : v; }

/* |x'| <= tau as one unsigned compare: -tau <= x' <= tau  <=>
 * (uint16_t)(x' + tau) <= 2 * tau, exact for tau in [0, 32767] and
 * |x'| <= 255 (x' + tau never wraps past 2 * tau).  On 16-bit cores this
 * avoids the sign tricks of an abs(). */
static inline int unit_tap_skipped(int16_t xv, int16_t tau) {
  return (uint16_t)((uint16_t)xv + (uint16_t)tau) <=
         (uint16_t)((uint16_t)tau << 1);
}

/* The dense dot product of FULLY_CONNECTED over n contiguous inputs and
 * weights.  Pointer walks and a size_t counter keep them in
 * 16-bit arithmetic on 16-bit cores; x' and every product fit int16
 * (|x'| <= 255, |w| <= 128), only the accumulator is 32 bits. */
#if defined(UNIT_PORT_TAP_WALK)
/* unit_msp430_tap.S: the same sum in the multiplier's MAC registers. */
int32_t unit_msp430_dot(const int8_t *x, const int8_t *w, size_t n,
                        int16_t input_offset);
#endif
static inline int32_t unit_dot_int8(const int8_t *x, const int8_t *w, size_t n,
                                    int16_t input_offset) {
  int32_t acc = 0;
#if defined(UNIT_PORT_TAP_WALK)
  if (n != 0u) return unit_msp430_dot(x, w, n, input_offset);
#endif
  for (; n != 0u; --n) {
    const int16_t xv = (int16_t)(*x++ + input_offset);
    acc = unit_wrap_add32(acc, (int16_t)(xv * *w++));
  }
  return acc;
}

/* Geometry of a conv / depthwise call in the index type of the target
 * (ptrdiff_t: 16 bits on MSP430, whose whole memory is 64 KiB), so the loops
 * never need 32-bit multiplies. */
typedef struct {
  ptrdiff_t batches, in_h, in_w, in_c;
  ptrdiff_t k_h, k_w;
  ptrdiff_t out_h, out_w, out_c;
  ptrdiff_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  ptrdiff_t in_row;   /* in_w * in_c: elements per input row */
  ptrdiff_t in_image; /* in_h * in_row */
  ptrdiff_t x_step;   /* stride_w * in_c: input elements between adjacent output columns */
  ptrdiff_t row_step; /* stride_h * in_row: the same between adjacent output rows */
} unit_conv_geometry_t;

static inline void unit_conv_geometry(const unit_conv_params_t *p,
                                      const unit_shape_t *is,
                                      const unit_shape_t *fs,
                                      const unit_shape_t *os,
                                      unit_conv_geometry_t *g) {
  g->batches = is->n, g->in_h = is->h, g->in_w = is->w, g->in_c = is->c;
  g->k_h = fs->h, g->k_w = fs->w;
  g->out_h = os->h, g->out_w = os->w, g->out_c = os->c;
  /* with one output row (column) the stride is never applied: 1 keeps
   * stride * row length small for the index arithmetic */
  g->stride_h = os->h > 1 ? p->stride_h : 1;
  g->stride_w = os->w > 1 ? p->stride_w : 1;
  g->dilation_h = p->dilation_h, g->dilation_w = p->dilation_w;
  g->pad_h = p->pad_h, g->pad_w = p->pad_w;
  g->in_row = g->in_w * g->in_c;
  g->in_image = g->in_h * g->in_row;
  g->x_step = g->stride_w * g->in_c;
  g->row_step = g->stride_h * g->in_row;
}

/* Argument checks shared by conv and depthwise conv (unit_conv_common.c):
 * pointers, positive sizes / strides / dilations, offsets, clamp, spatial
 * geometry and element counts (see unit_conv_2d_int8).  Each op then checks
 * its own filter layout and shape relations, and only then the
 * requantisation of its output channels (unit_check_requant). */
unit_status_t unit_check_conv_args(const unit_conv_params_t *params,
                                   const unit_requant_t *requant,
                                   const unit_shape_t *input_shape,
                                   const int8_t *input,
                                   const unit_shape_t *filter_shape,
                                   const int8_t *filter,
                                   const unit_shape_t *output_shape,
                                   const int8_t *output);

/* The checks common to the int8 and float conv-like kernels: shapes,
 * strides, dilations, padding, geometry and counts (no pointers). */
unit_status_t unit_check_conv_geometry(int32_t stride_h, int32_t stride_w,
                                       int32_t dilation_h, int32_t dilation_w,
                                       int32_t pad_h, int32_t pad_w,
                                       const unit_shape_t *input_shape,
                                       const unit_shape_t *filter_shape,
                                       const unit_shape_t *output_shape);

/* The output positions [lo, hi) at which kernel offset `offset` (= k *
 * dilation) reads inside an input of in_size (unit_conv_common.c). */
void unit_tap_range(ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t offset,
                    ptrdiff_t in_size, ptrdiff_t out_size, ptrdiff_t *lo,
                    ptrdiff_t *hi);

/* The output rectangle one kernel tap (ky, kx) reaches within the block of
 * output rows [row0, ...) being accumulated, and the input offset it reads
 * at the rectangle's first position (channel not added). */
typedef struct {
  ptrdiff_t oy_lo, oy_hi, ox_lo, ox_hi;
  ptrdiff_t row0;     /* first output row of the block: acc[0] is (row0, 0) */
  ptrdiff_t y_offset; /* row part of the first input element */
  ptrdiff_t x_offset; /* column part */
  ptrdiff_t acc_offset; /* (oy_lo - row0) * out_w: the first accumulator */
  ptrdiff_t x_span;     /* (ox_hi - ox_lo) * x_step: input bytes of a row */
} unit_tap_rect_t;

static inline void unit_tap_rows(const unit_conv_geometry_t *g, ptrdiff_t ky,
                                 ptrdiff_t row0, ptrdiff_t row_end,
                                 unit_tap_rect_t *r) {
  unit_tap_range(g->stride_h, g->pad_h, ky * g->dilation_h, g->in_h, g->out_h,
                 &r->oy_lo, &r->oy_hi);
  if (r->oy_lo < row0) r->oy_lo = row0;
  if (r->oy_hi > row_end) r->oy_hi = row_end;
  if (r->oy_lo > r->oy_hi) r->oy_lo = r->oy_hi;
  r->row0 = row0;
  r->acc_offset = (r->oy_lo - row0) * g->out_w;
  /* formed only for a non-empty range: then it is an input row's offset */
  r->y_offset = r->oy_lo < r->oy_hi
                    ? (r->oy_lo * g->stride_h - g->pad_h + ky * g->dilation_h) *
                          g->in_row
                    : 0;
}

/* Scratch layout of conv / depthwise: the int16 quotients of one channel
 * (rounded up to 4 bytes), then int32 accumulators for as many whole output
 * rows as fit (all of them: fastest; one row: the minimum). */
static inline size_t unit_quotient_bytes(size_t taps, int skipping) {
  return skipping ? (taps * sizeof(int16_t) + 3u) & ~(size_t)3u : 0u;
}

/* Scratch of conv / depthwise: the quotients of `taps` weights when
 * skipping, plus int32 accumulators for `rows` output rows. */
static inline size_t unit_conv_block_scratch_bytes(size_t taps,
                                                   const unit_skip_t *skip,
                                                   const unit_shape_t *output,
                                                   size_t rows) {
  const int skipping = skip && skip->thresholds;
  const size_t quotients =
      skipping ? unit_size_mul_add(taps, sizeof(int16_t), 3u) & ~(size_t)3u
               : 0u;
  if (skipping && quotients == 0u) return 0u; /* overflow */
  return unit_size_mul_add(rows * (size_t)output->w, sizeof(int32_t),
                           quotients);
}

static inline void unit_tap_columns(const unit_conv_geometry_t *g,
                                    ptrdiff_t kx, unit_tap_rect_t *r) {
  unit_tap_range(g->stride_w, g->pad_w, kx * g->dilation_w, g->in_w, g->out_w,
                 &r->ox_lo, &r->ox_hi);
  r->x_offset = r->ox_lo < r->ox_hi
                    ? (r->ox_lo * g->stride_w - g->pad_w + kx * g->dilation_w) *
                          g->in_c
                    : 0;
  r->x_span = (r->ox_hi - r->ox_lo) * g->x_step;
}

/* The column part of every kernel column's rectangle, computed once per
 * call (it depends on neither the output channel nor the row block) for
 * kernels up to UNIT_TAP_PLAN_MAX wide: on 16-bit cores each rectangle's
 * multiplies are helper calls. */
#define UNIT_TAP_PLAN_MAX 8
typedef struct {
  ptrdiff_t ox_lo, ox_hi, x_offset, x_span;
  /* conv without dilation: the kernel columns from this one on that reach
   * the same output columns, and their input channels in all (in_c each):
   * their inputs and weights are contiguous, so one walk covers them */
  ptrdiff_t merged, channels;
} unit_tap_span_t;
typedef struct {
  ptrdiff_t planned; /* k_w, or 0 when wider than UNIT_TAP_PLAN_MAX */
  unit_tap_span_t col[UNIT_TAP_PLAN_MAX];
} unit_tap_plan_t;

static inline void unit_tap_plan(const unit_conv_geometry_t *g,
                                 unit_tap_plan_t *plan) {
  ptrdiff_t kx;
  unit_tap_rect_t r;
  plan->planned = g->k_w <= UNIT_TAP_PLAN_MAX ? g->k_w : 0;
  for (kx = 0; kx < plan->planned; ++kx) {
    unit_tap_columns(g, kx, &r);
    plan->col[kx].ox_lo = r.ox_lo, plan->col[kx].ox_hi = r.ox_hi;
    plan->col[kx].x_offset = r.x_offset, plan->col[kx].x_span = r.x_span;
  }
  for (kx = plan->planned; kx-- > 0;) { /* from the right: runs of equal columns */
    unit_tap_span_t *c = &plan->col[kx];
    c->merged = 1;
    if (g->dilation_w == 1 && kx + 1 < plan->planned &&
        c[1].ox_lo == c->ox_lo && c[1].ox_hi == c->ox_hi)
      c->merged += c[1].merged;
    c->channels = c->merged * g->in_c;
  }
}

/* unit_tap_columns from the plan when it holds kx. */
static inline void unit_tap_planned_columns(const unit_conv_geometry_t *g,
                                            const unit_tap_plan_t *plan,
                                            ptrdiff_t kx, unit_tap_rect_t *r) {
  if (kx < plan->planned) {
    r->ox_lo = plan->col[kx].ox_lo, r->ox_hi = plan->col[kx].ox_hi;
    r->x_offset = plan->col[kx].x_offset, r->x_span = plan->col[kx].x_span;
  } else {
    unit_tap_columns(g, kx, r);
  }
}

static inline int unit_tap_rect_empty(const unit_tap_rect_t *r) {
  return r->oy_lo == r->oy_hi || r->ox_lo == r->ox_hi;
}

#if defined(UNIT_PORT_TAP_WALK)
#if UNIT_COUNTERS
#error "the port's tap walk does not count MACs: build with -DUNIT_COUNTERS=0"
#endif
/* The walks of one kernel position over a run of input channels, for the
 * MSP430 port's assembly (unit_msp430_tap.S: it keeps each weight in the
 * hardware multiplier's operand register for its whole walk).  Field
 * offsets are fixed: 16-bit pointers, 2 bytes per field. */
typedef struct {
  const int8_t *x;      /* channel 0's input at the rectangle's first position */
  int32_t *acc;         /* accumulator of that position */
  uint16_t width;       /* positions per row (> 0) */
  uint16_t height;      /* rows (> 0) */
  int16_t x_step;       /* bytes between the inputs of adjacent positions */
  int16_t x_row_gap;    /* bytes from after a row's last input to the next row's first */
  int16_t acc_row_gap;  /* the same for accumulators */
  int16_t input_offset;
  const int8_t *w;      /* the channels' weights, one byte apart */
  const int16_t *tau;   /* their quotients, or NULL: dense */
  uint16_t channels;    /* > 0; the next channel's input is one byte on */
  int16_t scratch[3];   /* the assembly's own (weight, skip range) */
} unit_tap_walk_t;
typedef char unit_tap_walk_layout_check[sizeof(unit_tap_walk_t) == 28 ? 1 : -1];
void unit_msp430_tap_walk(unit_tap_walk_t *walk);
#endif

/* Weight-stationary accumulation of one kernel position (ky, kx) over its
 * rectangle into the block's accumulators acc[(oy - row0) * out_w + ox],
 * for `channels` input channels in turn: channel c's weight is w[c], its
 * input at the rectangle's first position x_first[c].  tau NULL: dense;
 * otherwise channel c skips |x'| <= tau[c], and a channel whose tau covers
 * every |x'| is not walked at all.  Returns the multiplications executed
 * (counted in host builds). */
uint64_t unit_accumulate_tap(const unit_conv_geometry_t *g,
                             const unit_tap_rect_t *rect, const int8_t *x_first,
                             const int8_t *w, const int16_t *tau,
                             ptrdiff_t channels, int16_t input_offset,
                             int32_t *acc);

/* The dense (builtin) CONV_2D inner loops, output-stationary: a rectangle of
 * output positions that all read the same kernel window (the window clipped
 * to the input the same way at each of them), each position's sum formed in
 * one accumulator (the MSP430's multiplier accumulates in its own result
 * registers) and stored once:
 *   acc[pos] = bias + sum over the window of (x + input_offset) * w.
 * The window is `rows` kernel rows of `cols` runs of `run` contiguous taps;
 * after a run the input and weight pointers move on by run + *_col_gap,
 * after a kernel row by *_row_gap more.  Positions are x_step input bytes
 * apart; after a row of `width` positions the input moves x_pos_row_gap
 * further and the accumulators acc_row_gap elements.  Every field is an
 * index-sized integer, so on the MSP430 (16-bit pointers and ptrdiff_t) the
 * layout is fixed for the assembly (unit_msp430_tap.S). */
typedef struct {
  const int8_t *x;         /* the first position's first tap */
  const int8_t *w;         /* the window's first weight */
  int32_t *acc;            /* the first position's accumulator */
  size_t width, height;    /* positions per row, rows of positions (> 0) */
  ptrdiff_t x_step;        /* input bytes between adjacent positions */
  ptrdiff_t x_pos_row_gap; /* after a row of positions, input bytes */
  ptrdiff_t acc_row_gap;   /* the same in accumulators */
  size_t rows;             /* kernel rows in the window (> 0) */
  ptrdiff_t x_row_gap, w_row_gap;
  size_t cols;             /* runs per kernel row (> 0) */
  ptrdiff_t x_col_gap, w_col_gap;
  size_t run;              /* taps per run (> 0) */
  int16_t input_offset;
  int32_t bias;
  int16_t scratch[6];      /* the assembly's own */
} unit_window_walk_t;
#if defined(__MSP430__)
typedef char unit_window_walk_layout_check[sizeof(unit_window_walk_t) == 48 ? 1 : -1];
#endif
#if defined(UNIT_PORT_TAP_WALK)
void unit_msp430_window_walk(unit_window_walk_t *walk);
#endif

/* Runs one window walk (the port's assembly on the MSP430); returns the
 * multiplications executed. */
uint64_t unit_accumulate_window(unit_window_walk_t *walk);

/* The dense CONV_2D of one output channel over the block of output rows
 * [row0, row_end): acc[(oy - row0) * out_w + ox] = bias + the window's sum,
 * one window walk per group of positions that read the same clipped window
 * (the interior at once, border rows and columns alone).  filter_oc is the
 * channel's [kh, kw, Ci] weights.  Returns the multiplications executed. */
uint64_t unit_conv_dense_block(const unit_conv_geometry_t *g,
                               const int8_t *input, const int8_t *filter_oc,
                               int32_t bias, int16_t input_offset,
                               int32_t *acc, ptrdiff_t row0,
                               ptrdiff_t row_end);

/* A weight is skipped at every position when its quotient covers every
 * possible |x'| (<= 255), which includes zero weights (tau = INT16_MAX). */
#define UNIT_TAU_SKIPS_ALL(tau) ((tau) >= 255)

/* ---- gemmlowp fixed point shared by SOFTMAX, LOGISTIC and TANH
 * (unit_activation.c); raw int32 with N integer bits, 31 - N fraction bits */

/* x * 2^exponent (exponent 1..30), saturating (SaturatingRoundingMultiplyByPOT). */
int32_t unit_fp_saturating_shift_left(int32_t x, int32_t exponent);
/* exp(a) for a <= 0 given with integer_bits (1..5) integer bits, Q0 result. */
int32_t unit_fp_exp_on_negative_values(int32_t a, int32_t integer_bits);
/* 1 / (1 + a) for a in [0, 1), Q0 -> Q0 (three Newton-Raphson steps). */
int32_t unit_fp_one_over_one_plus_x(int32_t a);
/* tflite::QuantizeMultiplierSmallerThanOneExp: a real multiplier in (0, 1)
 * as Q31 + a shift <= 0; 0 when out of range (unit_add.c). */
int unit_quantize_multiplier_smaller_than_one(double real_multiplier,
                                              int32_t *multiplier,
                                              int32_t *shift);

/* ---- shared by the int8 and float32 pooling / reduction kernels ---- */

/* Pooling geometry (unit_pool.c): window and strides positive, pad >= 0,
 * both spatial dims as TFLite computes them (unit_check_spatial) and the
 * tensors within the int32 / size_t index range. */
unit_status_t unit_pool_geometry(int32_t filter_h, int32_t filter_w,
                                 int32_t stride_h, int32_t stride_w,
                                 int32_t pad_h, int32_t pad_w,
                                 const unit_shape_t *in,
                                 const unit_shape_t *out);

/* Walks an odometer one step over the dims listed in `dims_to_walk`;
 * returns 0 when it wraps around to all zeros. */
static inline int unit_odometer_step(int32_t count,
                                     const int32_t *dims_to_walk,
                                     const int32_t *input_dims,
                                     int32_t *index) {
  int32_t k;
  for (k = count - 1; k >= 0; --k) {
    const int32_t d = dims_to_walk[k];
    if (++index[d] < input_dims[d]) return 1;
    index[d] = 0;
  }
  return 0;
}

/* The walk of a reduction over the axes set in axis_mask (MEAN, int8 and
 * float32): row-major strides, the kept and reduced dims, and the reduced
 * element count.  Each output is an odometer step over `kept`; its elements
 * one over `reduced`, at unit_reduce_offset from unit_reduce_base. */
#define UNIT_REDUCE_MAX_DIMS 6 /* UNIT_MAX_DIMS of unit_ops.h (checked there) */
typedef struct {
  int32_t stride[UNIT_REDUCE_MAX_DIMS], index[UNIT_REDUCE_MAX_DIMS];
  int32_t kept[UNIT_REDUCE_MAX_DIMS], reduced[UNIT_REDUCE_MAX_DIMS];
  int32_t num_kept, num_reduced, count;
} unit_reduce_t;

/* UNIT_ERR_ARG (rank outside 1..UNIT_REDUCE_MAX_DIMS, no axis or one past
 * the rank, a dim <= 0), UNIT_ERR_OVERFLOW (more elements than the index
 * type holds) or UNIT_ERR_SHAPE (more than max_count reduced elements per
 * output). */
static inline unit_status_t unit_reduce_init(unit_reduce_t *r, int32_t num_dims,
                                             const int32_t *input_dims,
                                             uint8_t axis_mask,
                                             int32_t max_count) {
  int32_t d, s = 1;
  if (num_dims < 1 || num_dims > UNIT_REDUCE_MAX_DIMS ||
      (axis_mask >> num_dims) != 0 || axis_mask == 0)
    return UNIT_ERR_ARG;
  for (d = num_dims - 1; d >= 0; --d) {
    if (input_dims[d] <= 0) return UNIT_ERR_ARG;
    r->stride[d] = s;
    s = unit_mul_limit(s, input_dims[d], UNIT_COUNT_MAX);
    if (s < 0) return UNIT_ERR_OVERFLOW;
    r->index[d] = 0;
  }
  r->num_kept = r->num_reduced = 0;
  r->count = 1;
  for (d = 0; d < num_dims; ++d) {
    if (axis_mask & (1u << d)) {
      r->reduced[r->num_reduced++] = d;
      if (r->count > max_count / input_dims[d]) return UNIT_ERR_SHAPE;
      r->count *= input_dims[d];
    } else {
      r->kept[r->num_kept++] = d;
    }
  }
  return UNIT_OK;
}

/* The offset of the current output's first element (its kept indexes). */
static inline int32_t unit_reduce_base(const unit_reduce_t *r) {
  int32_t base = 0, k;
  for (k = 0; k < r->num_kept; ++k)
    base += r->index[r->kept[k]] * r->stride[r->kept[k]];
  return base;
}

/* The offset of the current element: base plus its reduced indexes. */
static inline int32_t unit_reduce_offset(const unit_reduce_t *r, int32_t base) {
  int32_t k;
  for (k = 0; k < r->num_reduced; ++k)
    base += r->index[r->reduced[k]] * r->stride[r->reduced[k]];
  return base;
}

/* TFLM's ActivationFunctionWithMinMax for float:
 * std::min(std::max(x, lo), hi). */
static inline float unit_clamp_float(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return hi < x ? hi : x;
}

#endif
