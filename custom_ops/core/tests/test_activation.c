/* C tests of the activation and element-wise ops (unit_activation.h), run
 * under ASan/UBSan.
 *
 * Bit-exactness against TFLM is tested from Python
 * (tests/test_runtime_activation_ops.py, tflite_micro as the oracle).  Here
 * every int8 input value of each unary op is swept for random
 * quantisations (so the sanitizers see every shift and product), outputs are
 * held against the real-valued function (within the fixed point's steps),
 * tables against the kernel, binary ops with random broadcasts against an
 * index computed from the definition, and bad calls against their status. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit_activation.h"
#include "unit_test.h"

static float rand_scale(void) {
  return (float)(0.002 + 0.0001 * (double)unit_test_rand(0, 1000));
}

static long round_half_away(double v) {
  return v >= 0 ? (long)floor(v + 0.5) : -(long)floor(-v + 0.5);
}

static int clamp_int8(long v) { return v < -128 ? -128 : v > 127 ? 127 : (int)v; }

static double hard_swish_real(double x) {
  double r = x + 3.0;
  r = r < 0.0 ? 0.0 : (r > 6.0 ? 6.0 : r);
  return x * r / 6.0;
}

/* |kernel - quantised real| <= tolerance over all 256 inputs; table ==
 * kernel; returns the worst error seen. */
static long sweep(const unit_unary_params_t *p, double in_scale, int in_zp,
                  double out_scale, int out_zp, double (*f)(double, double),
                  double arg, long tolerance) {
  int8_t x[256], y[256], table[256];
  long worst = 0;
  int i;
  for (i = 0; i < 256; ++i) x[i] = (int8_t)(i - 128);
  CHECK(unit_unary_int8(p, 256, x, y) == UNIT_OK);
  CHECK(unit_unary_table_int8(p, table) == UNIT_OK);
  CHECK(memcmp(table, y, 256) == 0);
  for (i = 0; i < 256; ++i) {
    const double real = f(in_scale * ((double)x[i] - in_zp), arg);
    const long want = clamp_int8(round_half_away(real / out_scale) + out_zp);
    const long err = labs((long)y[i] - want);
    if (err > worst) worst = err;
  }
  CHECK(worst <= tolerance);
  return worst;
}

static double f_logistic(double v, double a) { (void)a; return 1.0 / (1.0 + exp(-v)); }
static double f_tanh(double v, double a) { (void)a; return tanh(v); }
static double f_hard_swish(double v, double a) { (void)a; return hard_swish_real(v); }
static double f_leaky(double v, double a) { return v > 0 ? v : v * a; }
static double f_relu(double v, double a) { (void)a; return v > 0 ? v : 0; }
static double f_relu_n1(double v, double a) {
  (void)a;
  return v < -1 ? -1 : (v > 1 ? 1 : v);
}

static void test_unary(void) {
  int trial;
  for (trial = 0; trial < 80; ++trial) {
    unit_unary_params_t p;
    const float si = rand_scale(), so = rand_scale();
    const int zi = (int)unit_test_rand(-128, 127), zo = (int)unit_test_rand(-128, 127);
    const float alpha = (float)(unit_test_rand(-100, 100) / 100.0);
    int8_t x[256], y[256];
    int i;
    CHECK(unit_logistic_prepare_int8(si, zi, -128, &p) == UNIT_OK);
    sweep(&p, si, zi, 1.0 / 256.0, -128, f_logistic, 0, 1);
    CHECK(unit_tanh_prepare_int8(si, zi, &p) == UNIT_OK);
    sweep(&p, si, zi, 1.0 / 128.0, 0, f_tanh, 0, 1);
    if (unit_hard_swish_prepare_int8(si, zi, so, zo, &p) == UNIT_OK)
      sweep(&p, si, zi, so, zo, f_hard_swish, 0, 2);
    CHECK(unit_leaky_relu_prepare_int8(si, zi, alpha, so, zo, &p) == UNIT_OK);
    sweep(&p, si, zi, so, zo, f_leaky, alpha, 1);
    CHECK(unit_relu_prepare_int8(UNIT_ACT_RELU, si, zi, so, zo, &p) == UNIT_OK);
    sweep(&p, si, zi, so, zo, f_relu, 0, 1);
    CHECK(unit_relu_prepare_int8(UNIT_ACT_RELU_N1_TO_1, si, zi, so, zo, &p) ==
          UNIT_OK);
    sweep(&p, si, zi, so, zo, f_relu_n1, 0, 1);
    /* RELU6 (TFLM): the raw input clamped to [zero point, quantised 6] */
    CHECK(unit_relu_prepare_int8(UNIT_ACT_RELU6, si, zi, so, zo, &p) == UNIT_OK);
    for (i = 0; i < 256; ++i) x[i] = (int8_t)(i - 128);
    CHECK(unit_unary_int8(&p, 256, x, y) == UNIT_OK);
    {
      const long six = clamp_int8(round_half_away(6.0 / si) + zi);
      int bad = 0;
      for (i = 0; i < 256; ++i) {
        const long want = x[i] < zi ? zi : (x[i] > six ? six : x[i]);
        bad |= y[i] != want;
      }
      CHECK(!bad);
    }
    CHECK(unit_lut_int8((const int8_t *)y, 256, x, x) == UNIT_OK);
    CHECK(memcmp(x, y, 256) == 0); /* RELU6 twice: idempotent */
  }
}

static void test_unary_errors(void) {
  unit_unary_params_t p;
  int8_t x[4] = {0, 1, 2, 3}, table[256];
  CHECK(unit_logistic_prepare_int8(0.1f, 0, 0, &p) == UNIT_ERR_OFFSET);
  CHECK(unit_logistic_prepare_int8(0.0f, 0, -128, &p) == UNIT_ERR_ARG);
  CHECK(unit_tanh_prepare_int8(0.1f, 200, &p) == UNIT_ERR_OFFSET);
  CHECK(unit_hard_swish_prepare_int8(1.0f, 0, 1e-5f, 0, &p) == UNIT_ERR_REQUANT);
  CHECK(unit_relu_prepare_int8(0, 0.1f, 0, 0.1f, 0, &p) == UNIT_ERR_ARG);
  CHECK(unit_leaky_relu_prepare_int8(0.1f, 0, 0.2f, 0.1f, 0, NULL) == UNIT_ERR_NULL);
  CHECK(unit_tanh_prepare_int8(0.1f, 0, &p) == UNIT_OK);
  CHECK(unit_unary_int8(&p, 4, NULL, x) == UNIT_ERR_NULL);
  CHECK(unit_unary_int8(&p, -1, x, x) == UNIT_ERR_ARG);
  p.kind = 9;
  CHECK(unit_unary_int8(&p, 4, x, x) == UNIT_ERR_ARG);
  CHECK(unit_unary_table_int8(&p, table) == UNIT_ERR_ARG);
  CHECK(unit_tanh_prepare_int8(0.1f, 0, &p) == UNIT_OK);
  p.shift1 = 40;
  CHECK(unit_unary_int8(&p, 4, x, x) == UNIT_ERR_REQUANT);
  CHECK(unit_lut_int8(NULL, 4, x, x) == UNIT_ERR_NULL);
}

/* Offset of output index `flat` in an input of dims `in` (broadcast). */
static int32_t broadcast_offset(int32_t flat, int32_t n, const int32_t *out,
                                const int32_t *in) {
  int32_t d, offset = 0, stride = 1;
  for (d = n - 1; d >= 0; --d) {
    const int32_t coord = flat % out[d];
    flat /= out[d];
    if (in[d] != 1) offset += coord * stride;
    stride *= in[d];
  }
  return offset;
}

static double binary_real(int32_t kind, double a, double b) {
  switch (kind) {
    case UNIT_BINARY_MUL: return a * b;
    case UNIT_BINARY_SUB: return a - b;
    case UNIT_BINARY_SQUARED_DIFFERENCE: return (a - b) * (a - b);
    default: return a >= 0 ? a : a * b; /* PRELU */
  }
}

static void test_binary(void) {
  static int8_t in1[512], in2[512], out[512];
  static float f1[512], f2[512], fo[512];
  int trial;
  for (trial = 0; trial < 300; ++trial) {
    const int32_t kind = (int32_t)unit_test_rand(0, 5);
    const int32_t n = (int32_t)unit_test_rand(1, 4);
    int32_t dims1[4], dims2[4], dims_out[4], total = 1, i, d;
    float s1 = rand_scale() * 20, s2 = rand_scale() * 20, so = rand_scale() * 20;
    const int z1 = (int)unit_test_rand(-128, 127), z2 = (int)unit_test_rand(-128, 127);
    const int zo = (int)unit_test_rand(-128, 127);
    long worst = 0;
    unit_binary_params_t p;
    unit_status_t status;
    int bad = 0;
    for (d = 0; d < n; ++d) {
      dims_out[d] = (int32_t)unit_test_rand(1, 4);
      dims1[d] = unit_test_rand(0, 3) ? dims_out[d] : 1;
      dims2[d] = unit_test_rand(0, 3) ? dims_out[d] : 1;
      total *= dims_out[d];
    }
    for (i = 0; i < total; ++i) {
      in1[i] = (int8_t)unit_test_rand(-128, 127);
      in2[i] = (int8_t)unit_test_rand(-128, 127);
      f1[i] = (float)in1[i] / 16.0f;
      f2[i] = (float)in2[i] / 16.0f;
    }
    if (kind == UNIT_BINARY_SQUARED_DIFFERENCE) so *= 50; /* the square's range */
    status = unit_binary_prepare_int8(kind, s1, z1, s2, z2, so, zo,
                                      (int32_t)unit_test_rand(0, 3), &p);
    if (kind == UNIT_BINARY_SQUARED_DIFFERENCE || kind >= UNIT_BINARY_MINIMUM)
      CHECK(p.act_min == -128 && p.act_max == 127);
    if (status != UNIT_OK) continue; /* e.g. a SUB output multiplier >= 1 */
    CHECK(unit_binary_int8(&p, n, dims1, in1, dims2, in2, dims_out, out) ==
          UNIT_OK);
    for (i = 0; i < total; ++i) {
      const int8_t a = in1[broadcast_offset(i, n, dims_out, dims1)];
      const int8_t b = in2[broadcast_offset(i, n, dims_out, dims2)];
      if (kind == UNIT_BINARY_MINIMUM || kind == UNIT_BINARY_MAXIMUM) {
        bad |= out[i] != (kind == UNIT_BINARY_MINIMUM ? (a < b ? a : b)
                                                       : (a > b ? a : b));
      } else {
        const double real = binary_real(kind, s1 * ((double)a - z1),
                                        s2 * ((double)b - z2));
        long want = round_half_away(real / so) + zo;
        long err;
        want = want < p.act_min ? p.act_min : (want > p.act_max ? p.act_max : want);
        err = labs((long)out[i] - want);
        if (err > worst) worst = err;
      }
    }
    CHECK(!bad);
    /* SQUARED_DIFFERENCE rounds the inputs to a 2^-8 grid before squaring */
    CHECK(worst <= (kind == UNIT_BINARY_SQUARED_DIFFERENCE ? 2 : 1));
    /* float: the same walk, the definition's expression */
    CHECK(unit_binary_float(kind, -1e30f, 1e30f, n, dims1, f1, dims2, f2,
                            dims_out, fo) == UNIT_OK);
    for (i = 0; i < total; ++i) {
      const float a = f1[broadcast_offset(i, n, dims_out, dims1)];
      const float b = f2[broadcast_offset(i, n, dims_out, dims2)];
      float want;
      switch (kind) {
        case UNIT_BINARY_MUL: want = a * b; break;
        case UNIT_BINARY_SUB: want = a - b; break;
        case UNIT_BINARY_SQUARED_DIFFERENCE: want = (a - b) * (a - b); break;
        case UNIT_BINARY_MINIMUM: want = a < b ? a : b; break;
        case UNIT_BINARY_MAXIMUM: want = a > b ? a : b; break;
        default: want = a >= 0.0f ? a : a * b; break;
      }
      bad |= fo[i] != want;
    }
    CHECK(!bad);
  }
}

static void test_binary_errors(void) {
  unit_binary_params_t p;
  int8_t a[4] = {1, 2, 3, 4}, out[4];
  const int32_t d4[1] = {4}, d3[1] = {3};
  float fa[4] = {0}, fo[4];
  CHECK(unit_binary_prepare_int8(7, 1, 0, 1, 0, 1, 0, 0, &p) == UNIT_ERR_ARG);
  CHECK(unit_binary_prepare_int8(UNIT_BINARY_MUL, 1, 300, 1, 0, 1, 0, 0, &p) ==
        UNIT_ERR_OFFSET);
  CHECK(unit_binary_prepare_int8(UNIT_BINARY_SUB, 1, 0, 1, 0, 1e-9f, 0, 0, &p) ==
        UNIT_ERR_REQUANT); /* output multiplier above one */
  CHECK(unit_binary_prepare_int8(UNIT_BINARY_MUL, 0.1f, 0, 0.1f, 0, 0.1f, 0, 0,
                                 &p) == UNIT_OK);
  CHECK(unit_binary_int8(&p, 1, d4, a, d3, a, d4, out) == UNIT_ERR_SHAPE);
  CHECK(unit_binary_int8(&p, 0, d4, a, d4, a, d4, out) == UNIT_ERR_ARG);
  CHECK(unit_binary_int8(&p, 1, d4, NULL, d4, a, d4, out) == UNIT_ERR_NULL);
  p.act_min = 5, p.act_max = 4;
  CHECK(unit_binary_int8(&p, 1, d4, a, d4, a, d4, out) != UNIT_OK);
  CHECK(unit_binary_float(UNIT_BINARY_MUL, 1, 0, 1, d4, fa, d4, fa, d4, fo) ==
        UNIT_ERR_ARG);
  CHECK(unit_unary_float(UNIT_UNARY_TANH, 0, 0, 0, 4, fa, NULL) == UNIT_ERR_NULL);
}

static void test_unary_float(void) {
  float x[64], y[64];
  int i, bad = 0;
  for (i = 0; i < 64; ++i) x[i] = (float)(i - 32) * 0.7f;
  CHECK(unit_unary_float(UNIT_UNARY_LOGISTIC, 0, 0, 0, 64, x, y) == UNIT_OK);
  for (i = 0; i < 64; ++i) {
    const float v = x[i];
    const float want = v > 16.619047164916992188f ? 1.0f
                       : v < -9.0f ? expf(v) : 1.0f / (1.0f + expf(-v));
    bad |= y[i] != want;
  }
  CHECK(unit_unary_float(UNIT_UNARY_RELU_X, 0, -1.0f, 1.0f, 64, x, y) == UNIT_OK);
  for (i = 0; i < 64; ++i) bad |= y[i] != (x[i] < -1 ? -1.0f : x[i] > 1 ? 1.0f : x[i]);
  CHECK(unit_unary_float(UNIT_UNARY_LEAKY_RELU, 0.25f, 0, 0, 64, x, y) == UNIT_OK);
  for (i = 0; i < 64; ++i) bad |= y[i] != (x[i] > 0 ? x[i] : x[i] * 0.25f);
  CHECK(!bad);
}

int main(void) {
  test_unary();
  test_unary_errors();
  test_binary();
  test_binary_errors();
  test_unary_float();
  return unit_test_report("test_activation");
}
