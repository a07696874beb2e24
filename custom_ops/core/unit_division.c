/* Division approximations of UnIT: T_q / d without a divider.
 *
 * `shift`, `tree` and `clz` all return T_q >> floor(log2 d): a power-of-two
 * divisor that over-estimates the quotient by less than 2x (calibration runs
 * with the approximation in the loop, so thresholds absorb it).  They differ
 * in how the exponent is found, which is what costs cycles on a given core.
 */
#include "unit_internal.h"

uint8_t unit_tree_exponent(uint8_t d) {
  /* Fixed binary search over the pivots 16 | 4, 64 | 2, 8, 32, 128:
   * three compares for any d in [1, 255]. */
  if (d < 16u) {
    if (d < 4u) return d < 2u ? 0u : 1u;
    return d < 8u ? 2u : 3u;
  }
  if (d < 64u) return d < 32u ? 4u : 5u;
  return d < 128u ? 6u : 7u;
}

const uint8_t unit_floor_log2_table[256] = {
    0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

void unit_shift_table(int16_t t_q, int16_t table[8]) {
  uint8_t e;
  int16_t t = t_q > 0 ? t_q : 0;
  if (!table) return;
  for (e = 0; e < 8u; e++) table[e] = (int16_t)(t >> e);
}

int16_t unit_divide(int16_t t_q, uint8_t d, unit_division_t mode) {
  unit_divisor_group_t group;
  if (d == 0u) return INT16_MAX; /* nothing to divide by: callers skip */
  unit_divisor_group_init(&group, t_q, mode);
  return unit_group_quotient(&group, d, unit_floor_log2(d, mode), mode);
}
