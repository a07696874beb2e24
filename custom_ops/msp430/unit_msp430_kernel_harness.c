/*
 * main() of the kernel harness (see unit_msp430_kernel_harness.h): call
 * unit_msp430_checkpoint(i) and then kernel call i, for every case, and a
 * last checkpoint after the final call.  Segment i + 1 of the simulation
 * (between checkpoints i and i + 1) is therefore call i.
 */
#include "unit_msp430_kernel_harness.h"

#include "unit_msp430.h"

static unit_status_t run_case(const unit_harness_case_t *c) {
  const uint16_t scratch_bytes =
      c->scratch_bytes ? c->scratch_bytes : unit_harness_scratch_bytes;
  switch (c->op) {
    case UNIT_HARNESS_CONV_2D:
      return unit_conv_2d_int8(&c->conv, &c->requant, &c->input_shape,
                               c->input, &c->filter_shape, c->filter, c->bias,
                               &c->output_shape, unit_harness_output, &c->skip,
                               unit_harness_scratch, scratch_bytes,
                               NULL);
    case UNIT_HARNESS_CONV_2D_BUCKETED:
      return unit_conv_2d_bucketed_int8(
          &c->conv, &c->requant, &c->input_shape, c->input, &c->filter_shape,
          c->filter, c->bias, &c->output_shape, unit_harness_output, &c->skip,
          unit_harness_scratch, scratch_bytes, NULL);
    case UNIT_HARNESS_DEPTHWISE_CONV_2D:
      return unit_depthwise_conv_2d_int8(
          &c->conv, &c->requant, &c->input_shape, c->input, &c->filter_shape,
          c->filter, c->bias, &c->output_shape, unit_harness_output, &c->skip,
          unit_harness_scratch, scratch_bytes, NULL);
    case UNIT_HARNESS_FULLY_CONNECTED:
      return unit_fully_connected_int8(
          &c->fc, &c->requant, c->input_shape.n, c->input_shape.c,
          c->output_shape.c, c->input, c->filter, c->bias,
          unit_harness_output, &c->skip, unit_harness_scratch,
          scratch_bytes, NULL);
    case UNIT_HARNESS_FULLY_CONNECTED_SORTED:
      return unit_fully_connected_sorted_int8(
          &c->fc, &c->requant, c->input_shape.n, c->input_shape.c,
          c->output_shape.c, c->input, &c->sorted, c->bias,
          unit_harness_output, &c->skip, unit_harness_scratch,
          scratch_bytes, NULL);
    default:
      return UNIT_ERR_ARG;
  }
}

int main(void) {
  uint16_t i;
  for (i = 0; i < unit_harness_case_count; i++) {
    unit_msp430_checkpoint(i);
    unit_harness_status[i] = (int16_t)run_case(&unit_harness_cases[i]);
  }
  unit_msp430_checkpoint(unit_harness_case_count);
  return 0;
}
