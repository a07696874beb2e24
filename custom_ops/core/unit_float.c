/* float32 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED with UnIT skipping.
 *
 * Each output value is summed in TFLM's reference order (ky, kx, ic for conv;
 * ky, kx for depthwise; d for fully connected), then bias, then the clamp, so
 * that with no thresholds the result equals the builtin kernels bit for bit.
 * Skipping follows the int8 kernels: tau = T / |w| once per weight
 * (conv/depthwise) or T / |x| once per input and group (fully connected),
 * with `exact` division or the IEEE-754 exponent (`bitmask`).
 */
#include <math.h>
#include <string.h>

#include "unit_internal.h"

/* T * 2^-e with e = floor(log2 |d|) read from |d|'s IEEE-754 exponent field
 * and subtracted from T's: a bit mask and an integer subtraction, no FPU
 * division.  Subnormal or out-of-range values take the library path. */
float unit_divide_float(float t, float d, unit_float_division_t mode) {
  float magnitude = d < 0.0f ? -d : d;
  uint32_t t_bits, d_bits;
  int32_t t_exponent, d_exponent, new_exponent;
  if (!(t > 0.0f)) return 0.0f;
  if (magnitude == 0.0f) return INFINITY;
  if (mode != UNIT_FDIV_BITMASK) return t / magnitude;
  memcpy(&t_bits, &t, sizeof t_bits);
  memcpy(&d_bits, &magnitude, sizeof d_bits);
  t_exponent = (int32_t)((t_bits >> 23) & 0xFFu);
  d_exponent = (int32_t)((d_bits >> 23) & 0xFFu);
  new_exponent = t_exponent - (d_exponent - 127);
  if (t_exponent == 0 || t_exponent == 0xFF || d_exponent == 0 ||
      d_exponent == 0xFF || new_exponent <= 0 || new_exponent >= 0xFF) {
    int k = 0;
    (void)frexpf(magnitude, &k); /* |d| = m * 2^k, m in [0.5, 1) */
    return ldexpf(t, -(k - 1));
  }
  t_bits = (t_bits & ~((uint32_t)0xFFu << 23)) | ((uint32_t)new_exponent << 23);
  memcpy(&t, &t_bits, sizeof t);
  return t;
}


static int float_skip_enabled(const unit_float_skip_t *skip) {
  return skip && skip->thresholds;
}

static unit_status_t check_float_skip(const unit_float_skip_t *skip,
                                      int32_t channels) {
  if (!float_skip_enabled(skip)) return UNIT_OK;
  if (skip->group_size <= 0 || channels % skip->group_size != 0)
    return UNIT_ERR_GROUP;
  if (skip->division != UNIT_FDIV_EXACT && skip->division != UNIT_FDIV_BITMASK)
    return UNIT_ERR_DIVISION;
  return UNIT_OK;
}

static float clamp_float(float v, float lo, float hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* tau[k] = T / |w_k| for weights[k * stride]; zero weights never multiply. */
static void float_weight_quotients(float t, unit_float_division_t mode,
                                   const float *weights, size_t count,
                                   size_t stride, float *tau) {
  size_t k;
  for (k = 0; k < count; ++k) {
    const float w = weights[k * stride];
    tau[k] = (w == 0.0f) ? INFINITY : unit_divide_float(t, w, mode);
  }
}

/* tau == NULL: dense.  Otherwise skip taps with x == 0 or |x| <= tau. */
static int float_tap_skipped(float x, const float *tau, size_t k) {
  if (!tau) return 0;
  return x == 0.0f || (x < 0.0f ? -x : x) <= tau[k];
}

/* Float kernels need scratch only when skipping: the quotients of one
 * channel's weights (`taps` floats), or one float per output of fully
 * connected.  0 for invalid shapes / skip. */
size_t unit_conv_float_scratch_bytes(const unit_shape_t *filter,
                                     const unit_float_skip_t *skip) {
  if (!filter || !float_skip_enabled(skip) ||
      unit_shape_count(filter, UNIT_INDEX_MAX) < 0 ||
      check_float_skip(skip, filter->n) != UNIT_OK)
    return 0;
  return unit_size_mul_add((size_t)filter->h * filter->w * filter->c,
                           sizeof(float), 0u);
}

size_t unit_depthwise_float_scratch_bytes(const unit_shape_t *filter,
                                          const unit_float_skip_t *skip) {
  if (!filter || !float_skip_enabled(skip) ||
      unit_shape_count(filter, UNIT_INDEX_MAX) < 0 ||
      check_float_skip(skip, filter->c) != UNIT_OK)
    return 0;
  return unit_size_mul_add((size_t)filter->h * filter->w, sizeof(float), 0u);
}

size_t unit_fc_float_scratch_bytes(int32_t output_depth,
                                   const unit_float_skip_t *skip) {
  if (!float_skip_enabled(skip) || output_depth <= 0 ||
      output_depth > UNIT_INDEX_MAX ||
      check_float_skip(skip, output_depth) != UNIT_OK)
    return 0;
  return unit_size_mul_add((size_t)output_depth, sizeof(float), 0u);
}

/* A float clamp: lo <= hi, neither NaN (infinities are fine). */
static unit_status_t check_float_act(float lo, float hi) {
  return lo <= hi ? UNIT_OK : UNIT_ERR_ACTIVATION;
}

/* Pointers, shapes, geometry, clamp (no layout: each op checks its own). */
static unit_status_t check_conv_float(const unit_conv_float_params_t *p,
                                      const unit_shape_t *is,
                                      const float *input,
                                      const unit_shape_t *fs,
                                      const float *filter,
                                      const unit_shape_t *os,
                                      const float *output) {
  unit_status_t status;
  if (!p || !is || !input || !fs || !filter || !os || !output)
    return UNIT_ERR_NULL;
  status = unit_check_conv_geometry(p->stride_h, p->stride_w, p->dilation_h,
                                    p->dilation_w, p->pad_h, p->pad_w, is, fs,
                                    os);
  if (status != UNIT_OK) return status;
  return check_float_act(p->act_min, p->act_max);
}

/* Every output of output channel `oc` of a float conv or depthwise conv
 * (TFLM's order of summation): the channel reads input channels
 * ic0 .. ic0 + n - 1; kernel position k's weight for the c-th of them is
 * w[k * w_step + c] and its quotient tau[k * n + c] (tau NULL: dense).
 * Returns the multiplications executed (counted in host builds). */
static uint64_t conv_float_channel(const unit_conv_float_params_t *p,
                                   const unit_shape_t *is, const float *input,
                                   const unit_shape_t *fs,
                                   const unit_shape_t *os, int32_t oc,
                                   int32_t ic0, int32_t n, const float *w,
                                   size_t w_step, const float *tau, float bias,
                                   float *output) {
  uint64_t executed = 0;
  int32_t b, oy, ox, ky, kx, c;
  for (b = 0; b < os->n; ++b) {
    for (oy = 0; oy < os->h; ++oy) {
      for (ox = 0; ox < os->w; ++ox) {
        float total = 0.0f;
        for (ky = 0; ky < fs->h; ++ky) {
          const int32_t in_y = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
          if (in_y < 0 || in_y >= is->h) continue;
          for (kx = 0; kx < fs->w; ++kx) {
            const int32_t in_x = ox * p->stride_w - p->pad_w + kx * p->dilation_w;
            const size_t k = (size_t)ky * fs->w + kx;
            const float *x;
            if (in_x < 0 || in_x >= is->w) continue;
            x = input + (((size_t)b * is->h + in_y) * is->w + in_x) * is->c + ic0;
            for (c = 0; c < n; ++c) {
              if (float_tap_skipped(x[c], tau, k * (size_t)n + c)) continue;
              total += x[c] * w[k * w_step + c];
              UNIT_COUNT_ADD(executed, 1);
            }
          }
        }
        output[(((size_t)b * os->h + oy) * os->w + ox) * os->c + oc] =
            clamp_float(total + bias, p->act_min, p->act_max);
      }
    }
  }
  return executed;
}

unit_status_t unit_conv_2d_float(const unit_conv_float_params_t *params,
                                 const unit_shape_t *input_shape,
                                 const float *input,
                                 const unit_shape_t *filter_shape,
                                 const float *filter, const float *bias,
                                 const unit_shape_t *output_shape,
                                 float *output, const unit_float_skip_t *skip,
                                 void *scratch, size_t scratch_bytes,
                                 unit_stats_t *stats) {
  const unit_conv_float_params_t *p = params;
  const unit_shape_t *is = input_shape, *fs = filter_shape, *os = output_shape;
  float *tau = 0;
  int32_t oc;
  unit_status_t status;
  status = check_conv_float(p, is, input, fs, filter, os, output);
  if (status != UNIT_OK) return status;
  if (fs->c != is->c || os->c != fs->n || os->n != is->n) return UNIT_ERR_SHAPE;
  status = check_float_skip(skip, os->c);
  if (status != UNIT_OK) return status;
  if (float_skip_enabled(skip)) {
    const size_t need = unit_conv_float_scratch_bytes(fs, skip);
    if (need == 0u) return UNIT_ERR_OVERFLOW;
    if (!scratch || scratch_bytes < need) return UNIT_ERR_SCRATCH;
    tau = (float *)scratch;
  }
#if UNIT_COUNTERS
  if (stats)
    stats->macs_total += (uint64_t)os->n * os->h * os->w * os->c * fs->h *
                         fs->w * fs->c;
#endif
  for (oc = 0; oc < os->c; ++oc) {
    const size_t taps = (size_t)fs->h * fs->w * fs->c;
    const float *filter_oc = filter + (size_t)oc * taps; /* [Co, kh, kw, Ci] */
    if (tau)
      float_weight_quotients(skip->thresholds[oc / skip->group_size],
                             skip->division, filter_oc, taps, 1, tau);
    unit_stats_add_channel(
        stats, oc,
        conv_float_channel(p, is, input, fs, os, oc, 0, is->c, filter_oc,
                           (size_t)fs->c, tau, bias ? bias[oc] : 0.0f, output));
  }
  (void)stats;
  return UNIT_OK;
}

unit_status_t unit_depthwise_conv_2d_float(
    const unit_conv_float_params_t *params, const unit_shape_t *input_shape,
    const float *input, const unit_shape_t *filter_shape, const float *filter,
    const float *bias, const unit_shape_t *output_shape, float *output,
    const unit_float_skip_t *skip, void *scratch, size_t scratch_bytes,
    unit_stats_t *stats) {
  const unit_conv_float_params_t *p = params;
  const unit_shape_t *is = input_shape, *fs = filter_shape, *os = output_shape;
  float *tau = 0;
  int32_t oc;
  unit_status_t status;
  status = check_conv_float(p, is, input, fs, filter, os, output);
  if (status != UNIT_OK) return status;
  if (p->depth_multiplier <= 0) return UNIT_ERR_ARG;
  if (fs->n != 1 ||
      unit_mul_limit(is->c, p->depth_multiplier, UNIT_INDEX_MAX) != fs->c ||
      os->c != fs->c || os->n != is->n)
    return UNIT_ERR_SHAPE;
  status = check_float_skip(skip, os->c);
  if (status != UNIT_OK) return status;
  if (float_skip_enabled(skip)) {
    const size_t need = unit_depthwise_float_scratch_bytes(fs, skip);
    if (need == 0u) return UNIT_ERR_OVERFLOW;
    if (!scratch || scratch_bytes < need) return UNIT_ERR_SCRATCH;
    tau = (float *)scratch;
  }
#if UNIT_COUNTERS
  if (stats)
    stats->macs_total +=
        (uint64_t)os->n * os->h * os->w * os->c * fs->h * fs->w;
#endif
  for (oc = 0; oc < os->c; ++oc) {
    /* filter [1, kh, kw, Co]: position k's weight at filter[k * Co + oc] */
    if (tau)
      float_weight_quotients(skip->thresholds[oc / skip->group_size],
                             skip->division, filter + oc,
                             (size_t)fs->h * fs->w, (size_t)fs->c, tau);
    unit_stats_add_channel(
        stats, oc,
        conv_float_channel(p, is, input, fs, os, oc, oc / p->depth_multiplier,
                           1, filter + oc, (size_t)fs->c, tau,
                           bias ? bias[oc] : 0.0f, output));
  }
  (void)stats;
  return UNIT_OK;
}

unit_status_t unit_fully_connected_float(
    float act_min, float act_max, int32_t batches, int32_t input_depth,
    int32_t output_depth, const float *input, const float *filter,
    const float *bias, float *output, const unit_float_skip_t *skip,
    void *scratch, size_t scratch_bytes, unit_stats_t *stats) {
  int32_t b, d, o, g;
  unit_status_t status;
  if (!input || !filter || !output) return UNIT_ERR_NULL;
  if (batches <= 0 || input_depth <= 0 || output_depth <= 0)
    return UNIT_ERR_ARG;
  if (unit_mul_limit(batches, input_depth, UNIT_INDEX_MAX) < 0 ||
      unit_mul_limit(output_depth, input_depth, UNIT_INDEX_MAX) < 0 ||
      unit_mul_limit(batches, output_depth, UNIT_INDEX_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  status = check_float_act(act_min, act_max);
  if (status != UNIT_OK) return status;
  status = check_float_skip(skip, output_depth);
  if (status != UNIT_OK) return status;
#if UNIT_COUNTERS
  if (stats) stats->macs_total += (uint64_t)batches * input_depth * output_depth;
#endif
  if (!float_skip_enabled(skip)) {
    for (b = 0; b < batches; ++b) {
      for (o = 0; o < output_depth; ++o) {
        float total = 0.0f;
        for (d = 0; d < input_depth; ++d)
          total += input[(size_t)b * input_depth + d] *
                   filter[(size_t)o * input_depth + d];
        output[(size_t)b * output_depth + o] =
            clamp_float(total + (bias ? bias[o] : 0.0f), act_min, act_max);
      }
    }
#if UNIT_COUNTERS
    if (stats) {
      stats->macs_executed += (uint64_t)batches * input_depth * output_depth;
      if (stats->channel_executed)
        for (o = 0; o < output_depth; ++o)
          stats->channel_executed[o] += (uint64_t)batches * input_depth;
    }
#endif
    return UNIT_OK;
  }
  if (unit_fc_float_scratch_bytes(output_depth, skip) == 0u)
    return UNIT_ERR_OVERFLOW;
  if (!scratch || scratch_bytes < unit_fc_float_scratch_bytes(output_depth, skip))
    return UNIT_ERR_SCRATCH;
  {
    /* Input-stationary; each output still sums over d in order. */
    float *total = (float *)scratch;
    const int32_t group_size = skip->group_size;
    const int32_t groups = output_depth / group_size;
    for (b = 0; b < batches; ++b) {
      for (o = 0; o < output_depth; ++o) total[o] = 0.0f;
      for (d = 0; d < input_depth; ++d) {
        const float x = input[(size_t)b * input_depth + d];
        if (x == 0.0f) continue;
        for (g = 0; g < groups; ++g) {
          const float tau =
              unit_divide_float(skip->thresholds[g], x, skip->division);
          for (o = g * group_size; o < (g + 1) * group_size; ++o) {
            const float w = filter[(size_t)o * input_depth + d];
            if (w == 0.0f || (w < 0.0f ? -w : w) <= tau) continue;
            total[o] += x * w;
#if UNIT_COUNTERS
            if (stats) {
              stats->macs_executed += 1u;
              if (stats->channel_executed) stats->channel_executed[o] += 1u;
            }
#endif
          }
        }
      }
      for (o = 0; o < output_depth; ++o)
        output[(size_t)b * output_depth + o] =
            clamp_float(total[o] + (bias ? bias[o] : 0.0f), act_min, act_max);
    }
  }
  (void)stats;
  return UNIT_OK;
}
