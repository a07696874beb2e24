/*
 * Kernel-level harness for the MSP430 simulator: runs a table of UnIT
 * kernel calls (conv, depthwise conv, fully connected; dense or UnIT in any
 * division mode) one after another, with a checkpoint before each so the
 * host times every call and reads its output.
 *
 * The table, the input/weight arrays and the shared output and scratch
 * buffers are generated C (tflm_unit.msp430.harness writes them).
 */
#ifndef TFLM_UNIT_MSP430_KERNEL_HARNESS_H_
#define TFLM_UNIT_MSP430_KERNEL_HARNESS_H_

#include <stdint.h>

#include "unit_core.h"

typedef enum {
  UNIT_HARNESS_CONV_2D = 0,
  UNIT_HARNESS_DEPTHWISE_CONV_2D = 1,
  UNIT_HARNESS_FULLY_CONNECTED = 2,
  UNIT_HARNESS_FULLY_CONNECTED_SORTED = 3, /* the sorted layout (`sorted`) */
  UNIT_HARNESS_CONV_2D_BUCKETED = 4 /* the bucketed-input conv (`bucketed`) */
} unit_harness_op_t;

/* One kernel call.  Conv and depthwise use `conv` and the three shapes;
 * fully connected uses `fc`, input_shape.n (batches), input_shape.c
 * (input depth) and output_shape.c (output depth); the sorted fully
 * connected kernel reads its weights from `sorted` instead of `filter`. */
typedef struct {
  uint16_t op; /* unit_harness_op_t */
  unit_conv_params_t conv;
  unit_fc_params_t fc;
  unit_shape_t input_shape, filter_shape, output_shape;
  const int8_t *input;
  const int8_t *filter;
  const int32_t *bias;
  unit_requant_t requant;
  unit_skip_t skip; /* skip.thresholds == NULL: the dense kernel */
  unit_fc_sorted_t sorted;
  uint16_t scratch_bytes; /* 0: all of unit_harness_scratch (else fewer: row blocks) */
} unit_harness_case_t;

extern const unit_harness_case_t unit_harness_cases[];
extern const uint16_t unit_harness_case_count;
/* Every call writes here; the host reads it at the next checkpoint. */
extern int8_t unit_harness_output[];
/* Scratch for the UnIT quotients, and its size in bytes. */
extern int32_t unit_harness_scratch[]; /* int32 accumulators + int16 quotients */
extern const uint16_t unit_harness_scratch_bytes;
/* unit_status_t of each call. */
extern int16_t unit_harness_status[];

#endif /* TFLM_UNIT_MSP430_KERNEL_HARNESS_H_ */
