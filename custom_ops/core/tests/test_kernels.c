/* C tests of the UnIT kernels, run under ASan/UBSan.
 *
 * The oracle here is a naive loop written from the definition of the skip
 * rule (for `exact`: skip when |x' * w| <= T_q, the product form the kernels
 * never compute), so the kernels' quotient-and-compare implementation is
 * checked against the rule it implements, including the MAC counts. */
#include <stdlib.h>
#include <string.h>

#include "unit_core.h"
#include "unit_internal.h" /* unit_floor_log2_table */
#include "unit_test.h"

#define MAX_ELEMS 4096

static int floor_log2(int d) {
  int e = 0;
  while ((1 << (e + 1)) <= d) e++;
  return e;
}

/* The skip rule from its definition. */
static int tap_skipped(int x, int w, int t, unit_division_t mode) {
  int ax = abs(x), aw = abs(w);
  if (t < 0) t = 0;
  if (x == 0 || w == 0) return 1;
  if (mode == UNIT_DIV_EXACT) return ax * aw <= t;
  return ax <= (t >> floor_log2(aw));
}

/* Same rule for fully connected, where the input is the divisor. */
static int fc_tap_skipped(int x, int w, int t, unit_division_t mode) {
  int ax = abs(x), aw = abs(w);
  if (t < 0) t = 0;
  if (x == 0 || w == 0) return 1;
  if (mode == UNIT_DIV_EXACT) return ax * aw <= t;
  return aw <= (t >> floor_log2(ax));
}

static void test_division_exhaustive(void) {
  int t, d, bad = 0;
  for (d = 1; d <= 255; ++d) {
    const int e = floor_log2(d);
    if (unit_tree_exponent((uint8_t)d) != e) bad++;
    if (unit_floor_log2_table[d] != e) bad++; /* the conv quotients' table */
    for (t = 0; t <= 32767; ++t) {
      if (unit_divide((int16_t)t, (uint8_t)d, UNIT_DIV_EXACT) != t / d) bad++;
      if (unit_divide((int16_t)t, (uint8_t)d, UNIT_DIV_SHIFT) != t >> e) bad++;
      if (unit_divide((int16_t)t, (uint8_t)d, UNIT_DIV_TREE) != t >> e) bad++;
      if (unit_divide((int16_t)t, (uint8_t)d, UNIT_DIV_CLZ) != t >> e) bad++;
    }
  }
  CHECK(bad == 0);
  CHECK(unit_divide(-5, 3, UNIT_DIV_EXACT) == 0); /* negative T acts as 0 */
}

/* gemmlowp's SaturatingRoundingDoublingHighMul from its definition, with a
 * 64-bit product and a truncating division (the core avoids both). */
static int32_t high_mul_definition(int32_t a, int32_t b) {
  int64_t ab, nudge;
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static void test_high_mul_matches_definition(void) {
  static const int32_t edges[] = {0, 1, -1, 32767, -32768, 65535, -65536, INT32_MAX, INT32_MIN,
                                  INT32_MIN + 1, 1 << 30, -(1 << 30), 123456789, -987654321};
  const int n_edges = (int)(sizeof(edges) / sizeof(edges[0]));
  int i, j, bad = 0;
  long k;
  for (i = 0; i < n_edges; ++i)
    for (j = 0; j < n_edges; ++j)
      if (unit_saturating_rounding_doubling_high_mul(edges[i], edges[j]) !=
          high_mul_definition(edges[i], edges[j]))
        bad++;
  for (k = 0; k < 200000; ++k) {
    const int32_t a = (int32_t)((uint32_t)unit_test_rand(0, 65535) << 16 | (uint32_t)unit_test_rand(0, 65535));
    const int32_t b = (int32_t)((uint32_t)unit_test_rand(0, 65535) << 16 | (uint32_t)unit_test_rand(0, 65535));
    const int32_t small_a = a >> unit_test_rand(0, 31); /* magnitudes of every size */
    if (unit_saturating_rounding_doubling_high_mul(small_a, b) != high_mul_definition(small_a, b)) bad++;
  }
  CHECK(bad == 0);
}

/* gemmlowp's RoundingDivideByPOT from its definition: x / 2^e rounded to
 * nearest, ties away from zero, in 64-bit arithmetic. */
static int32_t divide_by_pot_definition(int32_t x, int32_t e) {
  const int64_t d = (int64_t)1 << e, v = (int64_t)x;
  const int64_t q = v >= 0 ? (2 * v + d) / (2 * d) : -((-2 * v + d) / (2 * d));
  return (int32_t)q;
}

static void test_divide_by_pot_matches_definition(void) {
  static const int32_t edges[] = {0, 1, -1, 2, -2, 3, -3, 32767, -32768, 65535, -65536,
                                  INT32_MAX, INT32_MIN, INT32_MIN + 1, 1 << 30, -(1 << 30)};
  int i, e, bad = 0;
  long k;
  for (e = 0; e < 32; ++e) {
    for (i = 0; i < (int)(sizeof(edges) / sizeof(edges[0])); ++i)
      if (unit_rounding_divide_by_pot(edges[i], e) != divide_by_pot_definition(edges[i], e)) bad++;
    for (k = 0; k < 20000; ++k) {
      const int32_t x = (int32_t)((uint32_t)unit_test_rand(0, 65535) << 16 |
                                  (uint32_t)unit_test_rand(0, 65535)) >> unit_test_rand(0, 31);
      if (unit_rounding_divide_by_pot(x, e) != divide_by_pot_definition(x, e)) bad++;
    }
  }
  CHECK(bad == 0);
}

static void test_fixed_point(void) {
  int32_t m, s;
  unit_quantize_multiplier(0.5, &m, &s);
  CHECK(m == (int32_t)1 << 30 && s == 0);
  unit_quantize_multiplier(1.0, &m, &s);
  CHECK(m == (int32_t)1 << 30 && s == 1);
  unit_quantize_multiplier(0.0, &m, &s);
  CHECK(m == 0 && s == 0);
  unit_quantize_multiplier(1e-20, &m, &s); /* below 2^-31: flushed */
  CHECK(m == 0 && s == 0);
  CHECK(unit_saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX);
  /* x * 0.5: gemmlowp's nudge makes the high-mul's ties go up for positive
   * products (2.5 -> 3) but truncate toward zero for negative ones
   * (-2.5 -> -2); the power-of-two division rounds ties away from zero. */
  CHECK(unit_multiply_by_quantized_multiplier(5, (int32_t)1 << 30, 0) == 3);
  CHECK(unit_multiply_by_quantized_multiplier(-5, (int32_t)1 << 30, 0) == -2);
  CHECK(unit_multiply_by_quantized_multiplier(1000, (int32_t)1 << 30, -2) == 125);
  CHECK(unit_rounding_divide_by_pot(-6, 2) == -2);  /* -1.5 -> -2 */
  CHECK(unit_rounding_divide_by_pot(6, 2) == 2);    /*  1.5 ->  2 */
  CHECK(unit_compute_out_size(UNIT_PADDING_SAME, 9, 3, 2, 1) == 5);
  CHECK(unit_compute_out_size(UNIT_PADDING_VALID, 9, 3, 2, 2) == 3);
  CHECK(unit_compute_padding(2, 1, 9, 3, 5) == 1);
}

static int8_t requant(int32_t acc, int32_t m, int32_t s, int32_t off, int32_t lo, int32_t hi) {
  acc = unit_multiply_by_quantized_multiplier(acc, m, s) + off;
  return (int8_t)(acc < lo ? lo : (acc > hi ? hi : acc));
}

typedef struct {
  unit_shape_t is, fs, os;
  unit_conv_params_t p;
  int depthwise;
} conv_case_t;

/* Naive conv / depthwise with the skip rule; thresholds NULL = dense. */
static uint64_t naive_conv(const conv_case_t *c, const int8_t *in, const int8_t *f,
                           const int32_t *bias, const int32_t *mult,
                           const int32_t *shift, const int16_t *thr, int group,
                           unit_division_t mode, int8_t *out) {
  uint64_t executed = 0;
  int b, oy, ox, oc, ky, kx, ic;
  const unit_conv_params_t *p = &c->p;
  for (b = 0; b < c->os.n; ++b)
    for (oy = 0; oy < c->os.h; ++oy)
      for (ox = 0; ox < c->os.w; ++ox)
        for (oc = 0; oc < c->os.c; ++oc) {
          int32_t acc = 0;
          for (ky = 0; ky < c->fs.h; ++ky)
            for (kx = 0; kx < c->fs.w; ++kx) {
              const int iy = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
              const int ix = ox * p->stride_w - p->pad_w + kx * p->dilation_w;
              if (iy < 0 || iy >= c->is.h || ix < 0 || ix >= c->is.w) continue;
              for (ic = 0; ic < (c->depthwise ? 1 : c->is.c); ++ic) {
                const int in_c = c->depthwise ? oc / p->depth_multiplier : ic;
                const int x = in[((b * c->is.h + iy) * c->is.w + ix) * c->is.c + in_c] +
                              p->input_offset;
                const int w = c->depthwise
                                  ? f[(ky * c->fs.w + kx) * c->fs.c + oc]
                                  : f[((oc * c->fs.h + ky) * c->fs.w + kx) * c->fs.c + ic];
                if (thr && tap_skipped(x, w, thr[oc / group], mode)) continue;
                acc += x * w;
                executed++;
              }
            }
          if (bias) acc += bias[oc];
          out[((b * c->os.h + oy) * c->os.w + ox) * c->os.c + oc] =
              requant(acc, mult[oc], shift[oc], p->output_offset, p->act_min, p->act_max);
        }
  return executed;
}

static void random_conv_case(conv_case_t *c, int depthwise) {
  unit_padding_t padding = unit_test_rand(0, 1) ? UNIT_PADDING_SAME : UNIT_PADDING_VALID;
  memset(c, 0, sizeof(*c));
  c->depthwise = depthwise;
  c->is.n = (int32_t)unit_test_rand(1, 2);
  c->is.h = (int32_t)unit_test_rand(4, 9);
  c->is.w = (int32_t)unit_test_rand(4, 9);
  c->is.c = (int32_t)unit_test_rand(1, 4);
  c->fs.h = (int32_t)unit_test_rand(1, 3);
  c->fs.w = (int32_t)unit_test_rand(1, 3);
  c->p.stride_h = (int32_t)unit_test_rand(1, 2);
  c->p.stride_w = (int32_t)unit_test_rand(1, 2);
  c->p.dilation_h = (int32_t)unit_test_rand(1, 2);
  c->p.dilation_w = (int32_t)unit_test_rand(1, 2);
  c->p.depth_multiplier = depthwise ? (int32_t)unit_test_rand(1, 2) : 1;
  if (depthwise) {
    c->fs.n = 1;
    c->fs.c = c->is.c * c->p.depth_multiplier;
  } else {
    c->fs.n = (int32_t)unit_test_rand(1, 6);
    c->fs.c = c->is.c;
  }
  c->os.n = c->is.n;
  c->os.c = depthwise ? c->fs.c : c->fs.n;
  c->os.h = unit_compute_out_size(padding, c->is.h, c->fs.h, c->p.stride_h, c->p.dilation_h);
  c->os.w = unit_compute_out_size(padding, c->is.w, c->fs.w, c->p.stride_w, c->p.dilation_w);
  if (c->os.h < 1) c->os.h = 1, c->p.dilation_h = 1, c->fs.h = 1;
  if (c->os.w < 1) c->os.w = 1, c->p.dilation_w = 1, c->fs.w = 1;
  c->os.h = unit_compute_out_size(padding, c->is.h, c->fs.h, c->p.stride_h, c->p.dilation_h);
  c->os.w = unit_compute_out_size(padding, c->is.w, c->fs.w, c->p.stride_w, c->p.dilation_w);
  c->p.pad_h = padding == UNIT_PADDING_SAME
                   ? unit_compute_padding(c->p.stride_h, c->p.dilation_h, c->is.h, c->fs.h, c->os.h)
                   : 0;
  c->p.pad_w = padding == UNIT_PADDING_SAME
                   ? unit_compute_padding(c->p.stride_w, c->p.dilation_w, c->is.w, c->fs.w, c->os.w)
                   : 0;
  c->p.input_offset = (int32_t)unit_test_rand(-127, 128);
  c->p.output_offset = (int32_t)unit_test_rand(-128, 127);
  c->p.act_min = unit_test_rand(0, 1) ? -128 : c->p.output_offset;
  c->p.act_max = 127;
}

static int shape_count(const unit_shape_t *s) { return s->n * s->h * s->w * s->c; }

static void fill_int8(int8_t *v, int n, int zero_percent) {
  int i;
  for (i = 0; i < n; ++i)
    v[i] = (int8_t)(unit_test_rand(0, 99) < zero_percent ? 0 : unit_test_rand(-128, 127));
}

static void test_conv_like(int depthwise) {
  static int8_t in[MAX_ELEMS], f[MAX_ELEMS], out[MAX_ELEMS], expect[MAX_ELEMS], dense[MAX_ELEMS];
  static int32_t scratch[MAX_ELEMS]; /* int32 accumulators + int16 quotients */
  int32_t bias[64], mult[64], shift[64];
  int16_t thr[64];
  int trial, i, bad_out = 0, bad_count = 0;
  for (trial = 0; trial < 300; ++trial) {
    conv_case_t c;
    unit_requant_t rq;
    unit_skip_t skip;
    unit_stats_t stats;
    uint64_t channel[64];
    uint64_t expected_executed;
    size_t scratch_bytes;
    const unit_division_t mode = (unit_division_t)(trial % 4);
    int group;
    unit_status_t st;
    random_conv_case(&c, depthwise);
    fill_int8(in, shape_count(&c.is), 10);
    fill_int8(f, shape_count(&c.fs), 10);
    for (i = 0; i < c.os.c; ++i) {
      bias[i] = (int32_t)unit_test_rand(-3000, 3000);
      unit_quantize_multiplier(0.0005 + 0.01 * (double)unit_test_rand(0, 100) / 100.0, &mult[i], &shift[i]);
    }
    group = (c.os.c % 2 == 0 && trial % 3 == 0) ? 2 : (trial % 3 == 1 ? 1 : c.os.c);
    for (i = 0; i < c.os.c / group; ++i) thr[i] = (int16_t)unit_test_rand(-10, 9000);
    rq.multiplier = mult;
    rq.shift = shift;
    skip.thresholds = thr;
    skip.group_size = group;
    skip.division = mode;
    /* Odd trials give the kernels only one or two rows of accumulators, so
     * they work through the output in row blocks. */
    scratch_bytes = sizeof(scratch);
    if (trial % 2) {
      scratch_bytes = (depthwise ? unit_depthwise_min_scratch_bytes(&c.fs, &c.os, &skip)
                                 : unit_conv_min_scratch_bytes(&c.fs, &c.os, &skip)) +
                      (size_t)(trial % 3 == 0) * (size_t)c.os.w * 4u;
      CHECK(scratch_bytes < (depthwise ? unit_depthwise_scratch_bytes(&c.fs, &c.os, &skip)
                                       : unit_conv_scratch_bytes(&c.fs, &c.os, &skip)) ||
            c.os.h <= 2);
    }
    /* dense */
    memset(&stats, 0, sizeof(stats));
    st = depthwise ? unit_depthwise_conv_2d_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, dense, NULL, scratch, scratch_bytes, &stats)
                   : unit_conv_2d_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, dense, NULL, scratch, scratch_bytes, &stats);
    CHECK(st == UNIT_OK);
    expected_executed = naive_conv(&c, in, f, bias, mult, shift, NULL, 1, mode, expect);
    if (memcmp(dense, expect, (size_t)shape_count(&c.os)) != 0) bad_out++;
    if (stats.macs_executed != expected_executed) bad_count++;
    /* UnIT at random thresholds */
    memset(&stats, 0, sizeof(stats));
    memset(channel, 0, sizeof(channel));
    stats.channel_executed = channel;
    st = depthwise ? unit_depthwise_conv_2d_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out, &skip, scratch, scratch_bytes, &stats)
                   : unit_conv_2d_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out, &skip, scratch, scratch_bytes, &stats);
    CHECK(st == UNIT_OK);
    expected_executed = naive_conv(&c, in, f, bias, mult, shift, thr, group, mode, expect);
    if (memcmp(out, expect, (size_t)shape_count(&c.os)) != 0) bad_out++;
    if (stats.macs_executed != expected_executed) bad_count++;
    {
      uint64_t sum = 0;
      for (i = 0; i < c.os.c; ++i) sum += channel[i];
      if (sum != stats.macs_executed) bad_count++;
    }
    /* T = 0 reproduces the dense result */
    for (i = 0; i < c.os.c / group; ++i) thr[i] = 0;
    st = depthwise ? unit_depthwise_conv_2d_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out, &skip, scratch, scratch_bytes, NULL)
                   : unit_conv_2d_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out, &skip, scratch, scratch_bytes, NULL);
    CHECK(st == UNIT_OK);
    if (memcmp(out, dense, (size_t)shape_count(&c.os)) != 0) bad_out++;
  }
  CHECK(bad_out == 0);
  CHECK(bad_count == 0);
}

static void test_fully_connected(void) {
  static int8_t in[MAX_ELEMS], f[MAX_ELEMS], out[MAX_ELEMS], expect[MAX_ELEMS];
  static uint8_t scratch[MAX_ELEMS * 4];
  int32_t bias[64], mult[64], shift[64];
  int16_t thr[64];
  int trial, bad_out = 0, bad_count = 0;
  for (trial = 0; trial < 300; ++trial) {
    const int batches = (int)unit_test_rand(1, 3), depth = (int)unit_test_rand(1, 40);
    const int units = (int)unit_test_rand(1, 8) * 2;
    const int group = trial % 3 == 0 ? 1 : (trial % 3 == 1 ? 2 : units);
    const unit_division_t mode = (unit_division_t)(trial % 4);
    unit_fc_params_t p;
    unit_requant_t rq;
    unit_skip_t skip;
    unit_stats_t stats;
    uint64_t executed = 0;
    int b, o, d, use_skip;
    p.input_offset = (int32_t)unit_test_rand(-127, 128);
    p.output_offset = (int32_t)unit_test_rand(-128, 127);
    p.act_min = -128;
    p.act_max = 127;
    fill_int8(in, batches * depth, 15);
    fill_int8(f, units * depth, 15);
    for (o = 0; o < units; ++o) {
      bias[o] = (int32_t)unit_test_rand(-2000, 2000);
      unit_quantize_multiplier(0.001 + 0.01 * (double)unit_test_rand(0, 100) / 100.0, &mult[o], &shift[o]);
    }
    for (o = 0; o < units / group; ++o) thr[o] = (int16_t)unit_test_rand(0, 12000);
    rq.multiplier = mult;
    rq.shift = shift;
    skip.thresholds = thr;
    skip.group_size = group;
    skip.division = mode;
    for (use_skip = 0; use_skip <= 1; ++use_skip) {
      executed = 0;
      for (b = 0; b < batches; ++b)
        for (o = 0; o < units; ++o) {
          int32_t acc = 0;
          for (d = 0; d < depth; ++d) {
            const int x = in[b * depth + d] + p.input_offset, w = f[o * depth + d];
            if (use_skip && fc_tap_skipped(x, w, thr[o / group], mode)) continue;
            acc += x * w;
            executed++;
          }
          expect[b * units + o] = requant(acc + bias[o], mult[o], shift[o], p.output_offset, -128, 127);
        }
      memset(&stats, 0, sizeof(stats));
      CHECK(unit_fully_connected_int8(&p, &rq, batches, depth, units, in, f, bias, out,
                                      use_skip ? &skip : NULL, scratch, sizeof(scratch), &stats) == UNIT_OK);
      if (memcmp(out, expect, (size_t)(batches * units)) != 0) bad_out++;
      if (stats.macs_executed != executed) bad_count++;
      if (stats.macs_total != (uint64_t)batches * depth * units) bad_count++;
    }
  }
  CHECK(bad_out == 0);
  CHECK(bad_count == 0);
}

static void test_bad_arguments(void) {
  int8_t in[16] = {0}, f[16] = {0}, out[16];
  int32_t mult[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30}, shift[4] = {0, 0, 0, 0};
  int16_t thr[4] = {1, 1, 1, 1};
  int32_t scratch[16];
  unit_shape_t is = {1, 2, 2, 1}, fs = {3, 1, 1, 1}, os = {1, 2, 2, 3};
  unit_conv_params_t p = {1, 1, 1, 1, 0, 0, 1, 0, 0, -128, 127};
  unit_fc_params_t fp = {0, 0, -128, 127};
  unit_requant_t rq;
  unit_skip_t skip = {thr, 2, UNIT_DIV_EXACT}; /* 2 does not divide 3 */
  rq.multiplier = mult;
  rq.shift = shift;
  CHECK(unit_conv_2d_int8(&p, &rq, &is, NULL, &fs, f, NULL, &os, out, NULL, NULL, 0, NULL) == UNIT_ERR_NULL);
  CHECK(unit_conv_2d_int8(&p, &rq, &is, in, &fs, f, NULL, &os, out, &skip, scratch, sizeof(scratch), NULL) == UNIT_ERR_GROUP);
  skip.group_size = 3;
  CHECK(unit_conv_2d_int8(&p, &rq, &is, in, &fs, f, NULL, &os, out, &skip, scratch, 1, NULL) == UNIT_ERR_SCRATCH);
  /* the dense path needs its accumulators too */
  CHECK(unit_conv_2d_int8(&p, &rq, &is, in, &fs, f, NULL, &os, out, NULL, NULL, 0, NULL) == UNIT_ERR_SCRATCH);
  CHECK(unit_conv_2d_int8(&p, &rq, &is, in, &fs, f, NULL, &os, out, NULL, scratch,
                          unit_conv_scratch_bytes(&fs, &os, NULL), NULL) == UNIT_OK);
  skip.division = (unit_division_t)9;
  CHECK(unit_conv_2d_int8(&p, &rq, &is, in, &fs, f, NULL, &os, out, &skip, scratch, sizeof(scratch), NULL) == UNIT_ERR_DIVISION);
  os.c = 2; /* filter has 3 outputs */
  CHECK(unit_conv_2d_int8(&p, &rq, &is, in, &fs, f, NULL, &os, out, NULL, NULL, 0, NULL) == UNIT_ERR_SHAPE);
  CHECK(unit_fully_connected_int8(&fp, &rq, 0, 4, 3, in, f, NULL, out, NULL, NULL, 0, NULL) == UNIT_ERR_ARG);
  fp.input_offset = 200; /* not -zero_point of an int8 tensor */
  CHECK(unit_fully_connected_int8(&fp, &rq, 1, 4, 3, in, f, NULL, out, NULL, NULL, 0, NULL) == UNIT_ERR_OFFSET);
  fp.input_offset = 0;
  p.input_offset = -128;
  os.c = 3;
  CHECK(unit_conv_2d_int8(&p, &rq, &is, in, &fs, f, NULL, &os, out, NULL, NULL, 0, NULL) == UNIT_ERR_OFFSET);
  p.input_offset = 0;
  os.c = 2;
  skip.division = UNIT_DIV_EXACT;
  CHECK(unit_fully_connected_int8(&fp, &rq, 1, 4, 3, in, f, NULL, out, &skip, scratch, 2, NULL) == UNIT_ERR_SCRATCH);
}

static void test_float_bitmask(void) {
  /* bitmask divides by the power of two at or below |d|. */
  CHECK(unit_divide_float(10.0f, 3.0f, UNIT_FDIV_BITMASK) == 5.0f);
  CHECK(unit_divide_float(10.0f, -0.3f, UNIT_FDIV_BITMASK) == 40.0f);
  CHECK(unit_divide_float(10.0f, 4.0f, UNIT_FDIV_BITMASK) == 2.5f);
  CHECK(unit_divide_float(10.0f, 4.0f, UNIT_FDIV_EXACT) == 2.5f);
  CHECK(unit_divide_float(0.0f, 4.0f, UNIT_FDIV_EXACT) == 0.0f);
}

int main(void) {
  test_division_exhaustive();
  test_fixed_point();
  test_divide_by_pot_matches_definition();
  test_high_mul_matches_definition();
  test_conv_like(0);
  test_conv_like(1);
  test_fully_connected();
  test_bad_arguments();
  test_float_bitmask();
  return unit_test_report("test_kernels");
}
