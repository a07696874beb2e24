/* Which of the core's hot functions a target port replaces.
 *
 * The core is portable C99.  On the MSP430, clang-16 compiles two of its
 * hot spots poorly (32-bit shifts, sign extension and loop bookkeeping are
 * long instruction sequences on a 16-bit CPU), so the port in
 * custom_ops/msp430 provides them in assembly, bit for bit the C versions:
 *   UNIT_PORT_TAP_WALK    the conv / depthwise inner loops
 *                         (unit_msp430_tap.S, see unit_accumulate_tap);
 *   UNIT_PORT_REQUANTIZE  unit_multiply_by_quantized_multiplier
 *                         (unit_msp430_requant.S);
 *   UNIT_PORT_FC_SORTED_WALK  the sorted fully connected layout's segment
 *                         walk (unit_msp430_fc_sorted.S, see walk8 in
 *                         unit_fc_sorted.c).
 *   UNIT_PORT_BUCKET_WALK the bucketed CONV_2D's walk of one weight over its
 *                         rows (unit_msp430_bucket.S)
 *   UNIT_PORT_MAX_POOL    MAX_POOL_2D's walk over a row of unclipped
 *                         windows (unit_msp430_pool.S, see
 *                         unit_max_pool_run in ../core/unit_pool.c).
 * Define UNIT_PORTABLE_C to build the C versions on every target. */
#ifndef TFLM_UNIT_PORT_H_
#define TFLM_UNIT_PORT_H_

#if defined(__MSP430__) && !defined(UNIT_PORTABLE_C)
#define UNIT_PORT_TAP_WALK 1
#define UNIT_PORT_REQUANTIZE 1
#define UNIT_PORT_FC_SORTED_WALK 1
#define UNIT_PORT_MAX_POOL 1
#define UNIT_PORT_BUCKET_WALK 1
#endif

#endif /* TFLM_UNIT_PORT_H_ */
