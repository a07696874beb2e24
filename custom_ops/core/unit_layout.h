/*
 * tflm-unit kernel core: layout / geometry ops — STRIDED_SLICE, SPLIT /
 * SPLIT_V, TRANSPOSE, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR,
 * SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND — and TRANSPOSE_CONV, each computing
 * what TFLM's reference kernel computes, bit for bit.
 *
 * Same conventions as unit_core.h / unit_ops.h: portable C99, no dynamic
 * allocation, fixed-width integer types, safe where `int` is 16 bits
 * (MSP430).  The pure data-movement ops take the element size (1 for int8,
 * 4 for float32 / int32) and copy bytes, so one implementation serves every
 * type TFLM accepts for them.  The int8 kernels here use integer arithmetic
 * only (the MSP430 graph runner calls them); the float32 kernels and the
 * prepare functions that need float arithmetic are host-side.
 *
 * Every function validates its arguments and returns a status (UNIT_ERR_ARG
 * for a NULL pointer, a non-positive size, a bad option; UNIT_ERR_SHAPE for
 * shapes that do not fit together; UNIT_ERR_SCRATCH for a short scratch).
 */
#ifndef TFLM_UNIT_LAYOUT_H_
#define TFLM_UNIT_LAYOUT_H_

#include <stddef.h>
#include <stdint.h>

#include "unit_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TFLM's limits: STRIDED_SLICE up to 5-D after padding (its Prepare allows
 * 4-D inputs), TRANSPOSE 1..5-D, SPLIT any rank (we take up to 6). */
#define UNIT_LAYOUT_MAX_DIMS 6
#define UNIT_SLICE_MAX_DIMS 5
#define UNIT_TRANSPOSE_MAX_DIMS 5

/* ---- STRIDED_SLICE ---- */

/* The slice resolved per axis, the way TFLM's Eval resolves begin / end /
 * strides and the begin / end / shrink-axis masks (negative indices count
 * from the end, clamped to [0, size] for positive strides and [-1, size-1]
 * for negative ones; a mask bit replaces the index by the axis' first or
 * last element; a shrink bit slices [start, start + 1)).  TFLM ignores the
 * ellipsis and new-axis masks (its kernel sets them to 0), so they are not
 * inputs here: callers refuse models that set them. */
typedef struct {
  int32_t num_dims; /* 1..UNIT_SLICE_MAX_DIMS */
  int32_t start[UNIT_SLICE_MAX_DIMS];
  int32_t stop[UNIT_SLICE_MAX_DIMS];
  int32_t stride[UNIT_SLICE_MAX_DIMS];
} unit_slice_params_t;

/* Resolves begin / end / strides (num_dims entries each; strides non-zero)
 * against input_dims; *output_count receives the number of elements the
 * slice yields (0 is possible). */
unit_status_t unit_strided_slice_prepare(
    int32_t num_dims, const int32_t *input_dims, const int32_t *begin,
    const int32_t *end, const int32_t *strides, int32_t begin_mask,
    int32_t end_mask, int32_t shrink_axis_mask, unit_slice_params_t *params,
    int32_t *output_count);

/* Copies the slice, in row-major output order.  input_dims must be the dims
 * the params were resolved against. */
unit_status_t unit_strided_slice(const unit_slice_params_t *params,
                                 const int32_t *input_dims, size_t elem_size,
                                 const void *input, void *output);

/* ---- SPLIT / SPLIT_V ---- */

/* Splits a tensor seen as [outer, axis_size, inner] along its middle axis
 * into num_outputs pieces of output_sizes[i] (> 0, summing to axis_size)
 * rows each: piece i is [outer, output_sizes[i], inner].  SPLIT is the case
 * of equal sizes. */
unit_status_t unit_split(int32_t outer, int32_t axis_size, int32_t inner,
                         int32_t num_outputs, const int32_t *output_sizes,
                         size_t elem_size, const void *input,
                         void *const *outputs);

/* ---- TRANSPOSE ---- */

/* output dim i = input dim perm[i]; perm is a permutation of 0..num_dims-1
 * (num_dims 1..UNIT_TRANSPOSE_MAX_DIMS). */
unit_status_t unit_transpose(int32_t num_dims, const int32_t *input_dims,
                             const int32_t *perm, size_t elem_size,
                             const void *input, void *output);

/* ---- RESIZE_NEAREST_NEIGHBOR ---- */

/* index[o] for o < output_size: the input row (or column) TFLM's
 * GetNearestNeighbor picks, computed in float as TFLM does (host side; the
 * MSP430 exporter writes the tables into generated C). */
unit_status_t unit_resize_nearest_index(int32_t input_size,
                                        int32_t output_size,
                                        int32_t align_corners,
                                        int32_t half_pixel_centers,
                                        int32_t *index);

/* NHWC input -> [n, output_h, output_w, c]: output pixel (y, x) copies
 * input pixel (y_index[y], x_index[x]) (indices in range). */
unit_status_t unit_resize_nearest(const unit_shape_t *input_shape,
                                  int32_t output_h, int32_t output_w,
                                  const int32_t *y_index,
                                  const int32_t *x_index, size_t elem_size,
                                  const void *input, void *output);

/* ---- RESIZE_BILINEAR ---- */

/* The int8 kernel's Q10 scales, as TFLM's ResizeBilinearInteger rounds
 * them: ((1 << 10) * in + out / 2) / out, or with align_corners (and
 * out > 1) the same over in - 1 / out - 1.  align_corners and
 * half_pixel_centers together are UNIT_ERR_ARG (TFLM's Prepare fails). */
typedef struct {
  int32_t height_scale_10;
  int32_t width_scale_10;
  int32_t half_pixel_centers;
} unit_resize_bilinear_params_t;

unit_status_t unit_resize_bilinear_prepare_int8(
    int32_t input_h, int32_t input_w, int32_t output_h, int32_t output_w,
    int32_t align_corners, int32_t half_pixel_centers,
    unit_resize_bilinear_params_t *params);

/* int8, integer only: the four Q10 x Q10 weighted taps summed and rounded
 * half away from zero by 2^20 (TFLM without TFLITE_SINGLE_ROUNDING).  The
 * sum stays within int32: |x| <= 128 and each Q10 weight lies in
 * [-512, 1536], so |sum| <= 128 * 2048^2 = 2^29. */
unit_status_t unit_resize_bilinear_int8(
    const unit_resize_bilinear_params_t *params,
    const unit_shape_t *input_shape, const int8_t *input,
    const unit_shape_t *output_shape, int8_t *output);

/* float32: TFLM's float reference (float scales, floor / ceil bounds, the
 * same expression order). */
unit_status_t unit_resize_bilinear_float(int32_t align_corners,
                                         int32_t half_pixel_centers,
                                         const unit_shape_t *input_shape,
                                         const float *input,
                                         const unit_shape_t *output_shape,
                                         float *output);

/* ---- SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND (4-D NHWC; callers map 3-D
 * NHC to NH1C with block_w = 1 and no left padding / crop) ---- */

/* output batch b = (shift_h * block_w + shift_w) * input_n + input batch;
 * positions in the padding get the byte pad_value in every byte of the
 * element (TFLM memsets them). */
unit_status_t unit_space_to_batch_nd(const unit_shape_t *input_shape,
                                     int32_t block_h, int32_t block_w,
                                     int32_t pad_top, int32_t pad_left,
                                     const unit_shape_t *output_shape,
                                     uint8_t pad_value, size_t elem_size,
                                     const void *input, void *output);

/* The inverse, with crops instead of padding (positions cropped away are
 * dropped; output positions no input reaches are left untouched, as TFLM
 * leaves them). */
unit_status_t unit_batch_to_space_nd(const unit_shape_t *input_shape,
                                     int32_t block_h, int32_t block_w,
                                     int32_t crop_top, int32_t crop_left,
                                     const unit_shape_t *output_shape,
                                     size_t elem_size, const void *input,
                                     void *output);

/* ---- TRANSPOSE_CONV (unit_transpose_conv.c) ---- */

typedef struct {
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;     /* top / left, from the OUTPUT size (TFLM) */
  int32_t input_offset;     /* -input zero point */
  int32_t output_offset;    /* output zero point */
  int32_t act_min, act_max; /* fused activation clamp, quantised */
} unit_transpose_conv_params_t;

typedef struct {
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;
  float act_min, act_max;
} unit_transpose_conv_float_params_t;

/* TFLM's padding rule: ComputePaddingHeightWidth with the output size in
 * the role of the input size (stride s, dilation 1, filter k): pad =
 * max(0, ((ComputeOutSize(padding, out, k, s) - 1) * s + k - out) / 2). */
int32_t unit_transpose_conv_padding(unit_padding_t padding, int32_t stride,
                                    int32_t output_size, int32_t filter_size);

/* int32 accumulators for one image: output h * w * c * 4 bytes. */
size_t unit_transpose_conv_scratch_bytes(const unit_shape_t *output_shape);

/* filter [out_c, kh, kw, in_c]; bias int32 [out_c] or NULL; requant per
 * output channel.  TFLM's scatter loop: every input value adds
 * (x + input_offset) * w into the int32 accumulators of the outputs it
 * reaches; then per output bias, requantisation, output offset, clamp.
 * Stats: macs_total counts every (input, tap, out channel) connection,
 * macs_executed those that land inside the output (the MACs performed). */
unit_status_t unit_transpose_conv_int8(
    const unit_transpose_conv_params_t *params, const unit_requant_t *requant,
    const unit_shape_t *input_shape, const int8_t *input,
    const unit_shape_t *filter_shape, const int8_t *filter,
    const int32_t *bias, const unit_shape_t *output_shape, int8_t *output,
    void *scratch, size_t scratch_bytes, unit_stats_t *stats);

/* float32: accumulates in the output itself (no scratch), in TFLM's loop
 * order, then adds the bias and clamps. */
unit_status_t unit_transpose_conv_float(
    const unit_transpose_conv_float_params_t *params,
    const unit_shape_t *input_shape, const float *input,
    const unit_shape_t *filter_shape, const float *filter, const float *bias,
    const unit_shape_t *output_shape, float *output, unit_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif /* TFLM_UNIT_LAYOUT_H_ */
