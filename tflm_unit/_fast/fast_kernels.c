/* Host-only tiled, vectorisable forms of the int8 MAC kernels; see
 * fast_kernels.h for the contract (bit-identical to custom_ops/core).
 *
 * The hot loops are plain C the compiler vectorises (int16 x int16 -> int32
 * dot products, compare masks); on x86-64 with GCC they are built for AVX-512
 * / AVX2 / baseline and picked at load time (target_clones), so the build
 * flags do not depend on -march. */
#include "fast_kernels.h"

#include <pthread.h>
#include <string.h>

#include "unit_internal.h" /* unit_requantize: the core's requantisation */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
#define FAST_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FAST_CLONES
#endif

#define FAST_ALIGN(n) (((n) + (size_t)63) & ~(size_t)63)

int32_t fast_padded_depth(int32_t depth) {
  return (depth + FAST_K_ALIGN - 1) / FAST_K_ALIGN * FAST_K_ALIGN;
}

static int32_t padded_channels(int32_t out_c) { return (out_c + 15) / 16 * 16; }

/* tile [FAST_TILE][kp], counts [ocp], accumulators [FAST_TILE][ocp], a zero
 * row [kp] (ocp: channels rounded up to 16) */
size_t fast_conv_thread_scratch(const fast_conv_t *g, int32_t kp) {
  const size_t ocp = (size_t)padded_channels(g->out_c);
  return FAST_ALIGN((size_t)FAST_TILE * (size_t)kp * sizeof(int16_t)) +
         FAST_ALIGN(ocp * sizeof(uint64_t)) +
         FAST_ALIGN((size_t)FAST_TILE * ocp * sizeof(int32_t)) * 4u +
         FAST_ALIGN((size_t)kp * sizeof(int16_t)) +
         FAST_ALIGN(((size_t)FAST_TILE * (size_t)(kp / 2) + 16u) * sizeof(int32_t)) +
         FAST_ALIGN((size_t)FAST_TILE * sizeof(int32_t));
}

/* accumulators, per-channel counts (32 and 64 bit), one expanded input row */
size_t fast_depthwise_thread_scratch(const fast_conv_t *g) {
  const size_t c = (size_t)g->out_c;
  return FAST_ALIGN(c * sizeof(int32_t)) + FAST_ALIGN(c * sizeof(uint32_t)) +
         FAST_ALIGN(c * sizeof(uint64_t)) + FAST_ALIGN(c * sizeof(int16_t));
}

/* ------------------------------------------------------------ skip tables */

static int16_t group_threshold(const int16_t *thresholds, int32_t group_size,
                               int32_t oc) {
  return thresholds[oc / group_size];
}

static uint8_t magnitude8(int8_t w) {
  return (uint8_t)(w < 0 ? -(int16_t)w : w);
}

int fast_conv_skip_table(const int8_t *filter, int32_t out_c, int32_t depth,
                         int32_t kp, const int16_t *thresholds,
                         int32_t group_size, unit_division_t mode, int16_t *s) {
  int32_t oc, k;
  for (oc = 0; oc < out_c; ++oc) {
    const int16_t t = group_threshold(thresholds, group_size, oc);
    const int8_t *w = filter + (size_t)oc * depth;
    int16_t *row = s + (size_t)oc * kp;
    /* the core's quotient T_q / |w|; unit_divide gives INT16_MAX for w = 0 */
    for (k = 0; k < depth; ++k) row[k] = unit_divide(t, magnitude8(w[k]), mode);
    for (; k < kp; ++k) row[k] = INT16_MAX;
  }
  return 0;
}

int fast_depthwise_skip_table(const int8_t *filter, int32_t taps,
                              int32_t out_c, const int16_t *thresholds,
                              int32_t group_size, unit_division_t mode,
                              int16_t *s) {
  int32_t tap, oc;
  for (tap = 0; tap < taps; ++tap)
    for (oc = 0; oc < out_c; ++oc) {
      const size_t i = (size_t)tap * out_c + oc;
      s[i] = unit_divide(group_threshold(thresholds, group_size, oc),
                         magnitude8(filter[i]), mode);
    }
  return 0;
}

/* sigma[a] for |w| = a in 0..128: the core's FC skips input magnitude m when
 * m == 0 or a <= T_q / m; that is m <= sigma[a] as long as the set is a
 * prefix of 1..255, which is checked.  -1 if it is not. */
static int fc_sigma(int16_t t, unit_division_t mode, int16_t sigma[129]) {
  int16_t tau[256];
  int32_t m, a;
  for (m = 1; m < 256; ++m) tau[m] = unit_divide(t, (uint8_t)m, mode);
  for (a = 0; a <= 128; ++a) {
    int32_t last = 0;
    while (last < 255 && tau[last + 1] >= a) ++last;
    for (m = last + 1; m < 256; ++m)
      if (tau[m] >= a) return -1; /* skipped again after an executed m */
    sigma[a] = (int16_t)last;
  }
  return 0;
}

int fast_fc_skip_table(const int8_t *filter, int32_t out_c, int32_t depth,
                       int32_t kp, const int16_t *thresholds,
                       int32_t group_size, unit_division_t mode, int16_t *s) {
  int16_t sigma[129];
  int32_t oc, k, current = -1;
  for (oc = 0; oc < out_c; ++oc) {
    const int8_t *w = filter + (size_t)oc * depth;
    int16_t *row = s + (size_t)oc * kp;
    if (oc / group_size != current) {
      current = oc / group_size;
      if (fc_sigma(thresholds[current], mode, sigma) != 0) return -1;
    }
    for (k = 0; k < depth; ++k) row[k] = sigma[magnitude8(w[k])];
    for (; k < kp; ++k) row[k] = INT16_MAX;
  }
  return 0;
}

/* ------------------------------------------------------------ threads */

typedef void (*fast_job_fn)(void *job);

typedef struct {
  fast_job_fn fn;
  void *job;
} fast_thread_arg_t;

static void *thread_main(void *arg) {
  fast_thread_arg_t *a = (fast_thread_arg_t *)arg;
  a->fn(a->job);
  return NULL;
}

/* Runs fn on jobs[0..n): jobs 1.. on new threads, job 0 on this one (in
 * turn, if a thread cannot be started). */
static void run_jobs(fast_job_fn fn, void *jobs, size_t job_size, int n) {
  pthread_t tid[8];
  fast_thread_arg_t args[8];
  int started[8] = {0};
  int i;
  if (n > 8) n = 8;
  for (i = 1; i < n; ++i) {
    args[i].fn = fn;
    args[i].job = (uint8_t *)jobs + (size_t)i * job_size;
    started[i] = pthread_create(&tid[i], NULL, thread_main, &args[i]) == 0;
  }
  fn(jobs);
  for (i = 1; i < n; ++i) {
    if (started[i])
      pthread_join(tid[i], NULL);
    else
      fn((uint8_t *)jobs + (size_t)i * job_size);
  }
}

/* ------------------------------------------------------------ conv / FC */

typedef struct {
  const fast_conv_t *g;
  int32_t kp;
  const int8_t *input;
  const int16_t *w16, *s;
  const int32_t *bias, *multiplier, *shift;
  int8_t *output;
  ptrdiff_t row_begin, row_end; /* output positions over all batches */
  int simd;        /* 0: portable tiles; else fast_simd_tile's level */
  int16_t *tile;
  uint64_t *counts; /* per output channel (UnIT) */
  int32_t *acc;     /* [FAST_TILE][ocp] (simd) */
  int16_t *zero_row;
  /* bias, multiplier, shift repeated per tile position, [FAST_TILE][out_c] */
  int32_t *rep_bias, *rep_multiplier, *rep_shift;
  uint64_t valid;   /* in-bounds (position, k) pairs (dense count) */
  int sparse;       /* UnIT bounds all >= 0: zero input pairs may be skipped */
  int32_t *pair_index, *pair_count; /* fast_simd_tile_unit_sparse scratch */
} conv_job_t;

/* dst[i] = src[i] + offset, and zeros: the runs im2col copies (AVX-512
 * masked forms where the tiles run there: runs are short, kw * in_c). */
static inline void convert_run(int simd, const int8_t *src, int16_t *dst,
                               ptrdiff_t n, int16_t offset) {
  ptrdiff_t i;
  if (n <= 0) return;
  if (simd) {
    fast_simd_convert_run(src, dst, n, offset);
    return;
  }
  for (i = 0; i < n; ++i) dst[i] = (int16_t)(src[i] + offset);
}

static inline void zero_run(int16_t *dst, ptrdiff_t n) {
  if (n > 0) memset(dst, 0, (size_t)n * sizeof(int16_t));
}

/* The uint8 tile (FAST_SIMD_U8): u = x + 128, padding 128 - input_offset. */
static inline void emit_run(int simd, void *tile, ptrdiff_t at, const int8_t *src,
                            ptrdiff_t n, int16_t offset) {
  if (n <= 0) return;
  if (FAST_U8_TILE(simd))
    fast_simd_flip_run(src, (uint8_t *)tile + at, n);
  else
    convert_run(simd, src, (int16_t *)tile + at, n, offset);
}

static inline void pad_run(int simd, void *tile, ptrdiff_t at, ptrdiff_t n,
                           int16_t offset) {
  if (n <= 0) return;
  if (FAST_U8_TILE(simd))
    memset((uint8_t *)tile + at, 128 - offset, (size_t)n);
  else
    zero_run((int16_t *)tile + at, n);
}

/* emit_run for the runs of an interior window, with the uint8 tile's runs
 * of up to 64 bytes copied inline as 8-byte words, u = x ^ 0x80 (a call and a
 * mask cost more than the few elements of a small-channel conv's row).  The
 * bytes of the last word past n land where the row's next run or padding is
 * written after this one, or in the spare half of the tile buffer (sized for
 * int16); the words never read past src_end. */
static inline void copy_run(int simd, void *tile, ptrdiff_t at, const int8_t *src,
                            ptrdiff_t n, int16_t offset, const int8_t *src_end) {
  const ptrdiff_t words = (n + 7) / 8;
  if (FAST_U8_TILE(simd) && n <= 64 && src + words * 8 <= src_end) {
    const uint64_t sign = 0x8080808080808080ull;
    uint8_t *dst = (uint8_t *)tile + at;
    ptrdiff_t i;
    for (i = 0; i < words; ++i) {
      uint64_t w;
      memcpy(&w, src + i * 8, 8);
      w ^= sign;
      memcpy(dst + i * 8, &w, 8);
    }
  } else if (!FAST_U8_TILE(simd) && n < 16) {
    int16_t *dst = (int16_t *)tile + at;
    ptrdiff_t i;
    for (i = 0; i < n; ++i) dst[i] = (int16_t)(src[i] + offset);
  } else {
    emit_run(simd, tile, at, src, n, offset);
  }
}

/* im2col of the n output positions r0.. into tile rows [n][kp]: x' at
 * in-bounds taps, 0 over padding and past the depth.  Returns the in-bounds
 * entries (the dense kernel's executed MACs per channel). */
static uint64_t gather_tile(const fast_conv_t *g, int32_t kp, int simd,
                            const int8_t *input, ptrdiff_t r0, int32_t n,
                            void *tile) {
  const ptrdiff_t positions = (ptrdiff_t)g->out_h * g->out_w;
  const ptrdiff_t image_size = (ptrdiff_t)g->in_h * g->in_w * g->in_c;
  const int16_t offset = (int16_t)g->input_offset;
  const ptrdiff_t c_n = g->in_c, row_len = (ptrdiff_t)g->k_w * c_n;
  const ptrdiff_t depth = (ptrdiff_t)g->k_h * row_len;
  const int8_t *const input_end = input + (ptrdiff_t)g->batches * image_size;
  ptrdiff_t b = r0 / positions, rem = r0 % positions;
  ptrdiff_t oy = rem / g->out_w, ox = rem % g->out_w;
  uint64_t valid = 0;
  int32_t p, ky, kx;
  for (p = 0; p < n; ++p) {
    const int8_t *image = input + b * image_size;
    const ptrdiff_t row = (ptrdiff_t)p * kp; /* element index of the row */
    const ptrdiff_t iy0 = oy * g->stride_h - g->pad_h, ix0 = ox * g->stride_w - g->pad_w;
    ptrdiff_t dst = row;
    if (g->dilation_w == 1 && iy0 >= 0 && iy0 + (ptrdiff_t)(g->k_h - 1) * g->dilation_h < g->in_h &&
        ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
      /* an interior window (most positions): k_h runs of row_len, a fixed
       * stride apart, with no bounds to test */
      const int8_t *src = image + (iy0 * g->in_w + ix0) * c_n;
      const ptrdiff_t src_step = (ptrdiff_t)g->dilation_h * g->in_w * c_n;
      for (ky = 0; ky < g->k_h; ++ky, dst += row_len, src += src_step) copy_run(simd, tile, dst, src, row_len, offset, input_end);
      valid += (uint64_t)depth;
    } else
    for (ky = 0; ky < g->k_h; ++ky, dst += row_len) {
      const ptrdiff_t iy = oy * g->stride_h - g->pad_h + (ptrdiff_t)ky * g->dilation_h;
      if (iy < 0 || iy >= g->in_h) { /* the whole kernel row reads padding */
        pad_run(simd, tile, dst, row_len, offset);
        continue;
      }
      if (g->dilation_w == 1) { /* the in-bounds taps of the row are one run */
        const ptrdiff_t ix0 = ox * g->stride_w - g->pad_w;
        const ptrdiff_t lo = ix0 < 0 ? (-ix0 < g->k_w ? -ix0 : g->k_w) : 0;
        ptrdiff_t hi = g->in_w - ix0 < g->k_w ? g->in_w - ix0 : g->k_w;
        if (hi < lo) hi = lo;
        pad_run(simd, tile, dst, lo * c_n, offset);
        emit_run(simd, tile, dst + lo * c_n, image + (iy * g->in_w + ix0 + lo) * c_n,
                 (hi - lo) * c_n, offset);
        pad_run(simd, tile, dst + hi * c_n, (g->k_w - hi) * c_n, offset);
        valid += (uint64_t)((hi - lo) * c_n);
        continue;
      }
      for (kx = 0; kx < g->k_w; ++kx) {
        const ptrdiff_t ix = ox * g->stride_w - g->pad_w + (ptrdiff_t)kx * g->dilation_w;
        if (ix < 0 || ix >= g->in_w) {
          pad_run(simd, tile, dst + kx * c_n, c_n, offset);
          continue;
        }
        emit_run(simd, tile, dst + kx * c_n, image + (iy * g->in_w + ix) * c_n, c_n, offset);
        valid += (uint64_t)c_n;
      }
    }
    pad_run(simd, tile, row + depth, kp - depth, offset);
    if (++ox == g->out_w) { /* next position */
      ox = 0;
      if (++oy == g->out_h) oy = 0, ++b;
    }
  }
  return valid;
}

/* Two positions (x0, x1) times four output channels (w rows 0..3, kp apart):
 * the dense dot products, int32 sums of int16 products. */
static inline void dense_2x4(const int16_t *restrict x0,
                             const int16_t *restrict x1,
                             const int16_t *restrict w, int32_t kp,
                             int32_t out[8]) {
  const int16_t *restrict w0 = w, *restrict w1 = w + kp;
  const int16_t *restrict w2 = w + 2 * (ptrdiff_t)kp, *restrict w3 = w + 3 * (ptrdiff_t)kp;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
  int32_t k;
  for (k = 0; k < kp; ++k) {
    a0 += (int32_t)x0[k] * w0[k];
    a1 += (int32_t)x0[k] * w1[k];
    a2 += (int32_t)x0[k] * w2[k];
    a3 += (int32_t)x0[k] * w3[k];
    b0 += (int32_t)x1[k] * w0[k];
    b1 += (int32_t)x1[k] * w1[k];
    b2 += (int32_t)x1[k] * w2[k];
    b3 += (int32_t)x1[k] * w3[k];
  }
  out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3;
  out[4] = b0, out[5] = b1, out[6] = b2, out[7] = b3;
}

static inline void dense_2x1(const int16_t *restrict x0,
                             const int16_t *restrict x1,
                             const int16_t *restrict w0, int32_t kp,
                             int32_t out[2]) {
  int32_t a0 = 0, b0 = 0, k;
  for (k = 0; k < kp; ++k) {
    a0 += (int32_t)x0[k] * w0[k];
    b0 += (int32_t)x1[k] * w0[k];
  }
  out[0] = a0, out[1] = b0;
}

/* The UnIT forms: the product x'*w is added where |x'| > s, and the same
 * mask is counted (executed MACs). */
static inline void unit_2x2(const int16_t *restrict x0,
                            const int16_t *restrict x1,
                            const int16_t *restrict w,
                            const int16_t *restrict s, int32_t kp,
                            int32_t out[4], int32_t cnt[4]) {
  const int16_t *restrict w0 = w, *restrict w1 = w + kp;
  const int16_t *restrict s0 = s, *restrict s1 = s + kp;
  int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  int16_t c0 = 0, c1 = 0, d0 = 0, d1 = 0; /* kp < 2^15 (checked by caller) */
  int32_t k;
  for (k = 0; k < kp; ++k) {
    const int16_t xa = x0[k], xb = x1[k];
    const int16_t ma = (int16_t)(xa < 0 ? -xa : xa), mb = (int16_t)(xb < 0 ? -xb : xb);
    const int16_t e0 = (int16_t)-(ma > s0[k]), e1 = (int16_t)-(ma > s1[k]);
    const int16_t f0 = (int16_t)-(mb > s0[k]), f1 = (int16_t)-(mb > s1[k]);
    a0 += (int32_t)xa * (int16_t)(w0[k] & e0);
    a1 += (int32_t)xa * (int16_t)(w1[k] & e1);
    b0 += (int32_t)xb * (int16_t)(w0[k] & f0);
    b1 += (int32_t)xb * (int16_t)(w1[k] & f1);
    c0 = (int16_t)(c0 - e0), c1 = (int16_t)(c1 - e1);
    d0 = (int16_t)(d0 - f0), d1 = (int16_t)(d1 - f1);
  }
  out[0] = a0, out[1] = a1, out[2] = b0, out[3] = b1;
  cnt[0] = (uint16_t)c0, cnt[1] = (uint16_t)c1, cnt[2] = (uint16_t)d0, cnt[3] = (uint16_t)d1;
}

static inline void unit_2x1(const int16_t *restrict x0,
                            const int16_t *restrict x1,
                            const int16_t *restrict w0,
                            const int16_t *restrict s0, int32_t kp,
                            int32_t out[2], int32_t cnt[2]) {
  int32_t a0 = 0, b0 = 0;
  int16_t c0 = 0, d0 = 0;
  int32_t k;
  for (k = 0; k < kp; ++k) {
    const int16_t xa = x0[k], xb = x1[k];
    const int16_t ma = (int16_t)(xa < 0 ? -xa : xa), mb = (int16_t)(xb < 0 ? -xb : xb);
    const int16_t e0 = (int16_t)-(ma > s0[k]), f0 = (int16_t)-(mb > s0[k]);
    a0 += (int32_t)xa * (int16_t)(w0[k] & e0);
    b0 += (int32_t)xb * (int16_t)(w0[k] & f0);
    c0 = (int16_t)(c0 - e0), d0 = (int16_t)(d0 - f0);
  }
  out[0] = a0, out[1] = b0;
  cnt[0] = (uint16_t)c0, cnt[1] = (uint16_t)d0;
}

static inline void store(const conv_job_t *j, ptrdiff_t r, int32_t oc,
                         int32_t acc) {
  const fast_conv_t *g = j->g;
  if (j->bias) acc += j->bias[oc];
  j->output[r * g->out_c + oc] =
      unit_requantize(acc, j->multiplier[oc], j->shift[oc], g->output_offset,
                      g->act_min, g->act_max);
}

/* The n (<= FAST_TILE) gathered positions r0.. of the tile times every
 * output channel, requantised into the output. */
FAST_CLONES
static void conv_tile(conv_job_t *j, ptrdiff_t r0, int32_t n) {
  const int32_t kp = j->kp, out_c = j->g->out_c;
  const int16_t *tile = j->tile;
  int32_t oc = 0, p;
  if (!j->s) {
    int32_t acc[8];
    for (; oc + 4 <= out_c; oc += 4) {
      const int16_t *w = j->w16 + (size_t)oc * kp;
      for (p = 0; p < n; p += 2) {
        const int two = p + 1 < n;
        const int16_t *x0 = tile + (size_t)p * kp;
        dense_2x4(x0, two ? x0 + kp : x0, w, kp, acc);
        store(j, r0 + p, oc, acc[0]), store(j, r0 + p, oc + 1, acc[1]);
        store(j, r0 + p, oc + 2, acc[2]), store(j, r0 + p, oc + 3, acc[3]);
        if (two) {
          store(j, r0 + p + 1, oc, acc[4]), store(j, r0 + p + 1, oc + 1, acc[5]);
          store(j, r0 + p + 1, oc + 2, acc[6]), store(j, r0 + p + 1, oc + 3, acc[7]);
        }
      }
    }
    for (; oc < out_c; ++oc) {
      const int16_t *w = j->w16 + (size_t)oc * kp;
      for (p = 0; p < n; p += 2) {
        const int two = p + 1 < n;
        const int16_t *x0 = tile + (size_t)p * kp;
        dense_2x1(x0, two ? x0 + kp : x0, w, kp, acc);
        store(j, r0 + p, oc, acc[0]);
        if (two) store(j, r0 + p + 1, oc, acc[1]);
      }
    }
  } else {
    int32_t acc[4], cnt[4];
    for (; oc + 2 <= out_c; oc += 2) {
      const int16_t *w = j->w16 + (size_t)oc * kp, *s = j->s + (size_t)oc * kp;
      for (p = 0; p < n; p += 2) {
        const int two = p + 1 < n;
        const int16_t *x0 = tile + (size_t)p * kp;
        unit_2x2(x0, two ? x0 + kp : x0, w, s, kp, acc, cnt);
        store(j, r0 + p, oc, acc[0]), store(j, r0 + p, oc + 1, acc[1]);
        j->counts[oc] += (uint64_t)cnt[0], j->counts[oc + 1] += (uint64_t)cnt[1];
        if (two) {
          store(j, r0 + p + 1, oc, acc[2]), store(j, r0 + p + 1, oc + 1, acc[3]);
          j->counts[oc] += (uint64_t)cnt[2], j->counts[oc + 1] += (uint64_t)cnt[3];
        }
      }
    }
    for (; oc < out_c; ++oc) {
      const int16_t *w = j->w16 + (size_t)oc * kp, *s = j->s + (size_t)oc * kp;
      for (p = 0; p < n; p += 2) {
        const int two = p + 1 < n;
        const int16_t *x0 = tile + (size_t)p * kp;
        unit_2x1(x0, two ? x0 + kp : x0, w, s, kp, acc, cnt);
        store(j, r0 + p, oc, acc[0]);
        j->counts[oc] += (uint64_t)cnt[0];
        if (two) {
          store(j, r0 + p + 1, oc, acc[1]);
          j->counts[oc] += (uint64_t)cnt[1];
        }
      }
    }
  }
}

/* The core's unit_requantize in 64-bit arithmetic (TFLite's own form of
 * MultiplyByQuantizedMultiplier): the core builds its product from 16 x 16
 * multiplies for 16-bit MCUs, which does not vectorise; this does (one
 * 32 x 32 -> 64 multiply per lane).  Same clamps of the shift, same results
 * for every input (tests/test_fast_kernels.py compares both). */
static inline int8_t fast_requantize(int32_t acc, int32_t multiplier, int32_t shift,
                                     int32_t output_offset, int32_t act_min, int32_t act_max) {
  int32_t left, right, high, mask, remainder, threshold, value;
  int64_t product;
  if (shift > 30) shift = 30;
  if (shift < -31) shift = -31;
  left = shift > 0 ? shift : 0;
  right = shift > 0 ? 0 : -shift;
  acc = (int32_t)((uint32_t)acc << left);
  product = (int64_t)acc * (int64_t)multiplier;
  product += product >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  /* truncating division by 2^31; only INT32_MIN * INT32_MIN leaves int32 */
  product = (product + (product < 0 ? (((int64_t)1 << 31) - 1) : 0)) >> 31;
  high = product > INT32_MAX ? INT32_MAX : (int32_t)product;
  mask = (int32_t)(((uint32_t)1 << right) - 1u);
  remainder = high & mask;
  threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  value = (high >> right) + (remainder > threshold ? 1 : 0);
  value = (int32_t)((uint32_t)value + (uint32_t)output_offset);
  if (value < act_min) value = act_min;
  if (value > act_max) value = act_max;
  return (int8_t)value;
}

void fast_requantize_int8(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                          int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out,
                          size_t n) {
  size_t i;
  for (i = 0; i < n; ++i)
    out[i] = fast_requantize(acc[i], multiplier[i], shift[i], output_offset, act_min, act_max);
}

/* Bias and the core's requantisation for n rows of accumulators [n][ocp]
 * (a loop the compiler vectorises once unit_requantize is inlined).  Only
 * the real channels are requantised: the rows are first packed to [n][out_c]
 * in place (a row never moves up), so one flat loop over n * out_c values
 * (per-channel values repeated per position, [FAST_TILE][out_c]) writes the
 * output rows r0.., which are contiguous. */
FAST_CLONES
static void requantize_rows(const conv_job_t *j, ptrdiff_t r0, int32_t n) {
  const int32_t out_c = j->g->out_c, ocp = padded_channels(out_c);
  const int32_t total = n * out_c;
  const int32_t output_offset = j->g->output_offset;
  const int32_t act_min = j->g->act_min, act_max = j->g->act_max;
  const int32_t *restrict bias = j->rep_bias;
  const int32_t *restrict multiplier = j->rep_multiplier;
  const int32_t *restrict shift = j->rep_shift;
  int8_t *restrict out = j->output + r0 * out_c;
  int32_t i, p;
  if (ocp != out_c)
    for (p = 1; p < n; ++p)
      memmove(j->acc + (size_t)p * out_c, j->acc + (size_t)p * ocp, (size_t)out_c * sizeof(int32_t));
  {
    const int32_t *restrict acc = j->acc;
    for (i = 0; i < total; ++i)
      out[i] = fast_requantize(acc[i] + bias[i], multiplier[i], shift[i], output_offset, act_min, act_max);
  }
}

static void conv_job(void *arg) {
  conv_job_t *j = (conv_job_t *)arg;
  ptrdiff_t r0;
  for (r0 = j->row_begin; r0 < j->row_end; r0 += FAST_TILE) {
    const int32_t n = (int32_t)(j->row_end - r0 < FAST_TILE ? j->row_end - r0 : FAST_TILE);
    j->valid += gather_tile(j->g, j->kp, j->simd, j->input, r0, n, j->tile);
    if (j->simd == FAST_SIMD_U8) {
      fast_simd_tile_u8((const uint8_t *)j->tile, n, j->kp, (const int8_t *)j->w16,
                        padded_channels(j->g->out_c) / 16, j->acc);
      requantize_rows(j, r0, n);
    } else if (j->simd == FAST_SIMD_UNIT_U8) {
      /* magnitudes in the tile buffer's second half (it is sized for int16) */
      const uint8_t *u = (const uint8_t *)j->tile;
      uint8_t *mag = (uint8_t *)j->tile + (size_t)FAST_TILE * j->kp;
      const int32_t c = 128 - j->g->input_offset;
      fast_simd_magnitude_u8(u, mag, (ptrdiff_t)n * j->kp, (uint8_t)c);
      fast_simd_tile_unit_u8(u, mag, (const uint8_t *)j->zero_row, n, j->kp, (const int8_t *)j->w16,
                             (const uint8_t *)j->s, padded_channels(j->g->out_c) / 16, c, j->acc,
                             j->counts);
      requantize_rows(j, r0, n);
    } else if (j->simd) {
      const int32_t blocks = padded_channels(j->g->out_c) / 16;
      if (!(j->sparse && fast_simd_tile_unit_sparse(j->simd, j->tile, n, j->kp, j->w16, j->s, blocks,
                                                    j->acc, j->counts, j->pair_index, j->pair_count)))
        fast_simd_tile(j->simd, j->tile, j->zero_row, n, j->kp, j->w16, j->s, blocks, j->acc,
                       j->counts);
      requantize_rows(j, r0, n);
    } else {
      conv_tile(j, r0, n);
    }
  }
}

/* Threads for a call of `work` MACs: one below ~a quarter million (thread
 * start costs more than it saves), else `threads`, at most one per range. */
static int thread_count(int threads, uint64_t work, ptrdiff_t ranges) {
  if (threads < 1 || work < 262144u) threads = 1;
  if (threads > 8) threads = 8;
  if ((ptrdiff_t)threads > ranges) threads = (int)(ranges > 0 ? ranges : 1);
  return threads;
}

uint64_t fast_conv_int8(const fast_conv_t *g, int32_t kp, int simd,
                        const int8_t *input, const int16_t *w16, const int16_t *s,
                        const int32_t *bias, const int32_t *multiplier,
                        const int32_t *shift, int8_t *output,
                        uint64_t *channel_executed, void *scratch, int threads) {
  conv_job_t jobs[8];
  const ptrdiff_t rows = (ptrdiff_t)g->batches * g->out_h * g->out_w;
  const ptrdiff_t tiles = (rows + FAST_TILE - 1) / FAST_TILE;
  const size_t per_thread = fast_conv_thread_scratch(g, kp);
  const uint64_t work = (uint64_t)rows * (uint64_t)kp * (uint64_t)g->out_c;
  const int32_t ocp = padded_channels(g->out_c);
  uint64_t executed = 0, valid = 0;
  int n, i, sparse = 0;
  int32_t oc;
  n = thread_count(threads, work, tiles);
  if (s && simd && !FAST_U8_TILE(simd)) { /* zero pairs skippable: no bound < 0 */
    const size_t count = (size_t)ocp * (size_t)kp;
    size_t k;
    sparse = 1;
    for (k = 0; k < count && sparse; ++k) sparse = s[k] >= 0;
  }
  for (i = 0; i < n; ++i) {
    conv_job_t *j = &jobs[i];
    uint8_t *mine = (uint8_t *)scratch + (size_t)i * per_thread;
    j->g = g, j->kp = kp, j->input = input, j->w16 = w16, j->s = s;
    j->bias = bias, j->multiplier = multiplier, j->shift = shift;
    j->output = output;
    j->row_begin = (tiles * i / n) * FAST_TILE;
    j->row_end = (tiles * (i + 1) / n) * FAST_TILE;
    if (j->row_end > rows) j->row_end = rows;
    j->simd = simd;
    j->tile = (int16_t *)mine;
    mine += FAST_ALIGN((size_t)FAST_TILE * kp * sizeof(int16_t));
    j->counts = (uint64_t *)mine;
    mine += FAST_ALIGN((size_t)ocp * sizeof(uint64_t));
    j->acc = (int32_t *)mine;
    mine += FAST_ALIGN((size_t)FAST_TILE * ocp * sizeof(int32_t));
    j->rep_bias = (int32_t *)mine;
    mine += FAST_ALIGN((size_t)FAST_TILE * ocp * sizeof(int32_t));
    j->rep_multiplier = (int32_t *)mine;
    mine += FAST_ALIGN((size_t)FAST_TILE * ocp * sizeof(int32_t));
    j->rep_shift = (int32_t *)mine;
    mine += FAST_ALIGN((size_t)FAST_TILE * ocp * sizeof(int32_t));
    j->zero_row = (int16_t *)mine;
    mine += FAST_ALIGN((size_t)kp * sizeof(int16_t));
    j->pair_index = (int32_t *)mine;
    mine += FAST_ALIGN(((size_t)FAST_TILE * (size_t)(kp / 2) + 16u) * sizeof(int32_t));
    j->pair_count = (int32_t *)mine;
    j->sparse = sparse;
    if (simd) {
      int32_t p;
      for (p = 0; p < FAST_TILE; ++p)
        for (oc = 0; oc < g->out_c; ++oc) { /* [FAST_TILE][out_c]: requantize_rows */
          const size_t at = (size_t)p * g->out_c + oc;
          j->rep_bias[at] = bias ? bias[oc] : 0;
          j->rep_multiplier[at] = multiplier[oc];
          j->rep_shift[at] = shift[oc];
        }
    }
    memset(j->counts, 0, (size_t)ocp * sizeof(uint64_t));
    memset(j->zero_row, 0, (size_t)kp * sizeof(int16_t));
    j->valid = 0;
  }
  run_jobs(conv_job, jobs, sizeof(conv_job_t), n);
  for (i = 0; i < n; ++i) {
    valid += jobs[i].valid;
    if (s)
      for (oc = 0; oc < g->out_c; ++oc) {
        channel_executed[oc] += jobs[i].counts[oc];
        executed += jobs[i].counts[oc];
      }
  }
  if (!s) { /* dense: every in-bounds tap of every channel multiplies */
    for (oc = 0; oc < g->out_c; ++oc) channel_executed[oc] += valid;
    executed = valid * (uint64_t)g->out_c;
  }
  return executed;
}

/* ------------------------------------------------------------ depthwise */

typedef struct {
  const fast_conv_t *g;
  const int8_t *input;
  const int16_t *w16, *s;
  const int32_t *bias, *multiplier, *shift;
  int8_t *output;
  ptrdiff_t row_begin, row_end;
  int32_t *acc;
  uint32_t *cnt32;
  uint64_t *counts;
  int16_t *expanded; /* x' of one input pixel per output channel */
  uint64_t valid;    /* in-bounds (position, tap) pairs */
} dw_job_t;

/* acc[oc] += x'[oc] * w[oc] over every channel (dense). */
static inline void dw_dense(const int16_t *restrict x, const int16_t *restrict w,
                            int32_t *restrict acc, int32_t n) {
  int32_t c;
  for (c = 0; c < n; ++c) acc[c] += (int32_t)x[c] * w[c];
}

/* The same where |x'| > s, counting the mask. */
static inline void dw_unit(const int16_t *restrict x, const int16_t *restrict w,
                           const int16_t *restrict s, int32_t *restrict acc,
                           uint32_t *restrict cnt, int32_t n) {
  int32_t c;
  for (c = 0; c < n; ++c) {
    const int16_t m = (int16_t)(x[c] < 0 ? -x[c] : x[c]);
    const int32_t e = m > s[c];
    acc[c] += e ? (int32_t)x[c] * w[c] : 0;
    cnt[c] += (uint32_t)e;
  }
}

FAST_CLONES
static void dw_job(void *arg) {
  dw_job_t *j = (dw_job_t *)arg;
  const fast_conv_t *g = j->g;
  const ptrdiff_t positions = (ptrdiff_t)g->out_h * g->out_w;
  const int32_t out_c = g->out_c, dm = g->depth_multiplier;
  const int16_t offset = (int16_t)g->input_offset;
  ptrdiff_t r, since_flush = 0;
  int32_t oc;
  for (r = j->row_begin; r < j->row_end; ++r) {
    const ptrdiff_t b = r / positions, rem = r % positions;
    const ptrdiff_t oy = rem / g->out_w, ox = rem % g->out_w;
    const int8_t *image = j->input + b * (ptrdiff_t)g->in_h * g->in_w * g->in_c;
    int32_t ky, kx;
    for (oc = 0; oc < out_c; ++oc) j->acc[oc] = j->bias ? j->bias[oc] : 0;
    for (ky = 0; ky < g->k_h; ++ky) {
      const ptrdiff_t iy = oy * g->stride_h - g->pad_h + (ptrdiff_t)ky * g->dilation_h;
      if (iy < 0 || iy >= g->in_h) continue;
      for (kx = 0; kx < g->k_w; ++kx) {
        const ptrdiff_t ix = ox * g->stride_w - g->pad_w + (ptrdiff_t)kx * g->dilation_w;
        const size_t tap = (size_t)ky * g->k_w + kx;
        const int8_t *src;
        if (ix < 0 || ix >= g->in_w) continue;
        src = image + (iy * g->in_w + ix) * (ptrdiff_t)g->in_c;
        /* output channel oc reads input channel oc / depth_multiplier */
        if (dm == 1)
          for (oc = 0; oc < out_c; ++oc) j->expanded[oc] = (int16_t)(src[oc] + offset);
        else
          for (oc = 0; oc < out_c; ++oc) j->expanded[oc] = (int16_t)(src[oc / dm] + offset);
        if (j->s)
          dw_unit(j->expanded, j->w16 + tap * out_c, j->s + tap * out_c, j->acc,
                  j->cnt32, out_c);
        else
          dw_dense(j->expanded, j->w16 + tap * out_c, j->acc, out_c);
        j->valid += 1u;
      }
    }
    for (oc = 0; oc < out_c; ++oc)
      j->output[r * out_c + oc] =
          unit_requantize(j->acc[oc], j->multiplier[oc], j->shift[oc],
                          g->output_offset, g->act_min, g->act_max);
    if (j->s && (++since_flush == 4096 || r + 1 == j->row_end)) {
      for (oc = 0; oc < out_c; ++oc) j->counts[oc] += j->cnt32[oc], j->cnt32[oc] = 0;
      since_flush = 0;
    }
  }
}

uint64_t fast_depthwise_int8(const fast_conv_t *g, const int8_t *input,
                             const int16_t *w16, const int16_t *s,
                             const int32_t *bias, const int32_t *multiplier,
                             const int32_t *shift, int8_t *output,
                             uint64_t *channel_executed, void *scratch,
                             int threads) {
  dw_job_t jobs[8];
  const ptrdiff_t rows = (ptrdiff_t)g->batches * g->out_h * g->out_w;
  const size_t per_thread = fast_depthwise_thread_scratch(g);
  const size_t c = (size_t)g->out_c;
  const uint64_t work = (uint64_t)rows * (uint64_t)g->k_h * g->k_w * c;
  uint64_t executed = 0, valid = 0;
  int n, i;
  int32_t oc;
  n = thread_count(threads, work, rows);
  for (i = 0; i < n; ++i) {
    dw_job_t *j = &jobs[i];
    uint8_t *mine = (uint8_t *)scratch + (size_t)i * per_thread;
    j->g = g, j->input = input, j->w16 = w16, j->s = s;
    j->bias = bias, j->multiplier = multiplier, j->shift = shift;
    j->output = output;
    j->row_begin = rows * i / n;
    j->row_end = rows * (i + 1) / n;
    j->acc = (int32_t *)mine;
    mine += FAST_ALIGN(c * sizeof(int32_t));
    j->cnt32 = (uint32_t *)mine;
    mine += FAST_ALIGN(c * sizeof(uint32_t));
    j->counts = (uint64_t *)mine;
    mine += FAST_ALIGN(c * sizeof(uint64_t));
    j->expanded = (int16_t *)mine;
    memset(j->cnt32, 0, c * sizeof(uint32_t));
    memset(j->counts, 0, c * sizeof(uint64_t));
    j->valid = 0;
  }
  run_jobs(dw_job, jobs, sizeof(dw_job_t), n);
  for (i = 0; i < n; ++i) {
    valid += jobs[i].valid;
    if (s)
      for (oc = 0; oc < g->out_c; ++oc) {
        channel_executed[oc] += jobs[i].counts[oc];
        executed += jobs[i].counts[oc];
      }
  }
  if (!s) {
    for (oc = 0; oc < g->out_c; ++oc) channel_executed[oc] += valid;
    executed = valid * (uint64_t)g->out_c;
  }
  return executed;
}

/* ------------------------------------------------------------ lookup */

typedef struct {
  const int8_t *a, *b, *table;
  int8_t *out;
  size_t begin, end;
} lookup_job_t;

static void lookup_job(void *arg) {
  const lookup_job_t *j = (const lookup_job_t *)arg;
  const uint8_t *restrict a = (const uint8_t *)j->a;
  const uint8_t *restrict b = (const uint8_t *)j->b;
  const int8_t *restrict table = j->table;
  int8_t *restrict out = j->out;
  size_t i;
  for (i = j->begin; i < j->end; ++i) out[i] = table[(size_t)a[i] << 8 | b[i]];
}

void fast_lookup2_int8(const int8_t *a, const int8_t *b, const int8_t *table,
                       int8_t *out, size_t n, int threads) {
  lookup_job_t jobs[8];
  int count = n < 65536u ? 1 : (threads < 1 ? 1 : threads > 8 ? 8 : threads);
  int i;
  for (i = 0; i < count; ++i) {
    jobs[i].a = a, jobs[i].b = b, jobs[i].table = table, jobs[i].out = out;
    jobs[i].begin = n * (size_t)i / (size_t)count;
    jobs[i].end = n * (size_t)(i + 1) / (size_t)count;
  }
  run_jobs(lookup_job, jobs, sizeof(lookup_job_t), count);
}

/* ------------------------------------------------------------ pooling */

typedef struct {
  const fast_pool_t *g;
  const int8_t *input;
  int8_t *output;
  ptrdiff_t row_begin, row_end; /* output rows over all batches */
  int32_t *row;                 /* in_w * c: one output row's taps reduced over ky */
} pool_job_t;

/* One output row at a time: the window's input rows are first reduced
 * element-wise over ky (long contiguous runs the compiler vectorises), then
 * each output reduces its fw columns of that row. */
FAST_CLONES
static void pool_job(void *arg) {
  const pool_job_t *j = (const pool_job_t *)arg;
  const fast_pool_t *g = j->g;
  const ptrdiff_t c_n = g->c, used = ((ptrdiff_t)(g->out_w - 1) * g->stride_w + g->filter_w) * c_n;
  const int32_t count = g->filter_h * g->filter_w, half = count / 2;
  int32_t *restrict row = j->row;
  ptrdiff_t r, i;
  int32_t ky, kx, ox, c;
  for (r = j->row_begin; r < j->row_end; ++r) {
    const ptrdiff_t b = r / g->out_h, oy = r % g->out_h;
    const int8_t *first = j->input + ((b * g->in_h + oy * g->stride_h) * (ptrdiff_t)g->in_w) * c_n;
    int8_t *out = j->output + r * (ptrdiff_t)g->out_w * c_n;
    for (i = 0; i < used; ++i) row[i] = first[i];
    for (ky = 1; ky < g->filter_h; ++ky) {
      const int8_t *restrict in = first + (ptrdiff_t)ky * g->in_w * c_n;
      if (g->average)
        for (i = 0; i < used; ++i) row[i] += in[i];
      else
        for (i = 0; i < used; ++i) row[i] = in[i] > row[i] ? in[i] : row[i];
    }
    for (ox = 0; ox < g->out_w; ++ox) {
      const int32_t *at = row + (ptrdiff_t)ox * g->stride_w * c_n;
      for (c = 0; c < c_n; ++c) {
        int32_t v = at[c];
        for (kx = 1; kx < g->filter_w; ++kx) {
          const int32_t t = at[(ptrdiff_t)kx * c_n + c];
          if (g->average) v += t;
          else v = t > v ? t : v;
        }
        if (g->average) /* the core's rounding: half away from zero */
          v = v > 0 ? (v + half) / count : -((half - v) / count);
        if (v < g->act_min) v = g->act_min;
        if (v > g->act_max) v = g->act_max;
        out[(ptrdiff_t)ox * c_n + c] = (int8_t)v;
      }
    }
  }
}

size_t fast_pool_thread_scratch(const fast_pool_t *g) {
  return FAST_ALIGN((size_t)g->in_w * (size_t)g->c * sizeof(int32_t));
}

void fast_pool_int8(const fast_pool_t *g, const int8_t *input, int8_t *output,
                    void *scratch, int threads) {
  pool_job_t jobs[8];
  const ptrdiff_t rows = (ptrdiff_t)g->batches * g->out_h;
  const uint64_t work = (uint64_t)rows * (uint64_t)g->out_w * (uint64_t)g->c *
                        (uint64_t)(g->filter_h * g->filter_w);
  const int n = thread_count(threads, work, rows);
  int i;
  for (i = 0; i < n; ++i) {
    jobs[i].g = g, jobs[i].input = input, jobs[i].output = output;
    jobs[i].row_begin = rows * i / n;
    jobs[i].row_end = rows * (i + 1) / n;
    jobs[i].row = (int32_t *)((uint8_t *)scratch + (size_t)i * fast_pool_thread_scratch(g));
  }
  run_jobs(pool_job, jobs, sizeof(pool_job_t), n);
}
