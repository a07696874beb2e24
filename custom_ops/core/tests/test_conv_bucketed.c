/* C tests of the bucketed CONV_2D kernel (unit_conv_bucketed.c), under
 * ASan/UBSan: outputs and executed-MAC counts (total and per channel) equal
 * unit_conv_2d_int8's over random cases — strides 1..3, dilations 1..2,
 * SAME / VALID, batches, input offsets, every division mode, group sizes,
 * thresholds from 0 to beyond every product, inputs with many zeros, weights
 * with -128 and zeros, scratch from one output row to the whole image —
 * plus the paper MNIST net's conv shapes; the dense fallback; refusals. */
#include <stdlib.h>
#include <string.h>

#include "unit_core.h"
#include "unit_test.h"

#define MAX_ELEMS 20000

static int8_t in[MAX_ELEMS], f[MAX_ELEMS], out_ref[MAX_ELEMS], out_b[MAX_ELEMS];
static int32_t scratch_ref[MAX_ELEMS], scratch_b[MAX_ELEMS];
static int32_t bias[64], mult[64], shift[64];
static int16_t thr[64];
static uint64_t chan_ref[64], chan_b[64];

typedef struct {
  unit_shape_t is, fs, os;
  unit_conv_params_t p;
} conv_case_t;

static int count(const unit_shape_t *s) { return s->n * s->h * s->w * s->c; }

static void make_case(conv_case_t *c, int n, int h, int w, int ci, int co,
                      int kh, int kw, int sh, int sw, int dh, int dw,
                      unit_padding_t padding) {
  memset(c, 0, sizeof(*c));
  c->is.n = n, c->is.h = h, c->is.w = w, c->is.c = ci;
  c->fs.n = co, c->fs.h = kh, c->fs.w = kw, c->fs.c = ci;
  c->p.stride_h = sh, c->p.stride_w = sw;
  c->p.dilation_h = dh, c->p.dilation_w = dw;
  c->p.depth_multiplier = 1;
  c->os.n = n, c->os.c = co;
  c->os.h = unit_compute_out_size(padding, h, kh, sh, dh);
  c->os.w = unit_compute_out_size(padding, w, kw, sw, dw);
  c->p.pad_h = padding == UNIT_PADDING_SAME
                   ? unit_compute_padding(sh, dh, h, kh, c->os.h) : 0;
  c->p.pad_w = padding == UNIT_PADDING_SAME
                   ? unit_compute_padding(sw, dw, w, kw, c->os.w) : 0;
  c->p.input_offset = (int32_t)unit_test_rand(-127, 128);
  c->p.output_offset = (int32_t)unit_test_rand(-128, 127);
  c->p.act_min = unit_test_rand(0, 1) ? -128 : c->p.output_offset;
  c->p.act_max = 127;
}

static void fill(const conv_case_t *c, int zero_in, int zero_w) {
  int i;
  /* zero_in: share of inputs at the zero point (x' = 0, as after ReLU) */
  for (i = 0; i < count(&c->is); ++i)
    in[i] = (int8_t)(unit_test_rand(0, 99) < zero_in ? -c->p.input_offset
                                                      : unit_test_rand(-128, 127));
  for (i = 0; i < count(&c->fs); ++i) {
    const long r = unit_test_rand(0, 99);
    f[i] = (int8_t)(r < zero_w ? 0 : r < zero_w + 3 ? -128 : unit_test_rand(-127, 127));
  }
  for (i = 0; i < c->os.c; ++i) {
    bias[i] = (int32_t)unit_test_rand(-20000, 20000);
    mult[i] = (int32_t)unit_test_rand(1 << 30, 0x7FFFFFFF);
    shift[i] = (int32_t)unit_test_rand(-12, -6);
  }
}

static int bad_out, bad_count, bad_status, bad_scratch;

/* Runs both kernels with this skip setting and compares. */
static void compare(const conv_case_t *c, const unit_skip_t *skip, int scratch_choice) {
  unit_requant_t rq;
  unit_stats_t s_ref = {0, 0, chan_ref}, s_b = {0, 0, chan_b};
  size_t need_min = unit_conv_bucketed_min_scratch_bytes(&c->p, &c->is, &c->fs, &c->os, skip);
  size_t need_all = unit_conv_bucketed_scratch_bytes(&c->p, &c->is, &c->fs, &c->os, skip);
  size_t bytes;
  unit_status_t st_ref, st_b;
  int i;
  rq.multiplier = mult, rq.shift = shift;
  if (need_min == 0u || need_all < need_min || need_all > sizeof(scratch_b)) {
    bad_scratch++;
    return;
  }
  bytes = scratch_choice == 0 ? need_min
          : scratch_choice == 1 ? need_all
                                : need_min + (size_t)unit_test_rand(0, (long)(need_all - need_min));
  memset(chan_ref, 0, sizeof(chan_ref));
  memset(chan_b, 0, sizeof(chan_b));
  memset(out_b, 0x55, sizeof(out_b));
  st_ref = unit_conv_2d_int8(&c->p, &rq, &c->is, in, &c->fs, f, bias, &c->os, out_ref,
                             skip, scratch_ref, sizeof(scratch_ref), &s_ref);
  st_b = unit_conv_2d_bucketed_int8(&c->p, &rq, &c->is, in, &c->fs, f, bias, &c->os,
                                    out_b, skip, scratch_b, bytes, &s_b);
  if (st_ref != UNIT_OK || st_b != UNIT_OK) {
    bad_status++;
    return;
  }
  if (memcmp(out_ref, out_b, (size_t)count(&c->os)) != 0) bad_out++;
  if (s_ref.macs_executed != s_b.macs_executed || s_ref.macs_total != s_b.macs_total)
    bad_count++;
  for (i = 0; i < c->os.c; ++i)
    if (chan_ref[i] != chan_b[i]) bad_count++;
}

static void random_skip(const conv_case_t *c, unit_skip_t *skip, int *group) {
  static const int sizes[] = {1, 2, 3};
  const long t_max = unit_test_rand(0, 3) == 0 ? 32767 : unit_test_rand(0, 1) ? 400 : 6000;
  int i;
  *group = unit_test_rand(0, 1) ? c->os.c : sizes[unit_test_rand(0, 2)];
  if (c->os.c % *group != 0) *group = c->os.c;
  for (i = 0; i < c->os.c / *group; ++i)
    thr[i] = (int16_t)(unit_test_rand(0, 5) == 0 ? 0 : unit_test_rand(0, t_max));
  skip->thresholds = thr;
  skip->group_size = *group;
  skip->division = (unit_division_t)unit_test_rand(0, 3);
}

static void test_random_cases(void) {
  int trial;
  bad_out = bad_count = bad_status = bad_scratch = 0;
  for (trial = 0; trial < 2500; ++trial) {
    conv_case_t c;
    unit_skip_t skip;
    int group;
    const unit_padding_t padding = unit_test_rand(0, 1) ? UNIT_PADDING_SAME : UNIT_PADDING_VALID;
    const int kh = (int)unit_test_rand(1, 4), kw = (int)unit_test_rand(1, 4);
    const int dh = (int)unit_test_rand(1, 2), dw = (int)unit_test_rand(1, 2);
    const int h = (int)unit_test_rand((kh - 1) * dh + 1, 11);
    const int w = (int)unit_test_rand((kw - 1) * dw + 1, 11);
    make_case(&c, (int)unit_test_rand(1, 2), h, w, (int)unit_test_rand(1, 4),
              (int)unit_test_rand(1, 6), kh, kw, (int)unit_test_rand(1, 3),
              (int)unit_test_rand(1, 3), dh, dw, padding);
    fill(&c, (int)unit_test_rand(0, 70), (int)unit_test_rand(0, 40));
    random_skip(&c, &skip, &group);
    compare(&c, &skip, trial % 3);
  }
  CHECK(bad_status == 0);
  CHECK(bad_scratch == 0);
  CHECK(bad_out == 0);
  CHECK(bad_count == 0);
}

/* Every division mode and a sweep of thresholds on fixed geometries: the
 * paper MNIST net's two convs (28x28x1 -> 5x5x6 VALID, 12x12x6 -> 5x5x16)
 * and a strided, dilated SAME case. */
static void test_threshold_sweep(void) {
  static const int16_t sweep[] = {0, 1, 50, 127, 128, 255, 256, 1000, 4000, 16000, 32767};
  int shape, mode, k;
  bad_out = bad_count = bad_status = bad_scratch = 0;
  for (shape = 0; shape < 3; ++shape) {
    conv_case_t c;
    if (shape == 0) make_case(&c, 1, 28, 28, 1, 6, 5, 5, 1, 1, 1, 1, UNIT_PADDING_VALID);
    else if (shape == 1) make_case(&c, 1, 12, 12, 6, 16, 5, 5, 1, 1, 1, 1, UNIT_PADDING_VALID);
    else make_case(&c, 1, 13, 10, 3, 4, 3, 3, 2, 3, 2, 1, UNIT_PADDING_SAME);
    fill(&c, 50, 10);
    for (mode = 0; mode < 4; ++mode)
      for (k = 0; k < (int)(sizeof(sweep) / sizeof(sweep[0])); ++k) {
        unit_skip_t skip;
        int i;
        for (i = 0; i < c.os.c; ++i) thr[i] = sweep[k];
        skip.thresholds = thr;
        skip.group_size = 1;
        skip.division = (unit_division_t)mode;
        compare(&c, &skip, k % 3);
      }
  }
  CHECK(bad_status == 0);
  CHECK(bad_scratch == 0);
  CHECK(bad_out == 0);
  CHECK(bad_count == 0);
}

static void test_dense_and_refusals(void) {
  conv_case_t c;
  unit_requant_t rq;
  unit_skip_t skip;
  size_t need;
  rq.multiplier = mult, rq.shift = shift;
  make_case(&c, 1, 6, 6, 2, 3, 3, 3, 1, 1, 1, 1, UNIT_PADDING_SAME);
  fill(&c, 20, 10);
  /* no thresholds: unit_conv_2d_int8, with its scratch */
  CHECK(unit_conv_bucketed_scratch_bytes(&c.p, &c.is, &c.fs, &c.os, NULL) ==
        unit_conv_scratch_bytes(&c.fs, &c.os, NULL));
  CHECK(unit_conv_2d_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out_ref, NULL,
                          scratch_ref, sizeof(scratch_ref), NULL) == UNIT_OK);
  CHECK(unit_conv_2d_bucketed_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out_b,
                                   NULL, scratch_b, sizeof(scratch_b), NULL) == UNIT_OK);
  CHECK(memcmp(out_ref, out_b, (size_t)count(&c.os)) == 0);
  thr[0] = thr[1] = thr[2] = 100;
  skip.thresholds = thr, skip.group_size = 1, skip.division = UNIT_DIV_SHIFT;
  need = unit_conv_bucketed_min_scratch_bytes(&c.p, &c.is, &c.fs, &c.os, &skip);
  CHECK(need > unit_conv_min_scratch_bytes(&c.fs, &c.os, &skip));
  CHECK(unit_conv_2d_bucketed_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out_b,
                                   &skip, scratch_b, need - 1u, NULL) == UNIT_ERR_SCRATCH);
  CHECK(unit_conv_2d_bucketed_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out_b,
                                   &skip, NULL, need, NULL) == UNIT_ERR_SCRATCH);
  CHECK(unit_conv_2d_bucketed_int8(&c.p, &rq, &c.is, NULL, &c.fs, f, bias, &c.os, out_b,
                                   &skip, scratch_b, need, NULL) == UNIT_ERR_NULL);
  skip.group_size = 2; /* does not divide 3 channels */
  CHECK(unit_conv_bucketed_min_scratch_bytes(&c.p, &c.is, &c.fs, &c.os, &skip) == 0u);
  CHECK(unit_conv_2d_bucketed_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out_b,
                                   &skip, scratch_b, sizeof(scratch_b), NULL) == UNIT_ERR_GROUP);
  skip.group_size = 1;
  skip.division = (unit_division_t)9;
  CHECK(unit_conv_2d_bucketed_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out_b,
                                   &skip, scratch_b, sizeof(scratch_b), NULL) == UNIT_ERR_DIVISION);
  skip.division = UNIT_DIV_SHIFT;
  /* a row too wide for byte columns: refused, not walked */
  make_case(&c, 1, 1, 300, 1, 1, 1, 3, 1, 1, 1, 1, UNIT_PADDING_VALID);
  CHECK(unit_conv_bucketed_min_scratch_bytes(&c.p, &c.is, &c.fs, &c.os, &skip) == 0u);
  CHECK(unit_conv_2d_bucketed_int8(&c.p, &rq, &c.is, in, &c.fs, f, bias, &c.os, out_b,
                                   &skip, scratch_b, sizeof(scratch_b), NULL) == UNIT_ERR_OVERFLOW);
  /* 250 wide with stride 2 fits */
  make_case(&c, 1, 2, 250, 1, 1, 1, 3, 1, 2, 1, 1, UNIT_PADDING_SAME);
  fill(&c, 0, 0);
  bad_out = bad_count = bad_status = bad_scratch = 0;
  compare(&c, &skip, 1);
  CHECK(bad_status == 0 && bad_scratch == 0 && bad_out == 0 && bad_count == 0);
}

int main(void) {
  test_random_cases();
  test_threshold_sweep();
  test_dense_and_refusals();
  return unit_test_report("test_conv_bucketed");
}
