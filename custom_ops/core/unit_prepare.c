/* Prepare-time helpers that need floating point (libm): turning scales into
 * fixed-point multipliers and activation ranges.  Host, TFLM adapters and the
 * C exporter use them; MCU graph runners get their results precomputed. */
#include <math.h>

#include "unit_core.h"

void unit_quantize_multiplier(double real_multiplier, int32_t *multiplier,
                              int32_t *shift) {
  int exponent = 0;
  double fraction;
  int64_t q_fixed;
  if (real_multiplier == 0.0) {
    *multiplier = 0;
    *shift = 0;
    return;
  }
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
}

void unit_activation_range_int8(int32_t fused_activation, float scale,
                                int32_t zero_point, int32_t *act_min,
                                int32_t *act_max) {
  int32_t qmin = -128, qmax = 127;
  /* Quantise a real bound as TFLite does: zp + round(value / scale). */
#define UNIT_QUANTIZE_BOUND(v) \
  (zero_point + (int32_t)lroundf((float)(v) / scale))
  switch (fused_activation) {
    case 1: /* RELU */
      qmin = qmin > UNIT_QUANTIZE_BOUND(0.0f) ? qmin : UNIT_QUANTIZE_BOUND(0.0f);
      break;
    case 2: /* RELU_N1_TO_1 */
      qmin = qmin > UNIT_QUANTIZE_BOUND(-1.0f) ? qmin : UNIT_QUANTIZE_BOUND(-1.0f);
      qmax = qmax < UNIT_QUANTIZE_BOUND(1.0f) ? qmax : UNIT_QUANTIZE_BOUND(1.0f);
      break;
    case 3: /* RELU6 */
      qmin = qmin > UNIT_QUANTIZE_BOUND(0.0f) ? qmin : UNIT_QUANTIZE_BOUND(0.0f);
      qmax = qmax < UNIT_QUANTIZE_BOUND(6.0f) ? qmax : UNIT_QUANTIZE_BOUND(6.0f);
      break;
    default: /* NONE (and anything unsupported: the caller validates) */
      break;
  }
#undef UNIT_QUANTIZE_BOUND
  *act_min = qmin;
  *act_max = qmax;
}
