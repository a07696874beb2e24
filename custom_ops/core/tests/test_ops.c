/* C tests of the non-UnIT int8 ops (unit_ops.h), run under ASan/UBSan.
 *
 * Bit-exactness against TFLM is tested from Python (tests/test_core_ops.py,
 * with the tflite_micro interpreter as the oracle).  Here the ops are checked
 * against their definitions: exact where the op is exact (max pool, average
 * pool's rounding, pad, concatenation, quantize's rounding), within one step
 * of the real-valued result where TFLM's fixed point rounds (add, mean,
 * requantize, softmax), and swept over their whole integer domains so the
 * sanitizers see every shift and multiply. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit_ops.h"
#include "unit_test.h"

#define MAX_ELEMS 4096

static int8_t rand_int8(void) { return (int8_t)unit_test_rand(-128, 127); }

static int clamp_int8(long v) { return v < -128 ? -128 : v > 127 ? 127 : (int)v; }

/* round half away from zero, from the definition */
static long round_half_away(double v) {
  return v >= 0 ? (long)floor(v + 0.5) : -(long)floor(-v + 0.5);
}

static void test_pooling(void) {
  static int8_t input[MAX_ELEMS], out_max[MAX_ELEMS], out_avg[MAX_ELEMS];
  int trial;
  for (trial = 0; trial < 60; ++trial) {
    unit_shape_t in_shape, out_shape;
    unit_pool_params_t p;
    const unit_padding_t padding =
        unit_test_rand(0, 1) ? UNIT_PADDING_SAME : UNIT_PADDING_VALID;
    const int32_t fh = (int32_t)unit_test_rand(1, 4), fw = (int32_t)unit_test_rand(1, 4);
    const int32_t sh = (int32_t)unit_test_rand(1, 3), sw = (int32_t)unit_test_rand(1, 3);
    const int32_t activation = (int32_t)unit_test_rand(0, 3);
    int32_t i, b, y, x, c, bad = 0;
    in_shape.n = (int32_t)unit_test_rand(1, 2);
    in_shape.h = (int32_t)unit_test_rand(4, 9);
    in_shape.w = (int32_t)unit_test_rand(4, 9);
    in_shape.c = (int32_t)unit_test_rand(1, 5);
    for (i = 0; i < in_shape.n * in_shape.h * in_shape.w * in_shape.c; ++i)
      input[i] = rand_int8();
    CHECK(unit_pool_prepare_int8(padding, fh, fw, sh, sw, &in_shape, activation,
                                 0.05f, -7, &p, &out_shape) == UNIT_OK);
    CHECK(out_shape.n == in_shape.n && out_shape.c == in_shape.c);
    CHECK(unit_max_pool_2d_int8(&p, &in_shape, input, &out_shape, out_max) ==
          UNIT_OK);
    CHECK(unit_average_pool_2d_int8(&p, &in_shape, input, &out_shape,
                                    out_avg) == UNIT_OK);
    for (b = 0; b < out_shape.n; ++b)
      for (y = 0; y < out_shape.h; ++y)
        for (x = 0; x < out_shape.w; ++x)
          for (c = 0; c < out_shape.c; ++c) {
            long max_v = -1000, sum = 0, count = 0, fy, fx;
            const int32_t o = ((b * out_shape.h + y) * out_shape.w + x) *
                              out_shape.c + c;
            for (fy = 0; fy < fh; ++fy)
              for (fx = 0; fx < fw; ++fx) {
                const long iy = y * sh - p.pad_h + fy, ix = x * sw - p.pad_w + fx;
                long v;
                if (iy < 0 || iy >= in_shape.h || ix < 0 || ix >= in_shape.w)
                  continue;
                v = input[((b * in_shape.h + iy) * in_shape.w + ix) *
                          in_shape.c + c];
                if (v > max_v) max_v = v;
                sum += v;
                count++;
              }
            if (count == 0) { bad++; continue; }
            max_v = max_v < p.act_min ? p.act_min : max_v > p.act_max ? p.act_max : max_v;
            if (out_max[o] != max_v) bad++;
            {
              long avg = round_half_away((double)sum / (double)count);
              avg = avg < p.act_min ? p.act_min : avg > p.act_max ? p.act_max : avg;
              if (out_avg[o] != avg) bad++;
            }
          }
    CHECK(bad == 0);
  }
}

static void test_add(void) {
  static int8_t a[MAX_ELEMS], b[MAX_ELEMS], b_full[MAX_ELEMS], out[MAX_ELEMS],
      out_full[MAX_ELEMS];
  const float s1 = 0.031f, s2 = 0.0087f, so = 0.045f;
  const int32_t z1 = -3, z2 = 40, zo = 11;
  const int32_t dims_a[4] = {2, 3, 4, 5}, dims_b[4] = {1, 1, 1, 5};
  unit_add_params_t p;
  int32_t i, bad = 0, x1, x2;
  CHECK(unit_add_prepare_int8(s1, z1, s2, z2, so, zo, UNIT_ACT_NONE, &p) ==
        UNIT_OK);
  CHECK(p.left_shift == 20);
  /* every pair of int8 values: within one output step of the real sum */
  for (x1 = -128; x1 <= 127; ++x1) {
    for (x2 = -128; x2 <= 127; ++x2) {
      const int8_t v1 = (int8_t)x1, v2 = (int8_t)x2;
      const int32_t one_dim = 1;
      int8_t r;
      const double real = (s1 * (x1 - z1) + s2 * (x2 - z2)) / so + zo;
      if (unit_add_int8(&p, 1, &one_dim, &v1, &one_dim, &v2, &one_dim, &r) !=
          UNIT_OK)
        bad++;
      if (labs((long)r - (long)clamp_int8(round_half_away(real))) > 1) bad++;
    }
  }
  CHECK(bad == 0);
  /* broadcasting [2,3,4,5] + [5] equals adding the explicitly tiled tensor */
  for (i = 0; i < 120; ++i) a[i] = rand_int8();
  for (i = 0; i < 5; ++i) b[i] = rand_int8();
  for (i = 0; i < 120; ++i) b_full[i] = b[i % 5];
  CHECK(unit_add_int8(&p, 4, dims_a, a, dims_b, b, dims_a, out) == UNIT_OK);
  CHECK(unit_add_int8(&p, 4, dims_a, a, dims_a, b_full, dims_a, out_full) ==
        UNIT_OK);
  CHECK(memcmp(out, out_full, 120) == 0);
  /* and the broadcast input may come first */
  CHECK(unit_add_int8(&p, 4, dims_b, b, dims_a, a, dims_a, out) == UNIT_OK);
  /* errors: mismatched dims, too many dims, multiplier >= 1 */
  {
    const int32_t dims_bad[4] = {1, 1, 1, 4};
    CHECK(unit_add_int8(&p, 4, dims_a, a, dims_bad, b, dims_a, out) ==
          UNIT_ERR_SHAPE);
    CHECK(unit_add_int8(&p, 7, dims_a, a, dims_a, b, dims_a, out) ==
          UNIT_ERR_ARG);
    CHECK(unit_add_prepare_int8(1.0f, 0, 1.0f, 0, 1e-9f, 0, 0, &p) ==
          UNIT_ERR_REQUANT);
    CHECK(unit_add_prepare_int8(0.1f, 0, 0.1f, 0, 0.1f, 0, 9, &p) ==
          UNIT_ERR_ARG);
  }
}

static void test_softmax(void) {
  static const float scales[] = {0.002f, 0.02f, 0.1f, 0.5f, 2.0f};
  static int8_t input[256 * 8], output[256 * 8];
  unit_softmax_params_t p;
  size_t k;
  for (k = 0; k < sizeof scales / sizeof scales[0]; ++k) {
    int32_t row, c, bad = 0;
    CHECK(unit_softmax_prepare_int8(scales[k], 1.0f, 1.0f / 256.0f, -128, &p) ==
          UNIT_OK);
    /* rows whose maximum is 127 and whose other values sweep the int8 range,
     * so every input difference 0..-255 is exponentiated */
    for (row = 0; row < 256; ++row) {
      input[row * 8] = 127;
      for (c = 1; c < 8; ++c) input[row * 8 + c] = (int8_t)(row - 128);
    }
    CHECK(unit_softmax_int8(&p, 256, 8, input, output) == UNIT_OK);
    for (row = 0; row < 256; ++row) {
      double denom = 0.0;
      for (c = 0; c < 8; ++c)
        denom += exp(scales[k] * (double)(input[row * 8 + c] - 127));
      for (c = 0; c < 8; ++c) {
        const double prob = exp(scales[k] * (double)(input[row * 8 + c] - 127)) / denom;
        const long expected = clamp_int8(round_half_away(prob * 256.0) - 128);
        if (labs((long)output[row * 8 + c] - expected) > 1) bad++;
      }
    }
    CHECK(bad == 0);
  }
  /* a row of equal values is uniform: 1/8 -> 32 - 128 */
  memset(input, 5, 8);
  CHECK(unit_softmax_prepare_int8(0.1f, 1.0f, 1.0f / 256.0f, -128, &p) == UNIT_OK);
  CHECK(unit_softmax_int8(&p, 1, 8, input, output) == UNIT_OK);
  CHECK(output[0] == -96 && output[7] == -96);
  /* TFLM's output quantisation is required */
  CHECK(unit_softmax_prepare_int8(0.1f, 1.0f, 0.1f, -128, &p) == UNIT_ERR_ARG);
  CHECK(unit_softmax_prepare_int8(0.1f, 1.0f, 1.0f / 256.0f, 0, &p) == UNIT_ERR_OFFSET);
  CHECK(unit_softmax_prepare_int8(1e-12f, 1.0f, 1.0f / 256.0f, -128, &p) ==
        UNIT_ERR_ARG);
}

static void test_mean(void) {
  static int8_t input[MAX_ELEMS], output[64];
  unit_mean_params_t p;
  unit_shape_t shape;
  int32_t i, b, c, bad = 0;
  const float si = 0.07f, so = 0.013f;
  const int32_t zi = 9, zo = -20;
  shape.n = 2;
  shape.h = 7;
  shape.w = 9;
  shape.c = 6;
  for (i = 0; i < 2 * 7 * 9 * 6; ++i) input[i] = rand_int8();
  CHECK(unit_mean_prepare_int8(si, zi, so, zo, 63, &p) == UNIT_OK);
  CHECK(unit_mean_hw_int8(&p, &shape, input, output) == UNIT_OK);
  for (b = 0; b < 2; ++b)
    for (c = 0; c < 6; ++c) {
      double sum = 0.0;
      for (i = 0; i < 63; ++i) sum += input[(b * 63 + i) * 6 + c] - zi;
      if (labs((long)output[b * 6 + c] -
               (long)clamp_int8(round_half_away(sum / 63.0 * si / so) + zo)) > 1)
        bad++;
    }
  CHECK(bad == 0);
  /* the general kernel over axes {1, 2} gives mean_hw's bytes */
  {
    static int8_t general[64];
    const int32_t dims[4] = {2, 7, 9, 6};
    CHECK(unit_mean_int8(&p, 4, dims, 0x6, input, general) == UNIT_OK);
    CHECK(memcmp(general, output, 12) == 0);
    CHECK(unit_mean_int8(&p, 4, dims, 0x2, input, general) == UNIT_ERR_SHAPE);
    CHECK(unit_mean_int8(&p, 4, dims, 0x10, input, general) == UNIT_ERR_ARG);
    CHECK(unit_mean_int8(&p, 4, dims, 0, input, general) == UNIT_ERR_ARG);
  }
  /* a 3-D mean over axes {0, 2} against its definition */
  {
    static int8_t general[8];
    const int32_t dims[3] = {3, 4, 5};
    int32_t j, k;
    bad = 0;
    CHECK(unit_mean_prepare_int8(si, zi, so, zo, 15, &p) == UNIT_OK);
    CHECK(unit_mean_int8(&p, 3, dims, 0x5, input, general) == UNIT_OK);
    for (j = 0; j < 4; ++j) {
      double sum = 0.0;
      for (i = 0; i < 3; ++i)
        for (k = 0; k < 5; ++k) sum += input[(i * 4 + j) * 5 + k] - zi;
      if (labs((long)general[j] -
               (long)clamp_int8(round_half_away(sum / 15.0 * si / so) + zo)) > 1)
        bad++;
    }
    CHECK(bad == 0);
  }
  /* a large window (count 4096) and equal scales: the mean of a constant */
  shape.n = 1;
  shape.h = 64;
  shape.w = 64;
  shape.c = 1;
  memset(input, 0x81, 4096); /* -127 */
  CHECK(unit_mean_prepare_int8(0.1f, 3, 0.1f, 3, 4096, &p) == UNIT_OK);
  CHECK(unit_mean_hw_int8(&p, &shape, input, output) == UNIT_OK);
  CHECK(output[0] == -127);
  shape.h = 32; /* h * w no longer matches the prepared count */
  CHECK(unit_mean_hw_int8(&p, &shape, input, output) == UNIT_ERR_SHAPE);
  shape.h = 0;
  CHECK(unit_mean_hw_int8(&p, &shape, input, output) == UNIT_ERR_ARG);
  CHECK(unit_mean_prepare_int8(0.1f, 3, 0.1f, 3, 0, &p) == UNIT_ERR_ARG);
}

static void test_pad(void) {
  static int8_t input[MAX_ELEMS], output[MAX_ELEMS];
  const int32_t dims[3] = {2, 3, 4};
  const int32_t before[3] = {1, 0, 2}, after[3] = {0, 2, 1};
  int32_t i, j, k, bad = 0;
  for (i = 0; i < 24; ++i) input[i] = (int8_t)(i + 1);
  CHECK(unit_pad_int8(3, dims, input, before, after, -9, output) == UNIT_OK);
  /* output is [3, 5, 7] */
  for (i = 0; i < 3; ++i)
    for (j = 0; j < 5; ++j)
      for (k = 0; k < 7; ++k) {
        const int inside = i >= 1 && j < 3 && k >= 2 && k < 6;
        const int expected = inside ? input[((i - 1) * 3 + j) * 4 + (k - 2)] : -9;
        if (output[(i * 5 + j) * 7 + k] != expected) bad++;
      }
  CHECK(bad == 0);
  {
    const int32_t negative[3] = {0, -1, 0};
    CHECK(unit_pad_int8(3, dims, input, negative, after, 0, output) ==
          UNIT_ERR_ARG);
    CHECK(unit_pad_int8(6, dims, input, before, after, 0, output) ==
          UNIT_ERR_ARG);
  }
}

static void test_concatenation(void) {
  static int8_t a[64], b[64], output[128];
  const int8_t *inputs[2];
  const int32_t dims[6] = {2, 3, 4, 2, 1, 4}; /* [2,3,4] and [2,1,4] on axis 1 */
  int32_t i, j, k, bad = 0;
  for (i = 0; i < 24; ++i) a[i] = (int8_t)i;
  for (i = 0; i < 8; ++i) b[i] = (int8_t)(100 + i);
  inputs[0] = a;
  inputs[1] = b;
  CHECK(unit_concatenation_int8(2, inputs, 3, dims, 1, output) == UNIT_OK);
  for (i = 0; i < 2; ++i)
    for (j = 0; j < 4; ++j)
      for (k = 0; k < 4; ++k) {
        const int expected = j < 3 ? a[(i * 3 + j) * 4 + k] : b[i * 4 + k];
        if (output[(i * 4 + j) * 4 + k] != expected) bad++;
      }
  CHECK(bad == 0);
  CHECK(unit_concatenation_int8(2, inputs, 3, dims, 2, output) ==
        UNIT_ERR_SHAPE);
  CHECK(unit_concatenation_int8(2, inputs, 3, dims, 3, output) == UNIT_ERR_ARG);
  CHECK(unit_concatenation_int8(11, inputs, 3, dims, 1, output) == UNIT_ERR_ARG);
}

static void test_quantize(void) {
  const float values[] = {0.5f, -0.5f, 1.5f, -2.5f, 0.49999997f, 2.0f,
                          1e30f, -1e30f, 0.0f, -0.0f};
  const int expected[] = {1, -1, 2, -3, 0, 2, 127, -128, 0, 0};
  int8_t q[10], back_in[256], requant[256];
  float back[256];
  unit_requantize_params_t p;
  int32_t i, bad = 0;
  float nan_value = NAN;
  CHECK(unit_quantize_float_to_int8(1.0f, 0, 10, values, q) == UNIT_OK);
  for (i = 0; i < 10; ++i) CHECK(q[i] == expected[i]);
  CHECK(unit_quantize_float_to_int8(0.5f, 7, 1, &nan_value, q) == UNIT_OK);
  CHECK(q[0] == 7);
  CHECK(unit_quantize_float_to_int8(0.0f, 0, 1, values, q) == UNIT_ERR_ARG);
  /* dequantize is exact: (float)(scale * (x - zp)) in double */
  for (i = 0; i < 256; ++i) back_in[i] = (int8_t)(i - 128);
  CHECK(unit_dequantize_int8(0.1f, -5, 256, back_in, back) == UNIT_OK);
  for (i = 0; i < 256; ++i)
    if (back[i] != (float)((double)0.1f * (double)(i - 128 + 5))) bad++;
  CHECK(bad == 0);
  /* requantize: within one step of the real value, over all of int8, for a
   * shrinking, a growing and an equal scale */
  {
    static const float out_scales[] = {0.3f, 0.001f, 0.1f};
    size_t k;
    for (k = 0; k < 3; ++k) {
      bad = 0;
      CHECK(unit_requantize_prepare_int8(0.1f, -5, out_scales[k], 17, &p) ==
            UNIT_OK);
      CHECK(unit_requantize_int8(&p, 256, back_in, requant) == UNIT_OK);
      for (i = 0; i < 256; ++i) {
        const double real = 0.1 * (double)(i - 128 + 5) / out_scales[k] + 17.0;
        if (labs((long)requant[i] - (long)clamp_int8(round_half_away(real))) > 1)
          bad++;
      }
      CHECK(bad == 0);
    }
  }
  CHECK(unit_requantize_prepare_int8(1.0f, 0, 1e-9f, 0, &p) == UNIT_ERR_REQUANT);
}

int main(void) {
  test_pooling();
  test_add();
  test_softmax();
  test_mean();
  test_pad();
  test_concatenation();
  test_quantize();
  return unit_test_report("test_ops");
}
