/*
 * tflm-unit kernel core: activation and element-wise ops beyond ADD
 * (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU, RELU6, RELU_N1_TO_1, PRELU,
 * MUL, SUB, MINIMUM, MAXIMUM, SQUARED_DIFFERENCE), each reproducing TFLM's
 * reference kernel bit for bit (RELU_N1_TO_1, which TFLM lacks: TFLite's).
 *
 * Same conventions as unit_ops.h: C99, no allocation, fixed-width types,
 * safe where `int` is 16 bits.  Prepare functions use float / double like
 * TFLM's Prepare (host only); kernels are integer-only.
 *
 * Every int8 unary op here is a function of the int8 input value alone, so
 * unit_unary_table_int8() evaluates the kernel once for each of the 256
 * inputs; an MCU graph (or a fast host path) then only indexes that table
 * (unit_lut_int8), with results identical to the kernel's by construction.
 *
 * The float32 kernels (unit_activation_float.c) need libm and are host-only.
 */
#ifndef TFLM_UNIT_ACTIVATION_H_
#define TFLM_UNIT_ACTIVATION_H_

#include <stddef.h>
#include <stdint.h>

#include "unit_core.h"
#include "unit_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- int8 unary ops ---- */

#define UNIT_UNARY_LOGISTIC 0
#define UNIT_UNARY_TANH 1
#define UNIT_UNARY_HARD_SWISH 2
#define UNIT_UNARY_LEAKY_RELU 3
#define UNIT_UNARY_RELU_X 4 /* RELU and RELU_N1_TO_1: requantise, clamp */
#define UNIT_UNARY_RELU6 5  /* TFLM's RELU6: clamp the raw input to [zero, six] */

typedef struct {
  int32_t kind; /* UNIT_UNARY_* */
  int32_t input_zero_point;
  int32_t output_zero_point;
  /* LOGISTIC / TANH: input multiplier and left shift (Q4 input);
   * RELU_X / LEAKY_RELU: identity requantisation;
   * HARD_SWISH: output multiplier (int16 fixed point) and exponent (<= 0). */
  int32_t multiplier1, shift1;
  /* LEAKY_RELU: |alpha| requantisation (negative_alpha set when alpha < 0);
   * HARD_SWISH: "reluish" multiplier (int16) and exponent. */
  int32_t multiplier2, shift2;
  int32_t radius;         /* LOGISTIC / TANH: input range radius */
  int32_t negative_alpha; /* LEAKY_RELU */
  int32_t act_min, act_max; /* RELU_X clamp; RELU6: [zero, six] (raw input) */
} unit_unary_params_t;

/* LOGISTIC: TFLM requires output zero point -128 (else UNIT_ERR_OFFSET);
 * its kernel assumes scale 1/256 and does not check it, nor does this. */
unit_status_t unit_logistic_prepare_int8(float input_scale,
                                         int32_t input_zero_point,
                                         int32_t output_zero_point,
                                         unit_unary_params_t *params);
/* TANH: the output is always zero point 0, scale 1/128 (TFLM checks
 * neither). */
unit_status_t unit_tanh_prepare_int8(float input_scale,
                                     int32_t input_zero_point,
                                     unit_unary_params_t *params);
/* UNIT_ERR_REQUANT when the output multiplier exceeds one (TFLM refuses). */
unit_status_t unit_hard_swish_prepare_int8(float input_scale,
                                           int32_t input_zero_point,
                                           float output_scale,
                                           int32_t output_zero_point,
                                           unit_unary_params_t *params);
unit_status_t unit_leaky_relu_prepare_int8(float input_scale,
                                           int32_t input_zero_point,
                                           float alpha, float output_scale,
                                           int32_t output_zero_point,
                                           unit_unary_params_t *params);
/* activation: UNIT_ACT_RELU, UNIT_ACT_RELU_N1_TO_1 (requantise and clamp to
 * the quantised range) or UNIT_ACT_RELU6 (TFLM: clamp the raw input to its
 * own zero point and quantised 6; the output quantisation is not used). */
unit_status_t unit_relu_prepare_int8(int32_t activation, float input_scale,
                                     int32_t input_zero_point,
                                     float output_scale,
                                     int32_t output_zero_point,
                                     unit_unary_params_t *params);

unit_status_t unit_unary_int8(const unit_unary_params_t *params, int32_t size,
                              const int8_t *input, int8_t *output);
/* table[i] = the kernel's output for input value i - 128. */
unit_status_t unit_unary_table_int8(const unit_unary_params_t *params,
                                    int8_t table[256]);
/* output[i] = table[input[i] + 128]. */
unit_status_t unit_lut_int8(const int8_t table[256], int32_t size,
                            const int8_t *input, int8_t *output);

/* ---- int8 binary ops (NumPy broadcasting, like unit_add_int8) ---- */

#define UNIT_BINARY_MUL 0
#define UNIT_BINARY_SUB 1
#define UNIT_BINARY_SQUARED_DIFFERENCE 2
#define UNIT_BINARY_MINIMUM 3
#define UNIT_BINARY_MAXIMUM 4
#define UNIT_BINARY_PRELU 5 /* input2 = alpha */

typedef struct {
  int32_t kind; /* UNIT_BINARY_* */
  int32_t left_shift; /* SUB: 20, SQUARED_DIFFERENCE: 7 */
  int32_t input1_offset, input1_multiplier, input1_shift;
  int32_t input2_offset, input2_multiplier, input2_shift;
  int32_t output_offset, output_multiplier, output_shift;
  /* PRELU: the requantisation of input * alpha (negative inputs) */
  int32_t output_multiplier2, output_shift2;
  int32_t act_min, act_max;
} unit_binary_params_t;

/* MUL / SUB take a fused activation (UNIT_ACT_*); the others ignore it.
 * PRELU: input2 is alpha.  MINIMUM / MAXIMUM compare the raw int8 values
 * (TFLM does not requantise). */
unit_status_t unit_binary_prepare_int8(int32_t kind, float input1_scale,
                                       int32_t input1_zero_point,
                                       float input2_scale,
                                       int32_t input2_zero_point,
                                       float output_scale,
                                       int32_t output_zero_point,
                                       int32_t fused_activation,
                                       unit_binary_params_t *params);

/* Shapes as unit_add_int8: num_dims (1..UNIT_MAX_DIMS) entries each, every
 * input dim equal to the output dim or 1. */
unit_status_t unit_binary_int8(const unit_binary_params_t *params,
                               int32_t num_dims, const int32_t *input1_dims,
                               const int8_t *input1, const int32_t *input2_dims,
                               const int8_t *input2, const int32_t *output_dims,
                               int8_t *output);

/* ---- float32 (host only: unit_activation_float.c) ---- */

/* kind UNIT_UNARY_LOGISTIC, _TANH, _HARD_SWISH, _LEAKY_RELU (alpha), or
 * _RELU_X with the clamp [lo, hi] (RELU: 0, +inf; RELU_N1_TO_1: -1, 1;
 * RELU6: 0, 6). */
unit_status_t unit_unary_float(int32_t kind, float alpha, float lo, float hi,
                               int32_t size, const float *input,
                               float *output);
/* MUL / SUB clamp to [act_min, act_max] (TFLM's float activation range:
 * NONE is [-FLT_MAX, FLT_MAX]); the others ignore it. */
unit_status_t unit_binary_float(int32_t kind, float act_min, float act_max,
                                int32_t num_dims, const int32_t *input1_dims,
                                const float *input1, const int32_t *input2_dims,
                                const float *input2, const int32_t *output_dims,
                                float *output);

/* ---- broadcasting walk shared by the int8 and float kernels ---- */

typedef struct {
  int32_t num_dims;
  int32_t total;
  int32_t dims[UNIT_MAX_DIMS];
  int32_t stride1[UNIT_MAX_DIMS], stride2[UNIT_MAX_DIMS];
  int32_t wrap1[UNIT_MAX_DIMS], wrap2[UNIT_MAX_DIMS]; /* stride * dim */
  int32_t index[UNIT_MAX_DIMS];
  int32_t offset1, offset2;
} unit_broadcast_t;

/* UNIT_ERR_ARG (rank, a dim <= 0), UNIT_ERR_SHAPE (a dim neither the
 * output's nor 1), UNIT_ERR_OVERFLOW (too many elements). */
unit_status_t unit_broadcast_init(unit_broadcast_t *b, int32_t num_dims,
                                  const int32_t *input1_dims,
                                  const int32_t *input2_dims,
                                  const int32_t *output_dims);
/* Advance to the next output element (row-major). */
void unit_broadcast_next(unit_broadcast_t *b);
/* From the start of a row of the last dim to the start of the next row
 * (the per-element walk needs no multiplies: 16-bit cores call a helper). */
void unit_broadcast_next_row(unit_broadcast_t *b);

#ifdef __cplusplus
}
#endif

#endif /* TFLM_UNIT_ACTIVATION_H_ */
