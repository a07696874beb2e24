/* Host-only fast forms of the int8 MAC kernels (CONV_2D, DEPTHWISE_CONV_2D,
 * FULLY_CONNECTED, dense and UnIT), built as the extension tflm_unit._fast.
 *
 * Same results as custom_ops/core bit for bit (outputs and executed MACs per
 * output channel): integer sums do not depend on the order, so the host may
 * reorder the MACs into tiles the compiler vectorises.  The MCU builds keep
 * the core's small loops; nothing here is compiled for them.
 *
 * Conv and fully connected run as one tiled matrix product: a tile of
 * FAST_TILE output positions is gathered (im2col) as int16 x' = x - zp, zero
 * over padding and past the real depth K up to kp (a multiple of
 * FAST_K_ALIGN); weights are int16 [out_c][kp].  The UnIT path multiplies
 * only where |x'| > s[oc][k] and counts the same mask:
 *   conv:  s = T_q / |w| by the core's unit_divide (w = 0: INT16_MAX), the
 *          core's rule |x'| <= T_q / |w| -> skip;
 *   FC:    the core divides by the input instead (skip when |w| <= T_q/|x'|);
 *          that set of |x'| is a prefix 0..sigma (the quotient does not grow
 *          with |x'| in any mode, checked when sigma is built), so s = sigma.
 * Requantisation is the core's unit_requantize.
 */
#ifndef TFLM_UNIT_FAST_KERNELS_H_
#define TFLM_UNIT_FAST_KERNELS_H_

#include <stddef.h>
#include <stdint.h>

#include "unit_core.h"

/* Output positions per im2col tile, and the alignment of the tile depth. */
#define FAST_TILE 32
#define FAST_K_ALIGN 32

typedef struct {
  int32_t batches, in_h, in_w, in_c;
  int32_t k_h, k_w;
  int32_t out_h, out_w, out_c;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t depth_multiplier; /* depthwise only */
  int32_t input_offset, output_offset, act_min, act_max;
} fast_conv_t;

/* kp: the im2col depth of a conv (taps * in_c) rounded up to FAST_K_ALIGN. */
int32_t fast_padded_depth(int32_t depth);

/* Scratch bytes one thread needs. */
size_t fast_conv_thread_scratch(const fast_conv_t *g, int32_t kp);
size_t fast_depthwise_thread_scratch(const fast_conv_t *g);

/* Skip tables from the thresholds (int16 T_q per group of group_size output
 * channels).  conv: filter int8 [out_c][depth] -> s [out_c][kp];
 * depthwise: filter int8 [taps][out_c] -> s [taps][out_c];
 * fc: filter [out_c][depth] -> s [out_c][kp] (sigma, see above).
 * Return 0, or -1 when the thresholds cannot be expressed (fc: a quotient
 * that grows with |x'|; never for the core's modes). */
int fast_conv_skip_table(const int8_t *filter, int32_t out_c, int32_t depth,
                         int32_t kp, const int16_t *thresholds,
                         int32_t group_size, unit_division_t mode, int16_t *s);
int fast_depthwise_skip_table(const int8_t *filter, int32_t taps,
                              int32_t out_c, const int16_t *thresholds,
                              int32_t group_size, unit_division_t mode,
                              int16_t *s);
int fast_fc_skip_table(const int8_t *filter, int32_t out_c, int32_t depth,
                       int32_t kp, const int16_t *thresholds,
                       int32_t group_size, unit_division_t mode, int16_t *s);

/* Conv (and FC as a 1x1 conv on [batches, 1, 1, depth]).  w16 int16
 * [out_c][kp]; s NULL = dense, else [out_c][kp]; bias NULL or [out_c];
 * channel_executed [out_c] is added to (+=).  simd > 0: w16 and s are in
 * the packed layout of fast_simd.c and the tiles run there at that level
 * (UnIT needs kp <= 16383 there: its lane counts are 16 bits).  scratch holds `threads` times
 * fast_conv_thread_scratch bytes, 64-byte aligned.  Returns the MACs
 * executed. */
uint64_t fast_conv_int8(const fast_conv_t *g, int32_t kp, int simd,
                        const int8_t *input, const int16_t *w16, const int16_t *s,
                        const int32_t *bias, const int32_t *multiplier,
                        const int32_t *shift, int8_t *output,
                        uint64_t *channel_executed, void *scratch, int threads);

/* The AVX-512 tile product (fast_simd.c): the level this CPU runs (0: none,
 * 1: AVX-512BW, 2: with VNNI) and the product of n <= FAST_TILE gathered
 * positions with packed weights / bounds (layout in fast_simd.c) into int32
 * accumulators [n][oc_blocks * 16]; UnIT counts are added to counts[oc]. */
int fast_simd_level(void);
void fast_simd_tile(int level, const int16_t *tile, const int16_t *zero_row,
                    int32_t n, int32_t kp, const int16_t *wp,
                    const int16_t *sp, int32_t oc_blocks, int32_t *acc,
                    uint64_t *counts);

/* The UnIT tile walking only each position's nonzero input pairs (valid
 * when every bound in sp is >= 0): idx holds n * kp / 2 + 16 int32, nnz n.
 * Returns 1 when it ran, 0 when the tile is too dense for it to pay (the
 * caller then runs fast_simd_tile). */
int fast_simd_tile_unit_sparse(int level, const int16_t *tile, int32_t n,
                               int32_t kp, const int16_t *wp, const int16_t *sp,
                               int32_t oc_blocks, int32_t *acc, uint64_t *counts,
                               int32_t *idx, int32_t *nnz);

/* Level FAST_SIMD_U8 (conv dense on VNNI CPUs): the tile is uint8 x + 128,
 * w16 is really int8 [out_c / 16][kp / 4][16][4] and bias must already hold
 * bias + (input_offset - 128) * sum(w) (see fast_simd.c). */
#define FAST_SIMD_U8 3
void fast_simd_tile_u8(const uint8_t *tile, int32_t n, int32_t kp,
                       const int8_t *wp, int32_t oc_blocks, int32_t *acc);
void fast_simd_flip_run(const int8_t *src, uint8_t *dst, ptrdiff_t n);

/* Level FAST_SIMD_UNIT_U8 (UnIT conv / FC on VNNI CPUs, every bound >= 0):
 * the tile is uint8 x + 128 as for FAST_SIMD_U8, w16 is really int8 and s
 * really uint8 min(s, 255), both [out_c / 16][kp / 4][16][4]; bias is the
 * plain bias.  fast_simd_tile_unit_u8 reads the tile u and its magnitudes
 * |x'| = |u - c| (c = 128 - input_offset, the padding value) from mag; rows
 * past n read zero_row as magnitudes (nothing executes there). */
#define FAST_SIMD_UNIT_U8 4
#define FAST_U8_TILE(simd) ((simd) == FAST_SIMD_U8 || (simd) == FAST_SIMD_UNIT_U8)
void fast_simd_magnitude_u8(const uint8_t *tile, uint8_t *mag, ptrdiff_t n, uint8_t c);
void fast_simd_tile_unit_u8(const uint8_t *tile, const uint8_t *mag, const uint8_t *zero_row,
                            int32_t n, int32_t kp, const int8_t *wp, const uint8_t *sp,
                            int32_t oc_blocks, int32_t c, int32_t *acc, uint64_t *counts);

/* dst[i] = src[i] + offset for i < n (n > 0), AVX-512BW (level >= 1). */
void fast_simd_convert_run(const int8_t *src, int16_t *dst, ptrdiff_t n,
                           int16_t offset);

/* Depthwise: w16 int16 [taps][out_c]; s NULL or [taps][out_c]. */
uint64_t fast_depthwise_int8(const fast_conv_t *g, const int8_t *input,
                             const int16_t *w16, const int16_t *s,
                             const int32_t *bias, const int32_t *multiplier,
                             const int32_t *shift, int8_t *output,
                             uint64_t *channel_executed, void *scratch,
                             int threads);

/* out[i] = the core's unit_requantize(acc[i], multiplier[i], shift[i], ...)
 * in the vectorisable 64-bit form the tiles use (exposed for its test). */
void fast_requantize_int8(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                          int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out,
                          size_t n);

/* out[i] = table[(uint8)a[i] * 256 + (uint8)b[i]]: an element-wise int8 op
 * of two same-shape tensors (ADD) from the table of its 65536 results,
 * which the caller computes once with the core's op.  Split over threads. */
void fast_lookup2_int8(const int8_t *a, const int8_t *b, const int8_t *table,
                       int8_t *out, size_t n, int threads);

/* MAX_POOL_2D / AVERAGE_POOL_2D over windows that lie inside the input (no
 * padding: (out_h - 1) * stride_h + filter_h <= in_h, the same for w; the
 * caller checks), int8 NHWC, as the core's kernel computes them: the max, or
 * the int32 sum divided by filter_h * filter_w rounding half away from zero,
 * clamped to [act_min, act_max] (already within int8). */
typedef struct {
  int32_t batches, in_h, in_w, c;
  int32_t filter_h, filter_w, stride_h, stride_w, out_h, out_w;
  int32_t act_min, act_max;
  int average; /* 0: max, 1: average */
} fast_pool_t;

size_t fast_pool_thread_scratch(const fast_pool_t *g);
/* scratch: `threads` times fast_pool_thread_scratch bytes, int32-aligned. */
void fast_pool_int8(const fast_pool_t *g, const int8_t *input, int8_t *output,
                    void *scratch, int threads);

#endif /* TFLM_UNIT_FAST_KERNELS_H_ */
