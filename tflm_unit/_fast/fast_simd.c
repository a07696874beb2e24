/* x86-64 AVX-512 form of the tiled conv / FC product (fast_kernels.c keeps
 * the portable C form; both give the same int32 sums and counts).
 *
 * Why intrinsics here: vectorised over output channels, a pair of inputs
 * (x'[k], x'[k+1]) broadcast against the weights of 16 channels interleaved
 * as (w[k], w[k+1]) is one multiply-add of 32 int16 (vpmaddwd, or vpdpwssd
 * with VNNI) and needs no horizontal sums; compilers do not produce this from
 * plain loops.  |x'| <= 255 and |w| <= 128, so no pair sum saturates or wraps.
 *
 * Layouts: weights and skip bounds int16 [out_c / 16][kp / 2][16][2]
 * (channels padded to 16: weight 0, bound INT16_MAX); the tile int16
 * [n][kp]; accumulators int32 [n][oc_blocks * 16]. */
#include "fast_kernels.h"

#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define FAST_HAVE_X86 1
#include <immintrin.h>
#endif

int fast_simd_level(void) {
#if defined(FAST_HAVE_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return __builtin_cpu_supports("avx512vnni") ? 2 : 1;
#endif
  return 0;
}

#if defined(FAST_HAVE_X86)

static inline int32_t load_pair(const int16_t *x) {
  int32_t v;
  memcpy(&v, x, sizeof v);
  return v;
}

/* One block of 16 output channels times 8 positions (rows x[0..7]); the
 * caller points missing positions at a zero row.  MADD(acc, x, w) is the
 * multiply-add of the target. */
#define FAST_TILE_BODY(MADD)                                                   \
  const int32_t pairs = kp / 2;                                                \
  const int32_t ocp = oc_blocks * 16;                                          \
  int32_t b, p0, k2, i;                                                        \
  for (b = 0; b < oc_blocks; ++b) {                                            \
    const int16_t *wb = wp + (size_t)b * kp * 16;                              \
    const int16_t *sb = sp ? sp + (size_t)b * kp * 16 : NULL;                  \
    for (p0 = 0; p0 < n; p0 += 8) {                                            \
      const int16_t *x[8];                                                     \
      __m512i a[8];                                                            \
      for (i = 0; i < 8; ++i) {                                                \
        x[i] = p0 + i < n ? tile + (size_t)(p0 + i) * kp : zero_row;           \
        a[i] = _mm512_setzero_si512();                                         \
      }                                                                        \
      if (!sb) {                                                               \
        for (k2 = 0; k2 < pairs; ++k2) {                                       \
          const __m512i w = _mm512_loadu_si512((const void *)(wb + k2 * 32));   \
          for (i = 0; i < 8; ++i)                                              \
            a[i] = MADD(a[i], _mm512_set1_epi32(load_pair(x[i] + 2 * k2)), w); \
        }                                                                      \
      } else {                                                                 \
        const __m512i one = _mm512_set1_epi16(1);                              \
        __m512i cnt = _mm512_setzero_si512();                                  \
        int32_t lanes[16];                                                     \
        for (k2 = 0; k2 < pairs; ++k2) {                                       \
          const __m512i w = _mm512_loadu_si512((const void *)(wb + k2 * 32));   \
          const __m512i s = _mm512_loadu_si512((const void *)(sb + k2 * 32));   \
          for (i = 0; i < 8; ++i) {                                            \
            const __m512i xv = _mm512_set1_epi32(load_pair(x[i] + 2 * k2));    \
            const __mmask32 m = _mm512_cmpgt_epi16_mask(_mm512_abs_epi16(xv), s); \
            a[i] = MADD(a[i], xv, _mm512_maskz_mov_epi16(m, w));               \
            cnt = _mm512_mask_add_epi16(cnt, m, cnt, one);                     \
          }                                                                    \
        }                                                                      \
        /* lanes hold (even k, odd k) counts per channel, each < 2^16 */       \
        _mm512_storeu_si512((void *)lanes,                                     \
                            _mm512_add_epi32(                                  \
                                _mm512_and_si512(cnt, _mm512_set1_epi32(0xffff)), \
                                _mm512_srli_epi32(cnt, 16)));                  \
        for (i = 0; i < 16; ++i) counts[b * 16 + i] += (uint32_t)lanes[i];     \
      }                                                                        \
      for (i = 0; i < 8 && p0 + i < n; ++i)                                    \
        _mm512_storeu_si512((void *)(acc + (size_t)(p0 + i) * ocp + b * 16), a[i]); \
    }                                                                          \
  }

#define FAST_MADD_BW(a, x, w) _mm512_add_epi32((a), _mm512_madd_epi16((x), (w)))
#define FAST_MADD_VNNI(a, x, w) _mm512_dpwssd_epi32((a), (x), (w))

__attribute__((target("avx512f,avx512bw"))) static void tile_bw(
    const int16_t *tile, const int16_t *zero_row, int32_t n, int32_t kp,
    const int16_t *wp, const int16_t *sp, int32_t oc_blocks, int32_t *acc,
    uint64_t *counts) {
  FAST_TILE_BODY(FAST_MADD_BW)
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void tile_vnni(
    const int16_t *tile, const int16_t *zero_row, int32_t n, int32_t kp,
    const int16_t *wp, const int16_t *sp, int32_t oc_blocks, int32_t *acc,
    uint64_t *counts) {
  FAST_TILE_BODY(FAST_MADD_VNNI)
}

/* UnIT on sparse inputs (ReLU outputs: most x' are 0).  A pair (x'[2k],
 * x'[2k+1]) = (0, 0) adds nothing and executes nothing when every bound is
 * >= 0 (|0| > s is false; the caller checks the bounds), so each position
 * walks only its nonzero pairs, listed once per tile by compact_pairs and
 * reused by every channel block.  Four accumulators per position keep the
 * multiply-adds independent. */
__attribute__((target("avx512f,avx512bw"))) static int64_t compact_pairs_bw(
    const int16_t *tile, int32_t n, int32_t kp, int32_t *idx, int32_t *nnz) {
  const int32_t pairs = kp / 2; /* a multiple of 16 (FAST_K_ALIGN) */
  const __m512i step = _mm512_set1_epi32(16);
  int64_t total = 0;
  int32_t p, k2;
  for (p = 0; p < n; ++p) {
    const int16_t *x = tile + (size_t)p * kp;
    int32_t *out = idx + (size_t)p * pairs; /* a full store may spill into */
    __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int32_t m = 0;                          /* the next row (written later) */
    for (k2 = 0; k2 < pairs; k2 += 16) {
      const __m512i v = _mm512_loadu_si512((const void *)(x + 2 * k2));
      const __mmask16 nz = _mm512_test_epi32_mask(v, v);
      _mm512_storeu_si512((void *)(out + m), _mm512_maskz_compress_epi32(nz, iota));
      m += __builtin_popcount((unsigned)nz);
      iota = _mm512_add_epi32(iota, step);
    }
    nnz[p] = m;
    total += m;
  }
  return total;
}

#define FAST_SPARSE_STEP(MADD, acc, k2)                                        \
  do {                                                                         \
    const __m512i xv = _mm512_set1_epi32(load_pair(x + 2 * (k2)));             \
    const __m512i w = _mm512_loadu_si512((const void *)(wb + (k2) * 32));       \
    const __m512i s = _mm512_loadu_si512((const void *)(sb + (k2) * 32));       \
    const __mmask32 m = _mm512_cmpgt_epi16_mask(_mm512_abs_epi16(xv), s);       \
    acc = MADD(acc, xv, _mm512_maskz_mov_epi16(m, w));                         \
    cnt = _mm512_mask_add_epi16(cnt, m, cnt, one);                             \
  } while (0)

#define FAST_SPARSE_BODY(MADD)                                                 \
  const int32_t pairs = kp / 2;                                                \
  const int32_t ocp = oc_blocks * 16;                                          \
  const __m512i one = _mm512_set1_epi16(1);                                    \
  int32_t b, p0, i, j;                                                         \
  for (b = 0; b < oc_blocks; ++b) {                                            \
    const int16_t *wb = wp + (size_t)b * kp * 16;                              \
    const int16_t *sb = sp + (size_t)b * kp * 16;                              \
    for (p0 = 0; p0 < n; p0 += 8) {                                            \
      __m512i cnt = _mm512_setzero_si512();                                    \
      int32_t lanes[16];                                                       \
      for (i = 0; i < 8 && p0 + i < n; ++i) {                                  \
        const int32_t p = p0 + i, m_p = nnz[p];                                \
        const int16_t *x = tile + (size_t)p * kp;                              \
        const int32_t *ix = idx + (size_t)p * pairs;                           \
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;        \
        for (j = 0; j + 4 <= m_p; j += 4) {                                    \
          FAST_SPARSE_STEP(MADD, a0, ix[j]);                                   \
          FAST_SPARSE_STEP(MADD, a1, ix[j + 1]);                               \
          FAST_SPARSE_STEP(MADD, a2, ix[j + 2]);                               \
          FAST_SPARSE_STEP(MADD, a3, ix[j + 3]);                               \
        }                                                                      \
        for (; j < m_p; ++j) FAST_SPARSE_STEP(MADD, a0, ix[j]);                \
        a0 = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)); \
        _mm512_storeu_si512((void *)(acc + (size_t)p * ocp + b * 16), a0);     \
      }                                                                        \
      /* as the dense-order tiles: (even k, odd k) counts, each < 2^16 */      \
      _mm512_storeu_si512((void *)lanes,                                       \
                          _mm512_add_epi32(                                    \
                              _mm512_and_si512(cnt, _mm512_set1_epi32(0xffff)), \
                              _mm512_srli_epi32(cnt, 16)));                    \
      for (i = 0; i < 16; ++i) counts[b * 16 + i] += (uint32_t)lanes[i];       \
    }                                                                          \
  }

__attribute__((target("avx512f,avx512bw"))) static void sparse_bw(
    const int16_t *tile, int32_t n, int32_t kp, const int16_t *wp,
    const int16_t *sp, int32_t oc_blocks, int32_t *acc, uint64_t *counts,
    const int32_t *idx, const int32_t *nnz) {
  FAST_SPARSE_BODY(FAST_MADD_BW)
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void sparse_vnni(
    const int16_t *tile, int32_t n, int32_t kp, const int16_t *wp,
    const int16_t *sp, int32_t oc_blocks, int32_t *acc, uint64_t *counts,
    const int32_t *idx, const int32_t *nnz) {
  FAST_SPARSE_BODY(FAST_MADD_VNNI)
}

/* The dense product as uint8 x int8 (vpdpbusd: 64 multiply-adds): the tile
 * holds u = x' + 128 - input_offset = x + 128 (padding: 128 - input_offset,
 * i.e. x' = 0), weights int8 [out_c / 16][kp / 4][16][4]; the caller adds
 * (input_offset - 128) * sum(w) per channel.  No wrap: u * w sums stay
 * below 2^31 for kp <= 16383. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void tile_u8_vnni(
    const uint8_t *tile, int32_t n, int32_t kp, const int8_t *wp,
    int32_t oc_blocks, int32_t *acc) {
  const int32_t quads = kp / 4, ocp = oc_blocks * 16;
  int32_t b, p0, k4, i;
  for (b = 0; b < oc_blocks; ++b) {
    const int8_t *wb = wp + (size_t)b * kp * 16;
    for (p0 = 0; p0 < n; p0 += 8) {
      const uint8_t *x[8];
      __m512i a[8];
      for (i = 0; i < 8; ++i) { /* missing positions repeat p0: discarded */
        x[i] = tile + (size_t)(p0 + i < n ? p0 + i : p0) * kp;
        a[i] = _mm512_setzero_si512();
      }
      for (k4 = 0; k4 < quads; ++k4) {
        const __m512i w = _mm512_loadu_si512((const void *)(wb + k4 * 64));
        for (i = 0; i < 8; ++i) {
          int32_t quad;
          memcpy(&quad, x[i] + 4 * k4, sizeof quad);
          a[i] = _mm512_dpbusd_epi32(a[i], _mm512_set1_epi32(quad), w);
        }
      }
      for (i = 0; i < 8 && p0 + i < n; ++i)
        _mm512_storeu_si512((void *)(acc + (size_t)(p0 + i) * ocp + b * 16), a[i]);
    }
  }
}

/* UnIT as uint8 x int8 multiply-adds (vpdpbusd, 64 per instruction, twice
 * the int16 tiles' 32).  For 16 channels x 4 taps per vector: the mask m of
 * |x'| > s (unsigned bytes: |x'| <= 255, so s >= 255 never executes, which
 * min(s, 255) keeps), wm = w where m, and with u = x' + c
 *   sum over executed x' w = dpbusd(u, wm) - c * dpbusd(1, wm).
 * No int32 wraps: |u w| <= 255 * 128 and kp <= 16383.  The mask is counted
 * in byte lanes (channel, tap mod 4), flushed into 32-bit lanes before a
 * byte can pass 255 (at most 8 positions add to a lane per tap quad). */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void tile_unit_u8_vnni(
    const uint8_t *tile, const uint8_t *mag, const uint8_t *zero_row, int32_t n, int32_t kp,
    const int8_t *wp, const uint8_t *sp, int32_t oc_blocks, int32_t c, int32_t *acc,
    uint64_t *counts) {
  const int32_t quads = kp / 4, ocp = oc_blocks * 16;
  const __m512i ones = _mm512_set1_epi8(1), cv = _mm512_set1_epi32(c);
  int32_t b, p0, k4, i;
  for (b = 0; b < oc_blocks; ++b) {
    const int8_t *wb = wp + (size_t)b * kp * 16;
    const uint8_t *sb = sp + (size_t)b * kp * 16;
    for (p0 = 0; p0 < n; p0 += 8) {
      const uint8_t *x[8], *g[8];
      __m512i a[8], z[8], cnt8 = _mm512_setzero_si512(), cnt32 = _mm512_setzero_si512();
      int32_t lanes[16], since = 0;
      for (i = 0; i < 8; ++i) { /* missing positions: u of p0, magnitudes 0 */
        x[i] = tile + (size_t)(p0 + i < n ? p0 + i : p0) * kp;
        g[i] = p0 + i < n ? mag + (size_t)(p0 + i) * kp : zero_row;
        a[i] = z[i] = _mm512_setzero_si512();
      }
      for (k4 = 0; k4 < quads; ++k4) {
        const __m512i w = _mm512_loadu_si512((const void *)(wb + k4 * 64));
        const __m512i s = _mm512_loadu_si512((const void *)(sb + k4 * 64));
        for (i = 0; i < 8; ++i) {
          int32_t uq, gq;
          __mmask64 m;
          __m512i wm;
          memcpy(&uq, x[i] + 4 * k4, sizeof uq);
          memcpy(&gq, g[i] + 4 * k4, sizeof gq);
          m = _mm512_cmpgt_epu8_mask(_mm512_set1_epi32(gq), s);
          wm = _mm512_maskz_mov_epi8(m, w);
          a[i] = _mm512_dpbusd_epi32(a[i], _mm512_set1_epi32(uq), wm);
          z[i] = _mm512_dpbusd_epi32(z[i], ones, wm);
          cnt8 = _mm512_mask_add_epi8(cnt8, m, cnt8, ones);
        }
        if (++since == 31) { /* 31 * 8 = 248 <= 255 */
          cnt32 = _mm512_dpbusd_epi32(cnt32, cnt8, ones);
          cnt8 = _mm512_setzero_si512();
          since = 0;
        }
      }
      cnt32 = _mm512_dpbusd_epi32(cnt32, cnt8, ones);
      _mm512_storeu_si512((void *)lanes, cnt32);
      for (i = 0; i < 16; ++i) counts[b * 16 + i] += (uint32_t)lanes[i];
      for (i = 0; i < 8 && p0 + i < n; ++i)
        _mm512_storeu_si512((void *)(acc + (size_t)(p0 + i) * ocp + b * 16),
                            _mm512_sub_epi32(a[i], _mm512_mullo_epi32(z[i], cv)));
    }
  }
}

/* mag[i] = |tile[i] - c| for i < n (unsigned bytes). */
__attribute__((target("avx512f,avx512bw"))) static void magnitude_bw(
    const uint8_t *tile, uint8_t *mag, ptrdiff_t n, uint8_t c) {
  const __m512i cv = _mm512_set1_epi8((char)c);
  for (; n >= 64; n -= 64, tile += 64, mag += 64) {
    const __m512i u = _mm512_loadu_si512((const void *)tile);
    _mm512_storeu_si512((void *)mag, _mm512_or_si512(_mm512_subs_epu8(u, cv), _mm512_subs_epu8(cv, u)));
  }
  if (n > 0) {
    const __mmask64 m = (((__mmask64)1 << n) - 1u);
    const __m512i u = _mm512_maskz_loadu_epi8(m, tile);
    _mm512_mask_storeu_epi8(mag, m, _mm512_or_si512(_mm512_subs_epu8(u, cv), _mm512_subs_epu8(cv, u)));
  }
}

/* dst[i] = (uint8)(src[i] + 128) for i < n. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void flip_run_bw(
    const int8_t *src, uint8_t *dst, ptrdiff_t n) {
  const __m512i sign = _mm512_set1_epi8((char)0x80);
  for (; n >= 64; n -= 64, src += 64, dst += 64)
    _mm512_storeu_si512((void *)dst, _mm512_xor_si512(_mm512_loadu_si512((const void *)src), sign));
  if (n > 0) {
    const __mmask64 m = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1u);
    _mm512_mask_storeu_epi8(dst, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src), sign));
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void convert_run_bw(
    const int8_t *src, int16_t *dst, ptrdiff_t n, int16_t offset) {
  const __m512i off = _mm512_set1_epi16(offset);
  for (; n >= 32; n -= 32, src += 32, dst += 32)
    _mm512_storeu_si512((void *)dst,
                        _mm512_add_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const void *)src)), off));
  if (n > 0) {
    const __mmask32 m = (__mmask32)((1ull << n) - 1u);
    _mm512_mask_storeu_epi16(dst, m,
                             _mm512_add_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, src)), off));
  }
}

#endif /* FAST_HAVE_X86 */

void fast_simd_tile_u8(const uint8_t *tile, int32_t n, int32_t kp,
                       const int8_t *wp, int32_t oc_blocks, int32_t *acc) {
#if defined(FAST_HAVE_X86)
  tile_u8_vnni(tile, n, kp, wp, oc_blocks, acc);
#else
  (void)tile, (void)n, (void)kp, (void)wp, (void)oc_blocks, (void)acc;
#endif
}

void fast_simd_tile_unit_u8(const uint8_t *tile, const uint8_t *mag, const uint8_t *zero_row,
                            int32_t n, int32_t kp, const int8_t *wp, const uint8_t *sp,
                            int32_t oc_blocks, int32_t c, int32_t *acc, uint64_t *counts) {
#if defined(FAST_HAVE_X86)
  tile_unit_u8_vnni(tile, mag, zero_row, n, kp, wp, sp, oc_blocks, c, acc, counts);
#else
  (void)tile, (void)mag, (void)zero_row, (void)n, (void)kp, (void)wp, (void)sp;
  (void)oc_blocks, (void)c, (void)acc, (void)counts;
#endif
}

void fast_simd_magnitude_u8(const uint8_t *tile, uint8_t *mag, ptrdiff_t n, uint8_t c) {
#if defined(FAST_HAVE_X86)
  magnitude_bw(tile, mag, n, c);
#else
  ptrdiff_t i;
  for (i = 0; i < n; ++i) mag[i] = (uint8_t)(tile[i] > c ? tile[i] - c : c - tile[i]);
#endif
}

void fast_simd_flip_run(const int8_t *src, uint8_t *dst, ptrdiff_t n) {
#if defined(FAST_HAVE_X86)
  flip_run_bw(src, dst, n);
#else
  ptrdiff_t i;
  for (i = 0; i < n; ++i) dst[i] = (uint8_t)(src[i] + 128);
#endif
}

void fast_simd_convert_run(const int8_t *src, int16_t *dst, ptrdiff_t n,
                           int16_t offset) {
#if defined(FAST_HAVE_X86)
  convert_run_bw(src, dst, n, offset);
#else
  ptrdiff_t i;
  for (i = 0; i < n; ++i) dst[i] = (int16_t)(src[i] + offset);
#endif
}

int fast_simd_tile_unit_sparse(int level, const int16_t *tile, int32_t n,
                               int32_t kp, const int16_t *wp, const int16_t *sp,
                               int32_t oc_blocks, int32_t *acc, uint64_t *counts,
                               int32_t *idx, int32_t *nnz) {
#if defined(FAST_HAVE_X86)
  const int64_t total = level >= 1 ? compact_pairs_bw(tile, n, kp, idx, nnz) : 0;
  /* The pair walk costs ~1.5x the dense-order tile per pair: worth it when
   * at most half the pairs are nonzero. */
  if (level < 1 || 2 * total > (int64_t)n * (kp / 2)) return 0;
  if (level >= 2)
    sparse_vnni(tile, n, kp, wp, sp, oc_blocks, acc, counts, idx, nnz);
  else
    sparse_bw(tile, n, kp, wp, sp, oc_blocks, acc, counts, idx, nnz);
  return 1;
#else
  (void)level, (void)tile, (void)n, (void)kp, (void)wp, (void)sp;
  (void)oc_blocks, (void)acc, (void)counts, (void)idx, (void)nnz;
  return 0;
#endif
}

void fast_simd_tile(int level, const int16_t *tile, const int16_t *zero_row,
                    int32_t n, int32_t kp, const int16_t *wp,
                    const int16_t *sp, int32_t oc_blocks, int32_t *acc,
                    uint64_t *counts) {
#if defined(FAST_HAVE_X86)
  if (level >= 2)
    tile_vnni(tile, zero_row, n, kp, wp, sp, oc_blocks, acc, counts);
  else if (level == 1)
    tile_bw(tile, zero_row, n, kp, wp, sp, oc_blocks, acc, counts);
#else
  (void)level, (void)tile, (void)zero_row, (void)n, (void)kp, (void)wp;
  (void)sp, (void)oc_blocks, (void)acc, (void)counts;
#endif
}
