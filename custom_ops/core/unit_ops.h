/*
 * tflm-unit kernel core: the int8 ops other than the UnIT kernels (pooling,
 * add, softmax, mean, pad, concatenation, quantize / dequantize) that a small
 * MCU CNN needs, each reproducing TFLM's reference kernel bit for bit.
 *
 * Same conventions as unit_core.h: portable C99, no dynamic allocation,
 * fixed-width integer types, safe where `int` is 16 bits (MSP430).
 *
 * Every op comes in two parts:
 *   - unit_<op>_prepare_int8(): turns real scales / zero points / options into
 *     the op's integer parameters, with the same float / double arithmetic as
 *     TFLM's Prepare.  Run once per model (host runtime, TFLM adapter, or the
 *     MSP430 exporter, which writes the result into generated C).
 *   - unit_<op>_int8(): integer-only evaluation.
 *
 * RESHAPE (and SQUEEZE, EXPAND_DIMS) has no kernel here: int8 tensors are
 * stored row-major and contiguous, so a reshape only changes the shape the
 * caller records; the bytes are identical (TFLM copies them when input and
 * output do not share memory).  The scale and zero point are unchanged.
 */
#ifndef TFLM_UNIT_OPS_H_
#define TFLM_UNIT_OPS_H_

#include <stddef.h>
#include <stdint.h>

#include "unit_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most dimensions any op here accepts (TFLM's broadcasting limit is 6, its
 * pad limit 5). */
#define UNIT_MAX_DIMS 6
#define UNIT_PAD_MAX_DIMS 5
/* TFLM's CONCATENATION accepts at most 10 inputs. */
#define UNIT_CONCAT_MAX_INPUTS 10

/* tflite::ActivationFunctionType values accepted by the prepare functions. */
#define UNIT_ACT_NONE 0
#define UNIT_ACT_RELU 1
#define UNIT_ACT_RELU_N1_TO_1 2
#define UNIT_ACT_RELU6 3

/* ---- MAX_POOL_2D / AVERAGE_POOL_2D ---- */

typedef struct {
  int32_t filter_h, filter_w;
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;     /* top / left padding */
  int32_t act_min, act_max; /* fused activation clamp, quantised */
} unit_pool_params_t;

/* Computes padding, clamp and the output shape for an NHWC input.  Pooling
 * keeps the quantisation (TFLM requires input scale / zero point == output
 * ones), so only the output's are needed, for the activation clamp. */
unit_status_t unit_pool_prepare_int8(unit_padding_t padding, int32_t filter_h,
                                     int32_t filter_w, int32_t stride_h,
                                     int32_t stride_w,
                                     const unit_shape_t *input_shape,
                                     int32_t fused_activation,
                                     float output_scale,
                                     int32_t output_zero_point,
                                     unit_pool_params_t *params,
                                     unit_shape_t *output_shape);

unit_status_t unit_max_pool_2d_int8(const unit_pool_params_t *params,
                                    const unit_shape_t *input_shape,
                                    const int8_t *input,
                                    const unit_shape_t *output_shape,
                                    int8_t *output);

/* Averages the in-bounds taps only; rounds half away from zero like TFLM.
 * Returns UNIT_ERR_SHAPE if a window holds no in-bounds tap. */
unit_status_t unit_average_pool_2d_int8(const unit_pool_params_t *params,
                                        const unit_shape_t *input_shape,
                                        const int8_t *input,
                                        const unit_shape_t *output_shape,
                                        int8_t *output);

/* ---- ADD ---- */

typedef struct {
  int32_t left_shift; /* 20 for int8 */
  int32_t input1_offset, input1_multiplier, input1_shift;
  int32_t input2_offset, input2_multiplier, input2_shift;
  int32_t output_offset, output_multiplier, output_shift;
  int32_t act_min, act_max;
} unit_add_params_t;

/* UNIT_ERR_ARG when a scale is not positive or a multiplier falls outside
 * (0, 1) (TFLM's Prepare would fail the same way). */
unit_status_t unit_add_prepare_int8(float input1_scale,
                                    int32_t input1_zero_point,
                                    float input2_scale,
                                    int32_t input2_zero_point,
                                    float output_scale,
                                    int32_t output_zero_point,
                                    int32_t fused_activation,
                                    unit_add_params_t *params);

/* Element-wise add with NumPy-style broadcasting.  All three shapes have
 * num_dims (1..UNIT_MAX_DIMS) entries (callers left-pad shorter shapes with
 * 1); each input dim equals the output dim or is 1. */
unit_status_t unit_add_int8(const unit_add_params_t *params, int32_t num_dims,
                            const int32_t *input1_dims, const int8_t *input1,
                            const int32_t *input2_dims, const int8_t *input2,
                            const int32_t *output_dims, int8_t *output);

/* ---- SOFTMAX ---- */

typedef struct {
  int32_t input_multiplier;
  int32_t input_left_shift;
  int32_t diff_min;
} unit_softmax_params_t;

/* TFLM's int8 -> int8 softmax requires output zero point -128 and scale
 * exactly 1/256; anything else is UNIT_ERR_ARG, as is a beta * input_scale
 * too small to represent. */
unit_status_t unit_softmax_prepare_int8(float input_scale, float beta,
                                        float output_scale,
                                        int32_t output_zero_point,
                                        unit_softmax_params_t *params);

/* Softmax over the last dimension: `outer_size` rows of `depth` values. */
unit_status_t unit_softmax_int8(const unit_softmax_params_t *params,
                                int32_t outer_size, int32_t depth,
                                const int8_t *input, int8_t *output);

/* ---- MEAN over H and W (global average pooling) ---- */

typedef struct {
  /* input_scale / output_scale / count as a Q31 multiplier and shift, folded
   * the way TFLM's QuantizedMeanOrSum does at run time */
  int32_t multiplier;
  int32_t shift;
  int32_t count; /* reduced elements per output: H * W */
  int32_t input_zero_point;
  int32_t output_zero_point;
} unit_mean_params_t;

/* `count` is the number of values averaged per output (H * W, at most
 * 2^23).  The 64-bit division of TFLM's folding happens here, so the kernel
 * needs 32-bit integer arithmetic only. */
unit_status_t unit_mean_prepare_int8(float input_scale,
                                     int32_t input_zero_point,
                                     float output_scale,
                                     int32_t output_zero_point, int32_t count,
                                     unit_mean_params_t *params);

/* input NHWC with h * w == params->count (else UNIT_ERR_SHAPE), output
 * [n, c] (keep_dims only changes the recorded shape: [n, 1, 1, c] holds the
 * same bytes). */
unit_status_t unit_mean_hw_int8(const unit_mean_params_t *params,
                                const unit_shape_t *input_shape,
                                const int8_t *input, int8_t *output);

/* MEAN over any set of axes of a 1..UNIT_MAX_DIMS-D tensor: bit d of
 * axis_mask set = dim d is reduced; the product of the reduced dims must
 * equal params->count (else UNIT_ERR_SHAPE).  The output holds the kept dims
 * in row-major order (keep_dims only changes the recorded shape). */
unit_status_t unit_mean_int8(const unit_mean_params_t *params,
                             int32_t num_dims, const int32_t *input_dims,
                             uint8_t axis_mask, const int8_t *input,
                             int8_t *output);

/* ---- PAD / PADV2 ---- */

/* num_dims 1..UNIT_PAD_MAX_DIMS; output dim i = input_dims[i] +
 * pad_before[i] + pad_after[i] (paddings >= 0).  pad_value is the output
 * zero point for PAD, the quantised constant for PADV2. */
unit_status_t unit_pad_int8(int32_t num_dims, const int32_t *input_dims,
                            const int8_t *input, const int32_t *pad_before,
                            const int32_t *pad_after, int8_t pad_value,
                            int8_t *output);

/* ---- CONCATENATION ---- */

/* Joins num_inputs (1..UNIT_CONCAT_MAX_INPUTS) tensors of num_dims
 * (1..UNIT_MAX_DIMS) dims along `axis` (0..num_dims-1).  input_dims holds
 * num_inputs * num_dims values, row by row; all dims but `axis` must match.
 * TFLM's int8 CONCATENATION requires every input's scale and zero point to
 * equal the output's, so this is a byte copy (callers check the scales). */
unit_status_t unit_concatenation_int8(int32_t num_inputs,
                                      const int8_t *const *inputs,
                                      int32_t num_dims,
                                      const int32_t *input_dims, int32_t axis,
                                      int8_t *output);

/* ---- QUANTIZE / DEQUANTIZE ---- */

typedef struct {
  int32_t multiplier; /* input_scale / output_scale as Q31 + shift */
  int32_t shift;
  int32_t input_zero_point;
  int32_t output_zero_point;
} unit_requantize_params_t;

unit_status_t unit_requantize_prepare_int8(float input_scale,
                                           int32_t input_zero_point,
                                           float output_scale,
                                           int32_t output_zero_point,
                                           unit_requantize_params_t *params);

/* QUANTIZE int8 -> int8 (a change of scale / zero point). */
unit_status_t unit_requantize_int8(const unit_requantize_params_t *params,
                                   int32_t size, const int8_t *input,
                                   int8_t *output);

/* QUANTIZE float32 -> int8: zp + round(x / scale) in float, half away from
 * zero, saturated.  Where TFLM's float -> int32 cast is undefined behaviour
 * (|x / scale| >= 2^31, NaN) this saturates like Arm's VCVT (x86 TFLM gives
 * INT32_MIN instead): +huge -> 127, -huge -> -128, NaN -> the zero point. */
unit_status_t unit_quantize_float_to_int8(float scale, int32_t zero_point,
                                          int32_t size, const float *input,
                                          int8_t *output);

/* DEQUANTIZE int8 -> float32: (float)((double)scale * (x - zp)). */
unit_status_t unit_dequantize_int8(float scale, int32_t zero_point,
                                   int32_t size, const int8_t *input,
                                   float *output);

/* ---- float32 (host only: unit_ops_float.c) ----
 *
 * TFLM's float reference kernels, same arithmetic in the same order (sums
 * accumulate in float in the reference's order, so results are bit-exact).
 * act_min / act_max are the fused activation's float range (NONE:
 * +-FLT_MAX, RELU: [0, FLT_MAX], RELU_N1_TO_1: [-1, 1], RELU6: [0, 6]);
 * the clamp is std::min(std::max(x, act_min), act_max). */

/* MAX_POOL_2D / AVERAGE_POOL_2D: params as unit_pool_prepare_int8 gives
 * them (its act_min / act_max are ignored).  Max starts from -FLT_MAX; the
 * average sums the in-bounds taps (rows, then columns) and divides by their
 * count (UNIT_ERR_SHAPE when a window has none, as TFLM fails). */
unit_status_t unit_max_pool_2d_float(const unit_pool_params_t *params,
                                     float act_min, float act_max,
                                     const unit_shape_t *input_shape,
                                     const float *input,
                                     const unit_shape_t *output_shape,
                                     float *output);
unit_status_t unit_average_pool_2d_float(const unit_pool_params_t *params,
                                         float act_min, float act_max,
                                         const unit_shape_t *input_shape,
                                         const float *input,
                                         const unit_shape_t *output_shape,
                                         float *output);

/* ADD with broadcasting, shapes as unit_add_int8. */
unit_status_t unit_add_float(float act_min, float act_max, int32_t num_dims,
                             const int32_t *input1_dims, const float *input1,
                             const int32_t *input2_dims, const float *input2,
                             const int32_t *output_dims, float *output);

/* SOFTMAX over rows of `depth`: max, expf((x - max) * beta), their float
 * sum, each divided by it. */
unit_status_t unit_softmax_float(float beta, int32_t outer_size,
                                 int32_t depth, const float *input,
                                 float *output);

/* MEAN over the dims set in axis_mask (as unit_mean_int8): each output sums
 * its reduced elements in row-major order in float, then divides by their
 * count as float. */
unit_status_t unit_mean_float(int32_t num_dims, const int32_t *input_dims,
                              uint8_t axis_mask, const float *input,
                              float *output);

#ifdef __cplusplus
}
#endif

#endif /* TFLM_UNIT_OPS_H_ */
