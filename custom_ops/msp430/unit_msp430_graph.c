/*
 * Static graph runner (see unit_msp430_graph.h).  Each op kind maps to one
 * kernel-core call with the parameters the exporter prepared on the host,
 * so nothing here needs floating point, division or allocation.
 */
#include "unit_msp430_graph.h"

#include "unit_msp430.h"

/* The sorted FULLY_CONNECTED kernel (~3.7 KB of code) is linked only when
 * a model uses it: the Python driver builds other models with
 * -DUNIT_GRAPH_SORTED_FC=0 (their ops then never have a `sorted` layout). */
#ifndef UNIT_GRAPH_SORTED_FC
#define UNIT_GRAPH_SORTED_FC 1
#endif

/* The bucketed CONV_2D kernel likewise (-DUNIT_GRAPH_BUCKETED_CONV=0 when
 * no op has `bucketed` set). */
#ifndef UNIT_GRAPH_BUCKETED_CONV
#define UNIT_GRAPH_BUCKETED_CONV 1
#endif

/* Likewise every op kind beyond the MAC layers: the driver passes
 * -DUNIT_GRAPH_WITH_<KIND>=0 for the kinds a model does not use, so their
 * kernels (softmax's exp, the broadcasting binary ops, ...) stay out of
 * FRAM; a kind left out fails with UNIT_ERR_ARG like an unknown one. */
#ifndef UNIT_GRAPH_WITH_CONV_2D
#define UNIT_GRAPH_WITH_CONV_2D 1
#endif
#ifndef UNIT_GRAPH_WITH_DEPTHWISE_CONV_2D
#define UNIT_GRAPH_WITH_DEPTHWISE_CONV_2D 1
#endif
#ifndef UNIT_GRAPH_WITH_FULLY_CONNECTED
#define UNIT_GRAPH_WITH_FULLY_CONNECTED 1
#endif
#ifndef UNIT_GRAPH_WITH_MAX_POOL_2D
#define UNIT_GRAPH_WITH_MAX_POOL_2D 1
#endif
#ifndef UNIT_GRAPH_WITH_AVERAGE_POOL_2D
#define UNIT_GRAPH_WITH_AVERAGE_POOL_2D 1
#endif
#ifndef UNIT_GRAPH_WITH_ADD
#define UNIT_GRAPH_WITH_ADD 1
#endif
#ifndef UNIT_GRAPH_WITH_SOFTMAX
#define UNIT_GRAPH_WITH_SOFTMAX 1
#endif
#ifndef UNIT_GRAPH_WITH_MEAN
#define UNIT_GRAPH_WITH_MEAN 1
#endif
#ifndef UNIT_GRAPH_WITH_LUT
#define UNIT_GRAPH_WITH_LUT 1
#endif
#ifndef UNIT_GRAPH_WITH_BINARY
#define UNIT_GRAPH_WITH_BINARY 1
#endif
#ifndef UNIT_GRAPH_WITH_REQUANTIZE
#define UNIT_GRAPH_WITH_REQUANTIZE 1
#endif
#ifndef UNIT_GRAPH_WITH_STRIDED_SLICE
#define UNIT_GRAPH_WITH_STRIDED_SLICE 1
#endif
#ifndef UNIT_GRAPH_WITH_SPLIT
#define UNIT_GRAPH_WITH_SPLIT 1
#endif
#ifndef UNIT_GRAPH_WITH_TRANSPOSE
#define UNIT_GRAPH_WITH_TRANSPOSE 1
#endif
#ifndef UNIT_GRAPH_WITH_RESIZE_NEAREST_NEIGHBOR
#define UNIT_GRAPH_WITH_RESIZE_NEAREST_NEIGHBOR 1
#endif
#ifndef UNIT_GRAPH_WITH_RESIZE_BILINEAR
#define UNIT_GRAPH_WITH_RESIZE_BILINEAR 1
#endif
#ifndef UNIT_GRAPH_WITH_SPACE_TO_BATCH_ND
#define UNIT_GRAPH_WITH_SPACE_TO_BATCH_ND 1
#endif
#ifndef UNIT_GRAPH_WITH_BATCH_TO_SPACE_ND
#define UNIT_GRAPH_WITH_BATCH_TO_SPACE_ND 1
#endif
#ifndef UNIT_GRAPH_WITH_TRANSPOSE_CONV
#define UNIT_GRAPH_WITH_TRANSPOSE_CONV 1
#endif

#if UNIT_GRAPH_WITH_ADD || UNIT_GRAPH_WITH_BINARY
static void dims_of(const unit_graph_tensor_t *t, int32_t dims[4]) {
  dims[0] = t->shape.n;
  dims[1] = t->shape.h;
  dims[2] = t->shape.w;
  dims[3] = t->shape.c;
}
#endif

static unit_status_t run_op(const unit_graph_t *graph,
                            const unit_graph_op_t *op, int8_t *arena,
                            void *scratch, size_t scratch_bytes) {
  const unit_graph_tensor_t *in = &graph->tensors[op->input];
  const unit_graph_tensor_t *out = &graph->tensors[op->output];
  const int8_t *x = arena + in->offset;
  int8_t *y = arena + out->offset;
  (void)scratch, (void)scratch_bytes; /* unused when a model has no MAC op */
  switch (op->kind) {
#if UNIT_GRAPH_WITH_CONV_2D
    case UNIT_GRAPH_CONV_2D: {
      const unit_graph_conv_t *p = (const unit_graph_conv_t *)op->params;
#if UNIT_GRAPH_BUCKETED_CONV
      if (p->bucketed)
        return unit_conv_2d_bucketed_int8(&p->params, &p->requant, &in->shape, x,
                                          &p->filter_shape, p->filter, p->bias,
                                          &out->shape, y, &p->skip, scratch,
                                          scratch_bytes, NULL);
#endif
      return unit_conv_2d_int8(&p->params, &p->requant, &in->shape, x,
                               &p->filter_shape, p->filter, p->bias,
                               &out->shape, y, &p->skip, scratch,
                               scratch_bytes, NULL);
    }
#endif
#if UNIT_GRAPH_WITH_DEPTHWISE_CONV_2D
    case UNIT_GRAPH_DEPTHWISE_CONV_2D: {
      const unit_graph_conv_t *p = (const unit_graph_conv_t *)op->params;
      return unit_depthwise_conv_2d_int8(&p->params, &p->requant, &in->shape,
                                         x, &p->filter_shape, p->filter,
                                         p->bias, &out->shape, y, &p->skip,
                                         scratch, scratch_bytes, NULL);
    }
#endif
#if UNIT_GRAPH_WITH_FULLY_CONNECTED
    case UNIT_GRAPH_FULLY_CONNECTED: {
      const unit_graph_fc_t *p = (const unit_graph_fc_t *)op->params;
      /* int32 division on the MCU: once per op, not per MAC. */
      const int32_t batches = (int32_t)in->bytes / p->input_depth;
#if UNIT_GRAPH_SORTED_FC
      if (p->sorted) /* the sorted layout, built by unit_fc_sorted_build */
        return unit_fully_connected_sorted_int8(
            &p->params, &p->requant, batches, p->input_depth, p->output_depth,
            x, p->sorted, p->bias, y, &p->skip, scratch, scratch_bytes, NULL);
#endif
      return unit_fully_connected_int8(&p->params, &p->requant, batches,
                                       p->input_depth, p->output_depth, x,
                                       p->filter, p->bias, y, &p->skip,
                                       scratch, scratch_bytes, NULL);
    }
#endif
#if UNIT_GRAPH_WITH_MAX_POOL_2D
    case UNIT_GRAPH_MAX_POOL_2D:
      return unit_max_pool_2d_int8((const unit_pool_params_t *)op->params,
                                   &in->shape, x, &out->shape, y);
#endif
#if UNIT_GRAPH_WITH_AVERAGE_POOL_2D
    case UNIT_GRAPH_AVERAGE_POOL_2D:
      return unit_average_pool_2d_int8(
          (const unit_pool_params_t *)op->params, &in->shape, x, &out->shape,
          y);
#endif
    case UNIT_GRAPH_RESHAPE:
      /* Same bytes, new shape; the arena plan may place them elsewhere. */
      if (y != x) memmove(y, x, (size_t)out->bytes);
      return UNIT_OK;
#if UNIT_GRAPH_WITH_ADD
    case UNIT_GRAPH_ADD: {
      const unit_graph_tensor_t *in2 = &graph->tensors[op->input2];
      int32_t dims1[4], dims2[4], dims_out[4];
      dims_of(in, dims1);
      dims_of(in2, dims2);
      dims_of(out, dims_out);
      return unit_add_int8((const unit_add_params_t *)op->params, 4, dims1, x,
                           dims2, arena + in2->offset, dims_out, y);
    }
#endif
#if UNIT_GRAPH_WITH_SOFTMAX
    case UNIT_GRAPH_SOFTMAX:
      return unit_softmax_int8((const unit_softmax_params_t *)op->params,
                               (int32_t)out->bytes / out->shape.c,
                               out->shape.c, x, y);
#endif
#if UNIT_GRAPH_WITH_MEAN
    case UNIT_GRAPH_MEAN:
      return unit_mean_hw_int8((const unit_mean_params_t *)op->params,
                               &in->shape, x, y);
#endif
#if UNIT_GRAPH_WITH_LUT
    case UNIT_GRAPH_LUT:
      /* an int8 unary op as the table the host prepared */
      return unit_lut_int8((const int8_t *)op->params, (int32_t)out->bytes, x,
                           y);
#endif
#if UNIT_GRAPH_WITH_BINARY
    case UNIT_GRAPH_BINARY: {
      const unit_graph_binary_t *p = (const unit_graph_binary_t *)op->params;
      const int8_t *x2;
      int32_t dims1[4], dims2[4], dims_out[4];
      dims_of(in, dims1);
      dims_of(out, dims_out);
      if (p->input2_data != NULL) {
        dims2[0] = p->input2_shape.n;
        dims2[1] = p->input2_shape.h;
        dims2[2] = p->input2_shape.w;
        dims2[3] = p->input2_shape.c;
        x2 = p->input2_data;
        if (p->constant_first) /* the constant is the kernel's first operand */
          return unit_binary_int8(&p->params, 4, dims2, x2, dims1, x, dims_out,
                                  y);
      } else {
        const unit_graph_tensor_t *in2 = &graph->tensors[op->input2];
        dims_of(in2, dims2);
        x2 = arena + in2->offset;
      }
      return unit_binary_int8(&p->params, 4, dims1, x, dims2, x2, dims_out, y);
    }
#endif
#if UNIT_GRAPH_WITH_REQUANTIZE
    case UNIT_GRAPH_REQUANTIZE:
      return unit_requantize_int8(
          (const unit_requantize_params_t *)op->params, (int32_t)out->bytes,
          x, y);
#endif
#if UNIT_GRAPH_WITH_STRIDED_SLICE
    case UNIT_GRAPH_STRIDED_SLICE: {
      const unit_graph_slice_t *p = (const unit_graph_slice_t *)op->params;
      return unit_strided_slice(&p->params, p->input_dims, 1u, x, y);
    }
#endif
#if UNIT_GRAPH_WITH_SPLIT
    case UNIT_GRAPH_SPLIT: {
      const unit_graph_split_t *p = (const unit_graph_split_t *)op->params;
      void *pieces[UNIT_GRAPH_MAX_SPLIT];
      int16_t i;
      if (p->num_outputs < 1 || p->num_outputs > UNIT_GRAPH_MAX_SPLIT)
        return UNIT_ERR_ARG;
      for (i = 0; i < p->num_outputs; i++)
        pieces[i] = arena + graph->tensors[p->outputs[i]].offset;
      return unit_split(p->outer, p->axis_size, p->inner, p->num_outputs,
                        p->sizes, 1u, x, pieces);
    }
#endif
#if UNIT_GRAPH_WITH_TRANSPOSE
    case UNIT_GRAPH_TRANSPOSE: {
      const unit_graph_transpose_t *p = (const unit_graph_transpose_t *)op->params;
      return unit_transpose(p->num_dims, p->input_dims, p->perm, 1u, x, y);
    }
#endif
#if UNIT_GRAPH_WITH_RESIZE_NEAREST_NEIGHBOR
    case UNIT_GRAPH_RESIZE_NEAREST_NEIGHBOR: {
      const unit_graph_resize_nearest_t *p =
          (const unit_graph_resize_nearest_t *)op->params;
      return unit_resize_nearest(&in->shape, out->shape.h, out->shape.w,
                                 p->y_index, p->x_index, 1u, x, y);
    }
#endif
#if UNIT_GRAPH_WITH_RESIZE_BILINEAR
    case UNIT_GRAPH_RESIZE_BILINEAR:
      return unit_resize_bilinear_int8(
          (const unit_resize_bilinear_params_t *)op->params, &in->shape, x,
          &out->shape, y);
#endif
#if UNIT_GRAPH_WITH_SPACE_TO_BATCH_ND
    case UNIT_GRAPH_SPACE_TO_BATCH_ND: {
      const unit_graph_space_batch_t *p = (const unit_graph_space_batch_t *)op->params;
      return unit_space_to_batch_nd(&p->input_shape, p->block_h, p->block_w,
                                    p->pad_top, p->pad_left, &p->output_shape,
                                    (uint8_t)p->pad_value, 1u, x, y);
    }
#endif
#if UNIT_GRAPH_WITH_BATCH_TO_SPACE_ND
    case UNIT_GRAPH_BATCH_TO_SPACE_ND: {
      const unit_graph_space_batch_t *p = (const unit_graph_space_batch_t *)op->params;
      return unit_batch_to_space_nd(&p->input_shape, p->block_h, p->block_w,
                                    p->pad_top, p->pad_left, &p->output_shape,
                                    1u, x, y);
    }
#endif
#if UNIT_GRAPH_WITH_TRANSPOSE_CONV
    case UNIT_GRAPH_TRANSPOSE_CONV: {
      const unit_graph_transpose_conv_t *p =
          (const unit_graph_transpose_conv_t *)op->params;
      return unit_transpose_conv_int8(&p->params, &p->requant, &in->shape, x,
                                      &p->filter_shape, p->filter, p->bias,
                                      &out->shape, y, scratch, scratch_bytes,
                                      NULL);
    }
#endif
    default:
      return UNIT_ERR_ARG;
  }
}

unit_status_t unit_msp430_run_graph(const unit_graph_t *graph, int8_t *arena,
                                    void *scratch, size_t scratch_bytes,
                                    int16_t *failed_op) {
  uint16_t i;
  unit_status_t status = UNIT_OK;
  if (failed_op) *failed_op = -1;
  if (!graph || !arena || graph->format_version != UNIT_GRAPH_FORMAT_VERSION)
    return UNIT_ERR_ARG;
  for (i = 0; i < graph->num_ops; i++) {
    unit_msp430_checkpoint(i);
    status = run_op(graph, &graph->ops[i], arena, scratch, scratch_bytes);
    if (status != UNIT_OK) {
      if (failed_op) *failed_op = (int16_t)i;
      return status;
    }
  }
  unit_msp430_checkpoint(graph->num_ops);
  return UNIT_OK;
}
