/*
 * Static graph runner for the MSP430 port: executes a model exported by
 * `tflm-unit export-c` (the unit_graph_t data of unit_graph.h: op list,
 * tensor offsets in one arena, prepared kernel parameters, const weights)
 * through the kernel core, one op after the other.
 *
 * No allocation: the caller owns the arena (graph->arena_bytes) and the
 * scratch (graph->scratch_bytes, 2-byte aligned).  Before op i the runner
 * calls unit_msp430_checkpoint(i) and after the last op
 * unit_msp430_checkpoint(num_ops), so the host driver's segment i + 1 is
 * exactly op i (segment 0 is startup).
 */
#ifndef TFLM_UNIT_MSP430_GRAPH_H_
#define TFLM_UNIT_MSP430_GRAPH_H_

#include <stddef.h>
#include <stdint.h>

#include "unit_graph.h"

/* Runs every op of `graph` once on `arena`, whose input tensor the caller
 * has filled.  Returns UNIT_OK, or the first failing op's status with its
 * index in *failed_op (-1 when all ran; may be NULL).  The model output is
 * then at arena + graph->tensors[graph->output].offset. */
unit_status_t unit_msp430_run_graph(const unit_graph_t *graph, int8_t *arena,
                                    void *scratch, size_t scratch_bytes,
                                    int16_t *failed_op);

#endif /* TFLM_UNIT_MSP430_GRAPH_H_ */
