/* Argument validation of every public function of the kernel core (issue
 * 13): each invalid call returns its named status, touches no output, and
 * runs clean under ASan/UBSan; the boundary values that stay valid still
 * work. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "unit_core.h"
#include "unit_ops.h"
#include "unit_test.h"

static int8_t in[64], filt[64], out[64];
static int32_t scratch[256];

/* A valid 1x4x4x2 -> 1x2x2x3 conv (3x3 filter, VALID) to mutate. */
typedef struct {
  unit_conv_params_t p;
  unit_shape_t is, fs, os;
  int32_t mult[3], shift[3], bias[3];
  unit_requant_t rq;
} conv_case_t;

static void conv_case(conv_case_t *c) {
  const unit_conv_params_t p = {1, 1, 1, 1, 0, 0, 1, 0, 0, -128, 127};
  int i;
  memset(c, 0, sizeof(*c));
  c->p = p;
  c->is.n = 1, c->is.h = 4, c->is.w = 4, c->is.c = 2;
  c->fs.n = 3, c->fs.h = 3, c->fs.w = 3, c->fs.c = 2;
  c->os.n = 1, c->os.h = 2, c->os.w = 2, c->os.c = 3;
  for (i = 0; i < 3; ++i) c->mult[i] = 1 << 30, c->shift[i] = -3, c->bias[i] = 7;
  c->rq.multiplier = c->mult;
  c->rq.shift = c->shift;
  for (i = 0; i < 64; ++i) in[i] = (int8_t)(i * 37), filt[i] = (int8_t)(i * 11 - 60);
}

static unit_status_t run_conv(conv_case_t *c) {
  return unit_conv_2d_int8(&c->p, &c->rq, &c->is, in, &c->fs, filt, c->bias,
                           &c->os, out, NULL, scratch, sizeof(scratch), NULL);
}

/* A refused call leaves the output untouched. */
static int conv_refused(conv_case_t *c, unit_status_t expected) {
  int i, untouched = 1;
  unit_status_t status;
  memset(out, 0x5A, sizeof(out));
  status = run_conv(c);
  for (i = 0; i < 64; ++i) untouched &= out[i] == 0x5A;
  if (status != expected)
    fprintf(stderr, "  got %s, expected %s\n", unit_status_name(status),
            unit_status_name(expected));
  return status == expected && untouched;
}

static void test_geometry_overflow(void) {
  conv_case_t c;
  /* dilation 2^31 - 1 with VALID: no output row fits, in 32 bits or not */
  CHECK(unit_compute_out_size(UNIT_PADDING_VALID, 8, 3, 1, INT32_MAX) == 0);
  CHECK(unit_compute_out_size(UNIT_PADDING_VALID, INT32_MAX, 2, INT32_MAX, INT32_MAX) == 0);
  CHECK(unit_compute_out_size(UNIT_PADDING_SAME, INT32_MAX, 3, INT32_MAX, INT32_MAX) == 1);
  CHECK(unit_compute_out_size(UNIT_PADDING_SAME, INT32_MAX, 1, 1, 1) == INT32_MAX);
  CHECK(unit_compute_out_size(UNIT_PADDING_VALID, 8, 3, 1, 1) == 6);
  CHECK(unit_compute_out_size(UNIT_PADDING_VALID, 8, 3, 2, 2) == 2);
  CHECK(unit_compute_out_size(UNIT_PADDING_SAME, 8, 3, 3, 1) == 3);
  CHECK(unit_compute_out_size(UNIT_PADDING_VALID, -5, 3, 1, 1) == 0);
  CHECK(unit_compute_out_size(UNIT_PADDING_VALID, 8, 3, 0, 1) == 0);
  CHECK(unit_compute_out_size((unit_padding_t)7, 8, 3, 1, 1) == 0);
  CHECK(unit_compute_padding(INT32_MAX, INT32_MAX, 1, INT32_MAX, INT32_MAX) == INT32_MAX);
  CHECK(unit_compute_padding(1, 1, 8, 3, 8) == 1);
  CHECK(unit_compute_padding(-1, 1, 8, 3, 8) == 0);
  /* the kernel itself: an output taller than the geometry gives */
  conv_case(&c);
  CHECK(run_conv(&c) == UNIT_OK);
  c.p.dilation_h = INT32_MAX;
  CHECK(conv_refused(&c, UNIT_ERR_OVERFLOW));
  conv_case(&c);
  c.os.h = 4; /* VALID 3x3 on 4 rows gives 2; 4 rows need padding 2 > 2 * 0 + 1 */
  CHECK(conv_refused(&c, UNIT_ERR_SHAPE));
  conv_case(&c);
  c.p.stride_h = INT32_MAX; /* with 2 output rows: past the input */
  CHECK(conv_refused(&c, UNIT_ERR_SHAPE));
  conv_case(&c);
  c.fs.w = 1, c.os.w = 4, c.p.dilation_w = INT32_MAX; /* one tap: unused */
  CHECK(run_conv(&c) == UNIT_OK);
  conv_case(&c);
  c.os.h = 1, c.p.stride_h = INT32_MAX; /* one row: the stride is unused */
  CHECK(run_conv(&c) == UNIT_OK);
  conv_case(&c);
  c.p.pad_h = 3; /* pad >= effective filter size */
  CHECK(conv_refused(&c, UNIT_ERR_SHAPE));
  conv_case(&c);
  c.p.pad_w = -1;
  CHECK(conv_refused(&c, UNIT_ERR_ARG));
  conv_case(&c);
  c.is.h = INT32_MAX; /* element count beyond int32 */
  CHECK(conv_refused(&c, UNIT_ERR_OVERFLOW));
  conv_case(&c);
  c.is.w = -4;
  CHECK(conv_refused(&c, UNIT_ERR_ARG));
}

static void test_requant_range(void) {
  conv_case_t c;
  unit_fc_params_t fp = {0, 0, -128, 127};
  conv_case(&c);
  c.shift[1] = 100;
  CHECK(conv_refused(&c, UNIT_ERR_REQUANT));
  c.shift[1] = INT32_MIN;
  CHECK(conv_refused(&c, UNIT_ERR_REQUANT));
  c.shift[1] = -32;
  CHECK(conv_refused(&c, UNIT_ERR_REQUANT));
  c.shift[1] = 31;
  CHECK(conv_refused(&c, UNIT_ERR_REQUANT));
  c.shift[1] = 30; /* TFLM's bounds stay valid */
  CHECK(run_conv(&c) == UNIT_OK);
  c.shift[1] = -31;
  CHECK(run_conv(&c) == UNIT_OK);
  c.mult[2] = -1;
  CHECK(conv_refused(&c, UNIT_ERR_REQUANT));
  c.mult[2] = INT32_MAX;
  CHECK(run_conv(&c) == UNIT_OK);
  c.rq.shift = NULL;
  CHECK(conv_refused(&c, UNIT_ERR_NULL));
  conv_case(&c);
  c.shift[0] = 99;
  CHECK(unit_fully_connected_int8(&fp, &c.rq, 1, 4, 3, in, filt, NULL, out, NULL,
                                  NULL, 0, NULL) == UNIT_ERR_REQUANT);
  /* the fixed-point helper itself is total */
  CHECK(unit_multiply_by_quantized_multiplier(1000, 1 << 30, 100) ==
        unit_multiply_by_quantized_multiplier(1000, 1 << 30, 30));
  CHECK(unit_multiply_by_quantized_multiplier(1000, 1 << 30, INT32_MIN) ==
        unit_multiply_by_quantized_multiplier(1000, 1 << 30, -31));
  CHECK(unit_rounding_divide_by_pot(-7, 99) == unit_rounding_divide_by_pot(-7, 31));
  CHECK(unit_rounding_divide_by_pot(7, -3) == 7);
}

static void test_activation_and_offsets(void) {
  conv_case_t c;
  unit_fc_params_t fp = {0, 0, 10, -10}; /* act_min > act_max */
  int32_t lo = 0, hi = 0;
  conv_case(&c);
  c.p.act_min = 5, c.p.act_max = 4;
  CHECK(conv_refused(&c, UNIT_ERR_ACTIVATION));
  c.p.act_min = -129, c.p.act_max = 127;
  CHECK(conv_refused(&c, UNIT_ERR_ACTIVATION));
  c.p.act_min = 3, c.p.act_max = 3; /* a single value is fine */
  CHECK(run_conv(&c) == UNIT_OK);
  CHECK(out[0] == 3);
  conv_case(&c);
  c.p.output_offset = 128;
  CHECK(conv_refused(&c, UNIT_ERR_OFFSET));
  c.p.output_offset = 0;
  c.p.input_offset = -128;
  CHECK(conv_refused(&c, UNIT_ERR_OFFSET));
  c.p.input_offset = 128; /* zero point -128 */
  CHECK(run_conv(&c) == UNIT_OK);
  CHECK(unit_fully_connected_int8(&fp, &c.rq, 1, 4, 3, in, filt, NULL, out, NULL,
                                  NULL, 0, NULL) == UNIT_ERR_ACTIVATION);
  CHECK(unit_activation_range_int8(1, 0.1f, 200, &lo, &hi) == UNIT_ERR_OFFSET);
  CHECK(unit_activation_range_int8(9, 0.1f, 0, &lo, &hi) == UNIT_ERR_ARG);
  CHECK(unit_activation_range_int8(3, 0.0f, 0, &lo, &hi) == UNIT_ERR_ARG);
  CHECK(unit_activation_range_int8(3, INFINITY, 0, &lo, &hi) == UNIT_ERR_ARG);
  CHECK(unit_activation_range_int8(3, NAN, 0, &lo, &hi) == UNIT_ERR_ARG);
  CHECK(unit_activation_range_int8(3, 0.1f, 0, NULL, &hi) == UNIT_ERR_NULL);
  /* a tiny scale: 6 / scale overflows float, the range still saturates */
  CHECK(unit_activation_range_int8(3, 1e-40f, -5, &lo, &hi) == UNIT_OK);
  CHECK(lo == -5 && hi == 127);
  CHECK(unit_activation_range_int8(2, 0.5f, 0, &lo, &hi) == UNIT_OK);
  CHECK(lo == -2 && hi == 2);
}

static void test_bias_wraps(void) {
  /* an extreme int32 bias wraps like TFLM's int32 on hardware, without
   * signed-overflow UB (UBSan would abort here) */
  conv_case_t c;
  int i;
  conv_case(&c);
  for (i = 0; i < 64; ++i) in[i] = 127, filt[i] = 127;
  c.p.input_offset = 128;
  c.bias[0] = c.bias[1] = c.bias[2] = INT32_MAX;
  c.mult[0] = c.mult[1] = c.mult[2] = INT32_MAX;
  c.shift[0] = c.shift[1] = c.shift[2] = 30;
  c.p.output_offset = 127;
  CHECK(run_conv(&c) == UNIT_OK);
}

static void test_scratch_queries(void) {
  unit_shape_t fs = {3, 3, 3, 2}, os = {1, 4, 4, 3}, neg = {3, -3, 3, 2};
  unit_shape_t huge = {1, INT32_MAX, INT32_MAX, 3};
  int16_t thr[3] = {1, 1, 1};
  unit_skip_t skip = {thr, 1, UNIT_DIV_EXACT}, bad_group = {thr, 2, UNIT_DIV_EXACT};
  unit_float_skip_t fskip = {NULL, 1, UNIT_FDIV_EXACT};
  float fthr[3] = {1, 1, 1};
  CHECK(unit_conv_scratch_bytes(&fs, &os, NULL) == 4u * 4 * 4);
  CHECK(unit_conv_scratch_bytes(&neg, &os, NULL) == 0u);
  CHECK(unit_conv_min_scratch_bytes(&fs, &neg, &skip) == 0u);
  CHECK(unit_conv_scratch_bytes(&fs, &huge, NULL) == 0u);
  CHECK(unit_conv_scratch_bytes(&fs, &os, &bad_group) == 0u);
  CHECK(unit_conv_scratch_bytes(NULL, &os, NULL) == 0u);
  CHECK(unit_depthwise_scratch_bytes(&neg, &os, NULL) == 0u);
  CHECK(unit_depthwise_min_scratch_bytes(&fs, &huge, &skip) == 0u);
  CHECK(unit_fc_scratch_bytes(-5, &skip) == 0u);
  CHECK(unit_fc_scratch_bytes(3, &bad_group) == 0u);
  CHECK(unit_fc_scratch_bytes(3, &skip) > 0u);
  fskip.thresholds = fthr;
  CHECK(unit_conv_float_scratch_bytes(&neg, &fskip) == 0u);
  CHECK(unit_depthwise_float_scratch_bytes(&huge, &fskip) == 0u);
  CHECK(unit_fc_float_scratch_bytes(-1, &fskip) == 0u);
  CHECK(unit_fc_float_scratch_bytes(INT32_MAX, &fskip) == 0u ||
        unit_fc_float_scratch_bytes(INT32_MAX, &fskip) == (size_t)INT32_MAX * 4u);
}

static void test_skip_and_division(void) {
  conv_case_t c;
  int16_t thr[3] = {5, 5, 5};
  unit_skip_t skip = {thr, 2, UNIT_DIV_EXACT};
  conv_case(&c);
  CHECK(unit_conv_2d_int8(&c.p, &c.rq, &c.is, in, &c.fs, filt, NULL, &c.os, out,
                          &skip, scratch, sizeof(scratch), NULL) == UNIT_ERR_GROUP);
  skip.group_size = 0;
  CHECK(unit_conv_2d_int8(&c.p, &c.rq, &c.is, in, &c.fs, filt, NULL, &c.os, out,
                          &skip, scratch, sizeof(scratch), NULL) == UNIT_ERR_GROUP);
  skip.group_size = 3, skip.division = (unit_division_t)-1;
  CHECK(unit_conv_2d_int8(&c.p, &c.rq, &c.is, in, &c.fs, filt, NULL, &c.os, out,
                          &skip, scratch, sizeof(scratch), NULL) == UNIT_ERR_DIVISION);
  skip.division = UNIT_DIV_CLZ;
  CHECK(unit_conv_2d_int8(&c.p, &c.rq, &c.is, in, &c.fs, filt, NULL, &c.os, out,
                          &skip, scratch, 3, NULL) == UNIT_ERR_SCRATCH);
  CHECK(unit_conv_2d_int8(&c.p, &c.rq, &c.is, in, &c.fs, filt, NULL, &c.os, out,
                          &skip, scratch, SIZE_MAX, NULL) == UNIT_OK);
}

static void test_float_kernels(void) {
  static float x[64], w[64], y[64];
  unit_conv_float_params_t p = {1, 1, 1, 1, 0, 0, 1, -1.0f, 1.0f};
  unit_shape_t is = {1, 4, 4, 2}, fs = {3, 3, 3, 2}, os = {1, 2, 2, 3};
  CHECK(unit_conv_2d_float(&p, &is, x, &fs, w, NULL, &os, y, NULL, NULL, 0, NULL) == UNIT_OK);
  p.act_min = 2.0f;
  CHECK(unit_conv_2d_float(&p, &is, x, &fs, w, NULL, &os, y, NULL, NULL, 0, NULL) ==
        UNIT_ERR_ACTIVATION);
  p.act_min = NAN;
  CHECK(unit_conv_2d_float(&p, &is, x, &fs, w, NULL, &os, y, NULL, NULL, 0, NULL) ==
        UNIT_ERR_ACTIVATION);
  p.act_min = -INFINITY, p.act_max = INFINITY;
  p.dilation_w = INT32_MAX;
  CHECK(unit_conv_2d_float(&p, &is, x, &fs, w, NULL, &os, y, NULL, NULL, 0, NULL) ==
        UNIT_ERR_OVERFLOW);
  p.dilation_w = 1;
  CHECK(unit_conv_2d_float(&p, &is, NULL, &fs, w, NULL, &os, y, NULL, NULL, 0, NULL) ==
        UNIT_ERR_NULL);
  p.depth_multiplier = INT32_MAX; /* is->c * M overflows int32 */
  fs.n = 1;
  CHECK(unit_depthwise_conv_2d_float(&p, &is, x, &fs, w, NULL, &os, y, NULL, NULL, 0,
                                     NULL) == UNIT_ERR_SHAPE);
  CHECK(unit_fully_connected_float(1.0f, 0.0f, 1, 4, 3, x, w, NULL, y, NULL, NULL, 0,
                                   NULL) == UNIT_ERR_ACTIVATION);
  CHECK(unit_fully_connected_float(0.0f, 1.0f, INT32_MAX, INT32_MAX, 3, x, w, NULL, y,
                                   NULL, NULL, 0, NULL) == UNIT_ERR_OVERFLOW);
}

static void test_prepare_helpers(void) {
  int32_t m = 1, s = 1;
  CHECK(unit_quantize_multiplier(-1.0, &m, &s) == UNIT_ERR_ARG && m == 0 && s == 0);
  CHECK(unit_quantize_multiplier(NAN, &m, &s) == UNIT_ERR_ARG);
  CHECK(unit_quantize_multiplier(INFINITY, &m, &s) == UNIT_ERR_ARG);
  CHECK(unit_quantize_multiplier(0.5, NULL, &s) == UNIT_ERR_NULL);
  CHECK(unit_quantize_multiplier(0.75, &m, &s) == UNIT_OK);
  CHECK(m >= (1 << 30) && s == 0);
  CHECK(unit_quantize_multiplier(1e-12, &m, &s) == UNIT_OK && m == 0 && s == 0);
  CHECK(strcmp(unit_status_name(UNIT_ERR_REQUANT), "UNIT_ERR_REQUANT") == 0);
  CHECK(strcmp(unit_status_name((unit_status_t)99), "UNIT_ERR_UNKNOWN") == 0);
  unit_shift_table(5, NULL); /* ignored, no crash */
}

static void test_ops(void) {
  unit_pool_params_t pp;
  unit_shape_t is = {1, 4, 4, 2}, os;
  unit_add_params_t ap;
  unit_softmax_params_t sp = {1 << 30, 31, -10};
  unit_mean_params_t mp;
  unit_requantize_params_t rp;
  int32_t d4[4] = {1, 2, 2, 2}, big[2] = {65536, 65536}, zero[2] = {0, 0};
  int32_t pads[2] = {INT32_MAX, 0};
  const int8_t *inputs[2] = {in, in};
  int32_t cdims[4] = {INT32_MAX, 1, INT32_MAX, 1};
  CHECK(unit_pool_prepare_int8(UNIT_PADDING_VALID, 2, 2, 1, 1, &is, 0, 1.0f, 300, &pp,
                               &os) == UNIT_ERR_OFFSET);
  CHECK(unit_pool_prepare_int8(UNIT_PADDING_VALID, 2, 2, 1, 1, &is, 0, NAN, 0, &pp, &os) ==
        UNIT_ERR_ARG);
  CHECK(unit_pool_prepare_int8(UNIT_PADDING_SAME, 2, 2, INT32_MAX, 1, &is, 1, 0.1f, 0, &pp,
                               &os) == UNIT_OK);
  CHECK(unit_max_pool_2d_int8(&pp, &is, in, &os, out) == UNIT_OK);
  pp.act_min = 100, pp.act_max = 0;
  CHECK(unit_max_pool_2d_int8(&pp, &is, in, &os, out) == UNIT_ERR_ACTIVATION);
  pp.act_min = -128, pp.act_max = 127, pp.stride_h = INT32_MAX;
  os.h = 2;
  CHECK(unit_average_pool_2d_int8(&pp, &is, in, &os, out) == UNIT_ERR_SHAPE);
  pp.stride_h = 1, pp.pad_h = -1;
  CHECK(unit_average_pool_2d_int8(&pp, &is, in, &os, out) == UNIT_ERR_ARG);

  CHECK(unit_add_prepare_int8(0.1f, 0, 0.1f, 0, 0.2f, 0, 0, &ap) == UNIT_OK);
  CHECK(unit_add_int8(&ap, 4, d4, in, d4, in, d4, out) == UNIT_OK);
  ap.input1_shift = 5;
  CHECK(unit_add_int8(&ap, 4, d4, in, d4, in, d4, out) == UNIT_ERR_REQUANT);
  ap.input1_shift = -1, ap.input2_offset = 100000;
  CHECK(unit_add_int8(&ap, 4, d4, in, d4, in, d4, out) == UNIT_ERR_OFFSET);
  ap.input2_offset = 0, ap.left_shift = 23;
  CHECK(unit_add_int8(&ap, 4, d4, in, d4, in, d4, out) == UNIT_ERR_ARG);
  ap.left_shift = 20;
  CHECK(unit_add_int8(&ap, 2, big, in, big, in, big, out) == UNIT_ERR_OVERFLOW);
  CHECK(unit_add_prepare_int8(INFINITY, 0, 0.1f, 0, 0.2f, 0, 0, &ap) == UNIT_ERR_ARG);

  CHECK(unit_softmax_int8(&sp, INT32_MAX, 2, in, out) == UNIT_ERR_OVERFLOW);
  sp.input_multiplier = -5;
  CHECK(unit_softmax_int8(&sp, 1, 2, in, out) == UNIT_ERR_REQUANT);

  CHECK(unit_mean_prepare_int8(0.1f, 0, 0.1f, 0, 4, &mp) == UNIT_OK);
  mp.output_zero_point = 1000;
  CHECK(unit_mean_hw_int8(&mp, &is, in, out) == UNIT_ERR_OFFSET);
  mp.output_zero_point = 0, mp.shift = -40;
  CHECK(unit_mean_hw_int8(&mp, &is, in, out) == UNIT_ERR_REQUANT);
  mp.shift = 0;
  is.h = 65536, is.w = 65536; /* h * w overflows int32 */
  CHECK(unit_mean_hw_int8(&mp, &is, in, out) == UNIT_ERR_OVERFLOW);
  CHECK(unit_mean_int8(&mp, 2, big, 1, in, out) == UNIT_ERR_OVERFLOW);

  CHECK(unit_pad_int8(2, d4, in, pads, zero, 0, out) == UNIT_ERR_OVERFLOW);
  CHECK(unit_concatenation_int8(2, inputs, 2, cdims, 0, out) == UNIT_ERR_OVERFLOW);
  inputs[1] = NULL;
  CHECK(unit_concatenation_int8(2, inputs, 2, d4, 0, out) == UNIT_ERR_NULL);

  CHECK(unit_requantize_prepare_int8(0.1f, 0, 0.2f, 0, &rp) == UNIT_OK);
  rp.output_zero_point = -200;
  CHECK(unit_requantize_int8(&rp, 4, in, out) == UNIT_ERR_OFFSET);
  CHECK(unit_quantize_float_to_int8(INFINITY, 0, 4, (const float *)scratch, out) ==
        UNIT_ERR_ARG);
  CHECK(unit_dequantize_int8(NAN, 0, 4, in, (float *)scratch) == UNIT_ERR_ARG);
}

int main(void) {
  test_geometry_overflow();
  test_requant_range();
  test_activation_and_offsets();
  test_bias_wraps();
  test_scratch_queries();
  test_skip_and_division();
  test_float_kernels();
  test_prepare_helpers();
  test_ops();
  return unit_test_report("test_validation");
}
