/* Prepare-time helpers that need floating point (libm): turning scales into
 * fixed-point multipliers and activation ranges.  Host, TFLM adapters and the
 * C exporter use them; MCU graph runners get their results precomputed. */
#include <float.h>
#include <math.h>

#include "unit_core.h"

unit_status_t unit_quantize_multiplier(double real_multiplier,
                                       int32_t *multiplier, int32_t *shift) {
  int exponent = 0;
  double fraction;
  int64_t q_fixed;
  if (!multiplier || !shift) return UNIT_ERR_NULL;
  *multiplier = 0;
  *shift = 0;
  /* negative, NaN or infinite: frexp / llround would be meaningless */
  if (!(real_multiplier >= 0.0) || real_multiplier > DBL_MAX)
    return UNIT_ERR_ARG;
  if (real_multiplier == 0.0) return UNIT_OK;
  /* real = fraction * 2^exponent, fraction in [0.5, 1). */
  fraction = frexp(real_multiplier, &exponent);
  q_fixed = (int64_t)llround(fraction * 2147483648.0); /* * 2^31 */
  if (q_fixed == ((int64_t)1 << 31)) { /* rounding reached 1.0 */
    q_fixed /= 2;
    exponent += 1;
  }
  if (exponent < -31) { /* too small to represent: flush to zero */
    exponent = 0;
    q_fixed = 0;
  }
  *multiplier = (int32_t)q_fixed;
  *shift = (int32_t)exponent;
  return UNIT_OK;
}

/* zero_point + round(value / scale) as TFLite quantises a clamp bound
 * (float division, rounding half away from zero), with the quotient first
 * limited to +-2^20: beyond that the bound saturates int8 anyway (|zero
 * point| <= 128), and the float -> integer conversion stays defined. */
static int32_t quantize_bound(float value, float scale, int32_t zero_point) {
  float q = value / scale;
  if (q > 1048576.0f) q = 1048576.0f;
  if (q < -1048576.0f) q = -1048576.0f;
  return zero_point + (int32_t)lroundf(q);
}

unit_status_t unit_activation_range_int8(int32_t fused_activation, float scale,
                                         int32_t zero_point, int32_t *act_min,
                                         int32_t *act_max) {
  int32_t qmin = -128, qmax = 127, bound;
  if (!act_min || !act_max) return UNIT_ERR_NULL;
  *act_min = qmin;
  *act_max = qmax;
  if (fused_activation < 0 || fused_activation > 3) return UNIT_ERR_ARG;
  if (!(scale > 0.0f) || scale > FLT_MAX) return UNIT_ERR_ARG;
  if (zero_point < -128 || zero_point > 127) return UNIT_ERR_OFFSET;
  switch (fused_activation) {
    case 1: /* RELU */
      bound = quantize_bound(0.0f, scale, zero_point);
      if (bound > qmin) qmin = bound;
      break;
    case 2: /* RELU_N1_TO_1 */
      bound = quantize_bound(-1.0f, scale, zero_point);
      if (bound > qmin) qmin = bound;
      bound = quantize_bound(1.0f, scale, zero_point);
      if (bound < qmax) qmax = bound;
      break;
    case 3: /* RELU6 */
      bound = quantize_bound(0.0f, scale, zero_point);
      if (bound > qmin) qmin = bound;
      bound = quantize_bound(6.0f, scale, zero_point);
      if (bound < qmax) qmax = bound;
      break;
    default: /* NONE */
      break;
  }
  *act_min = qmin;
  *act_max = qmax;
  return UNIT_OK;
}
