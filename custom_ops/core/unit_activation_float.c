/* float32 activation and element-wise ops (unit_activation.h), TFLM's
 * reference expressions: LOGISTIC with its cut-offs (1 above 16.619..., exp
 * below -9), tanh from libm, HARD_SWISH as x * min(6, max(0, x + 3)) / 6.
 * Host-only (libm): the MSP430 build leaves this file out (its Makefile's
 * HOST_ONLY, tflm_unit/msp430/build.py). */
#include <math.h>

#include "unit_activation.h"
#include "unit_internal.h"

static float unary_float_one(int32_t kind, float alpha, float lo, float hi,
                             float v) {
  switch (kind) {
    case UNIT_UNARY_LOGISTIC:
      if (v > 16.619047164916992188f) return 1.0f;
      if (v < -9.0f) return expf(v);
      return 1.0f / (1.0f + expf(-v));
    case UNIT_UNARY_TANH:
      return tanhf(v);
    case UNIT_UNARY_HARD_SWISH: {
      /* std::max(0, r) = 0 < r ? r : 0; std::min(6, m) = m < 6 ? m : 6 */
      const float r = v + 3.0f;
      const float m = 0.0f < r ? r : 0.0f;
      return v * (m < 6.0f ? m : 6.0f) / 6.0f;
    }
    case UNIT_UNARY_LEAKY_RELU:
      return v > 0.0f ? v : v * alpha;
    default: /* UNIT_UNARY_RELU_X: val > hi ? hi : val < lo ? lo : val */
      return v > hi ? hi : (v < lo ? lo : v);
  }
}

unit_status_t unit_unary_float(int32_t kind, float alpha, float lo, float hi,
                               int32_t size, const float *input,
                               float *output) {
  int32_t i;
  if (input == 0 || output == 0) return UNIT_ERR_NULL;
  if (size < 0 || kind < UNIT_UNARY_LOGISTIC || kind > UNIT_UNARY_RELU_X ||
      !(lo <= hi))
    return UNIT_ERR_ARG;
  for (i = 0; i < size; ++i)
    output[i] = unary_float_one(kind, alpha, lo, hi, input[i]);
  return UNIT_OK;
}

unit_status_t unit_binary_float(int32_t kind, float act_min, float act_max,
                                int32_t num_dims, const int32_t *input1_dims,
                                const float *input1, const int32_t *input2_dims,
                                const float *input2, const int32_t *output_dims,
                                float *output) {
  unit_broadcast_t b;
  int32_t i;
  unit_status_t status;
  if (input1 == 0 || input2 == 0 || output == 0) return UNIT_ERR_NULL;
  if (kind < UNIT_BINARY_MUL || kind > UNIT_BINARY_PRELU || !(act_min <= act_max))
    return UNIT_ERR_ARG;
  status = unit_broadcast_init(&b, num_dims, input1_dims, input2_dims,
                               output_dims);
  if (status != UNIT_OK) return status;
  for (i = 0; i < b.total; ++i) {
    const float x = input1[b.offset1], y = input2[b.offset2];
    float r;
    switch (kind) {
      case UNIT_BINARY_MUL:
        r = unit_clamp_float(x * y, act_min, act_max);
        break;
      case UNIT_BINARY_SUB:
        r = unit_clamp_float(x - y, act_min, act_max);
        break;
      case UNIT_BINARY_SQUARED_DIFFERENCE: {
        const float d = x - y;
        r = d * d;
        break;
      }
      case UNIT_BINARY_MINIMUM:
        r = x < y ? x : y;
        break;
      case UNIT_BINARY_MAXIMUM:
        r = x > y ? x : y;
        break;
      default: /* UNIT_BINARY_PRELU */
        r = x >= 0.0f ? x : x * y;
        break;
    }
    output[i] = r;
    unit_broadcast_next(&b);
  }
  return UNIT_OK;
}
