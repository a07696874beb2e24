/* The float32 pooling / add / softmax / mean kernels (unit_ops_float.c)
 * against definitions written here from first principles (full windows
 * with a bounds test, explicit index arithmetic) and against each other
 * and the int8 kernels where their results must agree exactly. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "unit_activation.h"
#include "unit_ops.h"
#include "unit_test.h"

static float rand_float(void) {
  return (float)unit_test_rand(-20000, 20000) / 1024.0f;
}

static float clampf(float x, float lo, float hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* Pooling on random shapes and SAME / VALID geometries: the window walked
 * in full with a bounds test per tap, rows then columns. */
static void test_pool(void) {
  static float in[4 * 9 * 9 * 5], out[4 * 9 * 9 * 5], want_max, want_avg;
  static int8_t in8[4 * 9 * 9 * 5], out8[4 * 9 * 9 * 5];
  int trial, bad = 0, bad8 = 0, cases = 0;
  for (trial = 0; trial < 200; ++trial) {
    unit_shape_t is, os;
    unit_pool_params_t p;
    const unit_padding_t padding =
        unit_test_rand(0, 1) ? UNIT_PADDING_SAME : UNIT_PADDING_VALID;
    const int32_t fh = (int32_t)unit_test_rand(1, 4), fw = (int32_t)unit_test_rand(1, 4);
    const int32_t sh = (int32_t)unit_test_rand(1, 3), sw = (int32_t)unit_test_rand(1, 3);
    const int act = (int)unit_test_rand(0, 3);
    const float lo = act == 0 ? -FLT_MAX : act == 2 ? -1.0f : 0.0f;
    const float hi = act == 0 || act == 1 ? FLT_MAX : act == 2 ? 1.0f : 6.0f;
    int32_t b, y, x, c, n, i;
    is.n = (int32_t)unit_test_rand(1, 4);
    is.h = (int32_t)unit_test_rand(1, 9);
    is.w = (int32_t)unit_test_rand(1, 9);
    is.c = (int32_t)unit_test_rand(1, 5);
    if (unit_pool_prepare_int8(padding, fh, fw, sh, sw, &is, UNIT_ACT_NONE, 1.0f,
                               0, &p, &os) != UNIT_OK)
      continue; /* VALID with a window larger than the input */
    ++cases;
    n = is.n * is.h * is.w * is.c;
    for (i = 0; i < n; ++i) {
      in8[i] = (int8_t)unit_test_rand(-128, 127);
      in[i] = (trial & 1) ? (float)in8[i] : rand_float();
    }
    CHECK(unit_max_pool_2d_float(&p, lo, hi, &is, in, &os, out) == UNIT_OK);
    for (b = 0; b < os.n; ++b)
      for (y = 0; y < os.h; ++y)
        for (x = 0; x < os.w; ++x)
          for (c = 0; c < os.c; ++c) {
            int32_t ky, kx;
            want_max = -FLT_MAX;
            for (ky = 0; ky < fh; ++ky)
              for (kx = 0; kx < fw; ++kx) {
                const int32_t iy = y * sh - p.pad_h + ky, ix = x * sw - p.pad_w + kx;
                if (iy < 0 || iy >= is.h || ix < 0 || ix >= is.w) continue;
                if (in[((b * is.h + iy) * is.w + ix) * is.c + c] > want_max)
                  want_max = in[((b * is.h + iy) * is.w + ix) * is.c + c];
              }
            bad |= out[((b * os.h + y) * os.w + x) * os.c + c] !=
                   clampf(want_max, lo, hi);
          }
    /* integer-valued floats pool to the int8 kernel's values */
    if ((trial & 1) && act == 0) {
      CHECK(unit_max_pool_2d_int8(&p, &is, in8, &os, out8) == UNIT_OK);
      for (i = 0; i < os.n * os.h * os.w * os.c; ++i)
        bad8 |= out[i] != (float)out8[i];
    }
    CHECK(unit_average_pool_2d_float(&p, lo, hi, &is, in, &os, out) == UNIT_OK);
    for (b = 0; b < os.n; ++b)
      for (y = 0; y < os.h; ++y)
        for (x = 0; x < os.w; ++x)
          for (c = 0; c < os.c; ++c) {
            int32_t ky, kx;
            float count = 0.0f;
            want_avg = 0.0f;
            for (ky = 0; ky < fh; ++ky)
              for (kx = 0; kx < fw; ++kx) {
                const int32_t iy = y * sh - p.pad_h + ky, ix = x * sw - p.pad_w + kx;
                if (iy < 0 || iy >= is.h || ix < 0 || ix >= is.w) continue;
                want_avg += in[((b * is.h + iy) * is.w + ix) * is.c + c];
                count += 1.0f;
              }
            bad |= out[((b * os.h + y) * os.w + x) * os.c + c] !=
                   clampf(want_avg / count, lo, hi);
          }
  }
  CHECK(cases > 100);
  CHECK(!bad);
  CHECK(!bad8);
}

/* Broadcast ADD with index arithmetic per output element. */
static void test_add(void) {
  static float a[256], b[256], out[512];
  int trial, bad = 0;
  for (trial = 0; trial < 200; ++trial) {
    int32_t d1[4], d2[4], dout[4], idx[4], i, k, total = 1, n1 = 1, n2 = 1;
    const int act = (int)unit_test_rand(0, 3);
    const float lo = act == 0 ? -FLT_MAX : act == 2 ? -1.0f : 0.0f;
    const float hi = act == 0 || act == 1 ? FLT_MAX : act == 2 ? 1.0f : 6.0f;
    for (k = 0; k < 4; ++k) {
      dout[k] = (int32_t)unit_test_rand(1, 4);
      d1[k] = unit_test_rand(0, 2) ? dout[k] : 1;
      d2[k] = unit_test_rand(0, 2) ? dout[k] : 1;
      total *= dout[k];
      n1 *= d1[k];
      n2 *= d2[k];
    }
    for (i = 0; i < n1; ++i) a[i] = rand_float() / 256.0f;
    for (i = 0; i < n2; ++i) b[i] = rand_float() / 256.0f;
    CHECK(unit_add_float(lo, hi, 4, d1, a, d2, b, dout, out) == UNIT_OK);
    for (i = 0; i < total; ++i) {
      int32_t rest = i, o1 = 0, o2 = 0;
      for (k = 3; k >= 0; --k) {
        idx[k] = rest % dout[k];
        rest /= dout[k];
      }
      for (k = 0; k < 4; ++k) {
        o1 = o1 * d1[k] + (d1[k] == 1 ? 0 : idx[k]);
        o2 = o2 * d2[k] + (d2[k] == 1 ? 0 : idx[k]);
      }
      bad |= out[i] != clampf(a[o1] + b[o2], lo, hi);
    }
  }
  CHECK(!bad);
}

static void test_softmax(void) {
  static float in[6 * 33], out[6 * 33];
  const float betas[3] = {1.0f, 0.5f, 2.75f};
  int t, bad = 0, order = 0;
  for (t = 0; t < 3; ++t) {
    int32_t r, c;
    for (c = 0; c < 6 * 33; ++c) in[c] = rand_float() / 64.0f;
    CHECK(unit_softmax_float(betas[t], 6, 33, in, out) == UNIT_OK);
    for (r = 0; r < 6; ++r) {
      const float *x = in + r * 33;
      float m = x[0], sum = 0.0f, e[33];
      int32_t arg = 0, got = 0;
      for (c = 1; c < 33; ++c)
        if (x[c] > m) m = x[c], arg = c;
      for (c = 0; c < 33; ++c) sum += e[c] = expf((x[c] - m) * betas[t]);
      for (c = 0; c < 33; ++c) {
        bad |= out[r * 33 + c] != e[c] / sum;
        if (out[r * 33 + c] > out[r * 33 + got]) got = c;
      }
      order |= got != arg;
    }
  }
  CHECK(!bad);
  CHECK(!order); /* softmax keeps the arg max */
}

/* MEAN: every axis subset of a 4-D tensor against explicit sums, and over
 * H, W against a whole-image average pool (TFLM sums both in one order). */
static void test_mean(void) {
  static float in[3 * 4 * 5 * 6], out[3 * 4 * 5 * 6], pooled[3 * 6];
  const int32_t dims[4] = {3, 4, 5, 6};
  int mask, bad = 0;
  int32_t i;
  for (i = 0; i < 3 * 4 * 5 * 6; ++i) in[i] = rand_float();
  for (mask = 1; mask < 16; ++mask) {
    int32_t o = 0, q[4];
    CHECK(unit_mean_float(4, dims, (uint8_t)mask, in, out) == UNIT_OK);
    /* outputs in row-major order of the kept dims */
    for (q[0] = 0; q[0] < ((mask & 1) ? 1 : 3); ++q[0])
      for (q[1] = 0; q[1] < ((mask & 2) ? 1 : 4); ++q[1])
        for (q[2] = 0; q[2] < ((mask & 4) ? 1 : 5); ++q[2])
          for (q[3] = 0; q[3] < ((mask & 8) ? 1 : 6); ++q[3], ++o) {
            float sum = 0.0f, count = 0.0f;
            for (i = 0; i < 3 * 4 * 5 * 6; ++i) {
              const int32_t id[4] = {i / 120, i / 30 % 4, i / 6 % 5, i % 6};
              int k, match = 1;
              for (k = 0; k < 4; ++k)
                if (!(mask & (1 << k)) && id[k] != q[k]) match = 0;
              if (match) {
                sum += in[i];
                count += 1.0f;
              }
            }
            bad |= out[o] != sum / count;
          }
  }
  CHECK(!bad);
  {
    unit_shape_t is = {3, 4, 5, 6}, os = {3, 1, 1, 6};
    unit_pool_params_t p = {4, 5, 1, 1, 0, 0, 0, 0};
    CHECK(unit_mean_float(4, dims, 6, in, out) == UNIT_OK);
    CHECK(unit_average_pool_2d_float(&p, -FLT_MAX, FLT_MAX, &is, in, &os,
                                     pooled) == UNIT_OK);
    CHECK(memcmp(out, pooled, sizeof pooled) == 0);
  }
}

static void test_errors(void) {
  float x[16] = {0}, y[16];
  const int32_t d[2] = {4, 4}, d3[2] = {3, 4};
  unit_shape_t is = {1, 4, 4, 1}, os = {1, 2, 2, 1}, bad_out = {1, 2, 2, 2};
  unit_pool_params_t p = {2, 2, 2, 2, 0, 0, 0, 0};
  CHECK(unit_max_pool_2d_float(&p, 0, 6, &is, x, &os, y) == UNIT_OK);
  CHECK(unit_max_pool_2d_float(&p, 1, 0, &is, x, &os, y) == UNIT_ERR_ARG);
  CHECK(unit_max_pool_2d_float(&p, NAN, 0, &is, x, &os, y) == UNIT_ERR_ARG);
  CHECK(unit_max_pool_2d_float(NULL, 0, 6, &is, x, &os, y) == UNIT_ERR_NULL);
  CHECK(unit_average_pool_2d_float(&p, 0, 6, &is, x, &bad_out, y) ==
        UNIT_ERR_SHAPE);
  p.stride_h = 0;
  CHECK(unit_average_pool_2d_float(&p, 0, 6, &is, x, &os, y) != UNIT_OK);
  CHECK(unit_add_float(0, 1, 2, d, x, d3, x, d, y) == UNIT_ERR_SHAPE);
  CHECK(unit_add_float(1, 0, 2, d, x, d, x, d, y) == UNIT_ERR_ARG);
  CHECK(unit_add_float(0, 1, 2, d, NULL, d, x, d, y) == UNIT_ERR_NULL);
  CHECK(unit_softmax_float(0.0f, 4, 4, x, y) == UNIT_ERR_ARG);
  CHECK(unit_softmax_float(1.0f, 0, 4, x, y) == UNIT_ERR_ARG);
  CHECK(unit_softmax_float(1.0f, 4, 4, x, NULL) == UNIT_ERR_NULL);
  CHECK(unit_mean_float(2, d, 0, x, y) == UNIT_ERR_ARG);
  CHECK(unit_mean_float(2, d, 4, x, y) == UNIT_ERR_ARG);
  CHECK(unit_mean_float(0, d, 1, x, y) == UNIT_ERR_ARG);
  CHECK(unit_mean_float(2, d, 1, NULL, y) == UNIT_ERR_NULL);
}

int main(void) {
  test_pool();
  test_add();
  test_softmax();
  test_mean();
  test_errors();
  return unit_test_report("test_ops_float");
}
