/* MAX_POOL_2D and AVERAGE_POOL_2D on int8 NHWC tensors, computed the way
 * TFLM's reference kernels do: the window is clipped to the input (padding
 * taps are ignored, not zeros), the average divides by the number of
 * in-bounds taps and rounds half away from zero. */
#include "unit_internal.h"
#include "unit_ops.h"

static int32_t unit_max32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t unit_min32(int32_t a, int32_t b) { return a < b ? a : b; }

static int unit_shape_valid(const unit_shape_t *s) {
  return s != 0 && s->n > 0 && s->h > 0 && s->w > 0 && s->c > 0;
}

/* Geometry of a pooling call (unit_internal.h). */
unit_status_t unit_pool_geometry(int32_t filter_h, int32_t filter_w,
                                 int32_t stride_h, int32_t stride_w,
                                 int32_t pad_h, int32_t pad_w,
                                 const unit_shape_t *in,
                                 const unit_shape_t *out) {
  unit_status_t status;
  if (filter_h <= 0 || filter_w <= 0 || stride_h <= 0 || stride_w <= 0 ||
      pad_h < 0 || pad_w < 0)
    return UNIT_ERR_ARG;
  if (unit_shape_count(in, UNIT_COUNT_MAX) < 0 ||
      unit_shape_count(out, UNIT_COUNT_MAX) < 0)
    return UNIT_ERR_OVERFLOW;
  status = unit_check_spatial(in->h, filter_h, stride_h, 1, pad_h, out->h,
                              UNIT_COUNT_MAX);
  if (status != UNIT_OK) return status;
  return unit_check_spatial(in->w, filter_w, stride_w, 1, pad_w, out->w,
                            UNIT_COUNT_MAX);
}

unit_status_t unit_pool_prepare_int8(unit_padding_t padding, int32_t filter_h,
                                     int32_t filter_w, int32_t stride_h,
                                     int32_t stride_w,
                                     const unit_shape_t *input_shape,
                                     int32_t fused_activation,
                                     float output_scale,
                                     int32_t output_zero_point,
                                     unit_pool_params_t *params,
                                     unit_shape_t *output_shape) {
  int32_t out_h, out_w;
  unit_pool_params_t prepared;
  unit_shape_t out;
  unit_status_t status;
  if (params == 0 || output_shape == 0 || input_shape == 0)
    return UNIT_ERR_NULL;
  if (!unit_shape_valid(input_shape)) return UNIT_ERR_ARG;
  if (filter_h <= 0 || filter_w <= 0 || stride_h <= 0 || stride_w <= 0)
    return UNIT_ERR_ARG;
  if (padding != UNIT_PADDING_SAME && padding != UNIT_PADDING_VALID)
    return UNIT_ERR_ARG;
  if (fused_activation < UNIT_ACT_NONE || fused_activation > UNIT_ACT_RELU6)
    return UNIT_ERR_ARG;
  out_h = unit_compute_out_size(padding, input_shape->h, filter_h, stride_h, 1);
  out_w = unit_compute_out_size(padding, input_shape->w, filter_w, stride_w, 1);
  if (out_h <= 0 || out_w <= 0) return UNIT_ERR_SHAPE;
  prepared.filter_h = filter_h;
  prepared.filter_w = filter_w;
  prepared.stride_h = stride_h;
  prepared.stride_w = stride_w;
  prepared.pad_h = unit_compute_padding(stride_h, 1, input_shape->h, filter_h,
                                        out_h);
  prepared.pad_w = unit_compute_padding(stride_w, 1, input_shape->w, filter_w,
                                        out_w);
  status = unit_activation_range_int8(fused_activation, output_scale,
                                      output_zero_point, &prepared.act_min,
                                      &prepared.act_max);
  if (status != UNIT_OK) return status;
  out.n = input_shape->n;
  out.h = out_h;
  out.w = out_w;
  out.c = input_shape->c;
  /* the kernel's own checks, so a prepared call never fails later */
  status = unit_pool_geometry(filter_h, filter_w, stride_h, stride_w,
                              prepared.pad_h, prepared.pad_w, input_shape, &out);
  if (status != UNIT_OK) return status;
  *params = prepared;
  *output_shape = out;
  return UNIT_OK;
}

static unit_status_t unit_pool_check(const unit_pool_params_t *params,
                                     const unit_shape_t *input_shape,
                                     const int8_t *input,
                                     const unit_shape_t *output_shape,
                                     const int8_t *output) {
  unit_status_t status;
  if (params == 0 || input == 0 || output == 0 || input_shape == 0 ||
      output_shape == 0)
    return UNIT_ERR_NULL;
  if (!unit_shape_valid(input_shape) || !unit_shape_valid(output_shape))
    return UNIT_ERR_ARG;
  if (input_shape->n != output_shape->n || input_shape->c != output_shape->c)
    return UNIT_ERR_SHAPE;
  status = unit_pool_geometry(params->filter_h, params->filter_w,
                              params->stride_h, params->stride_w, params->pad_h,
                              params->pad_w, input_shape, output_shape);
  if (status != UNIT_OK) return status;
  return unit_check_act_int8(params->act_min, params->act_max);
}

/* The in-bounds input indexes [*first, *first + taps) of a window of
 * `filter` indexes starting at `origin` (possibly in the padding) on an input
 * of `size`.  Only compares and subtractions that cannot overflow int32:
 * size - filter >= 1 - INT32_MAX, and origin + filter is formed only when it
 * is <= size.  The count fits size_t because the input tensor fits memory. */
static size_t unit_pool_clip(int32_t origin, int32_t filter, int32_t size,
                             int32_t *first) {
  const int32_t end = origin <= size - filter ? origin + filter : size;
  *first = origin > 0 ? origin : 0;
  return end > *first ? (size_t)(end - *first) : 0u;
}

/* Channels reduced together.  The channel loop is innermost over the
 * contiguous NHWC bytes of one tap; the running values of a block live in a
 * small stack array (no allocation; 64 bytes). */
#define UNIT_POOL_BLOCK 16

/* How a window is reduced: max in int16 (int8 values); sum in int16 when at
 * most 255 taps (|sum| <= 128 * 255 + 127 < 32768 even after adding the
 * rounding half-count), else in int32. */
typedef enum { UNIT_POOL_MAX, UNIT_POOL_SUM16, UNIT_POOL_SUM32 } unit_pool_kind_t;

typedef union {
  int16_t s16[UNIT_POOL_BLOCK];
  int32_t s32[UNIT_POOL_BLOCK];
} unit_pool_acc_t;

/* Folds one tap's `n` channels into the block's running values. */
static void unit_pool_tap(unit_pool_kind_t kind, const int8_t *tap, size_t n,
                          unit_pool_acc_t *acc) {
  int16_t *a16 = acc->s16;
  int32_t *a32 = acc->s32;
  switch (kind) {
    case UNIT_POOL_MAX:
      for (; n > 0; --n, ++tap, ++a16)
        if (*tap > *a16) *a16 = *tap;
      break;
    case UNIT_POOL_SUM16:
      for (; n > 0; --n, ++tap, ++a16) *a16 = (int16_t)(*a16 + *tap);
      break;
    case UNIT_POOL_SUM32:
      for (; n > 0; --n, ++tap, ++a32) *a32 += *tap;
      break;
  }
}

/* Sum / count rounded half away from zero (C division truncates). */
static int16_t unit_pool_mean16(int16_t sum, int16_t count) {
  const int16_t half = (int16_t)(count / 2);
  return (int16_t)((sum > 0 ? sum + half : sum - half) / count);
}

static int32_t unit_pool_mean32(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/* The fused-activation clamp as int16 bounds that give the same int8
 * result as the int32 ones for every value in [-128, 127] (all a pooled
 * value can be), so the clamp needs no int32 compare: a bound beyond int8
 * either never binds or binds for every value (a constant output). */
static void unit_pool_clamp16(int32_t act_min, int32_t act_max, int16_t *lo,
                              int16_t *hi) {
  if (act_min > 127 || act_max < -128) { /* every value becomes one bound */
    *lo = *hi = (int16_t)(int8_t)(act_min > 127 ? act_min : act_max);
  } else {
    *lo = (int16_t)unit_max32(act_min, -128);
    *hi = (int16_t)unit_min32(act_max, 127);
  }
}

/* MAX_POOL_2D over `count` adjacent output positions whose windows are
 * clipped alike (the row's horizontally unclipped ones): for each position
 * and channel, the largest of rows x cols taps (depth bytes apart in a
 * row, row_bytes apart between rows), clamped.  On 16-bit cores field
 * offsets are fixed for the port's assembly (unit_msp430_pool.S). */
typedef struct {
  const int8_t *in;    /* the first position's first tap, channel 0 */
  int8_t *out;         /* its output, channel 0 */
  size_t count;        /* positions (> 0) */
  size_t depth;        /* channels (> 0) */
  size_t rows, cols;   /* the window (> 0) */
  size_t row_bytes;    /* input bytes between window rows */
  size_t x_step;       /* input bytes between adjacent positions' windows */
  int16_t act_lo, act_hi;
} unit_max_pool_run_t;
#if defined(UNIT_PORT_MAX_POOL)
typedef char unit_max_pool_run_layout_check[sizeof(unit_max_pool_run_t) == 20 ? 1 : -1];
void unit_msp430_max_pool_run(const unit_max_pool_run_t *run);
#endif

static void unit_max_pool_run(const unit_max_pool_run_t *run) {
#if defined(UNIT_PORT_MAX_POOL)
  unit_msp430_max_pool_run(run);
#else
  size_t pos, c, r, k, window = 0, out = 0;
  for (pos = 0; pos < run->count; ++pos, window += run->x_step) {
    for (c = 0; c < run->depth; ++c, ++out) {
      int16_t value = -128; /* TFLM starts from the int8 lowest */
      size_t row = window + c;
      for (r = 0; r < run->rows; ++r, row += run->row_bytes) {
        size_t tap = row;
        for (k = 0; k < run->cols; ++k, tap += run->depth)
          if (run->in[tap] > value) value = run->in[tap];
      }
      if (value < run->act_lo) value = run->act_lo;
      if (value > run->act_hi) value = run->act_hi;
      run->out[out] = (int8_t)value;
    }
  }
#endif
}

/* MAX_POOL_2D and AVERAGE_POOL_2D share the window walk; they differ only in
 * how a window's in-bounds taps are reduced (largest value, or the sum
 * divided by the tap count rounding half away from zero).
 *
 * On a 16-bit MCU every multiply is a helper call, so none is made per tap
 * and, for max, none per output position: the window is clipped once per
 * position with int32 adds and compares (the parameters may exceed 16 bits),
 * then walked with size_t byte offsets (16-bit there; every tensor fits the
 * memory), stepped by the row and column strides computed once per call. */
static unit_status_t pool_2d_int8(int average, const unit_pool_params_t *params,
                                  const unit_shape_t *input_shape,
                                  const int8_t *input,
                                  const unit_shape_t *output_shape,
                                  int8_t *output) {
  size_t depth, row_bytes, image_bytes, x_step, x_step_bytes, batch, out_y,
      out_x;
  int16_t act_lo, act_hi;
  int32_t inner_lo = 0, inner_hi = 0; /* max pool: unclipped columns */
  unit_pool_kind_t kind = UNIT_POOL_MAX;
  unit_status_t status =
      unit_pool_check(params, input_shape, input, output_shape, output);
  if (status != UNIT_OK) return status;
  unit_pool_clamp16(params->act_min, params->act_max, &act_lo, &act_hi);
  depth = (size_t)input_shape->c; /* bytes from one column to the next */
  row_bytes = (size_t)input_shape->w * depth;
  image_bytes = (size_t)input_shape->h * row_bytes;
  /* first_x usually moves on by stride_w.  Kept mod 2^16 on a 16-bit MCU:
   * it is used only when it equals a real in-bounds column difference. */
  x_step = (size_t)params->stride_w;
  x_step_bytes = x_step * depth;
  if (average) {
    /* the most taps a clipped window can have decides the sum's width */
    const int32_t max_h = unit_min32(params->filter_h, input_shape->h);
    const int32_t max_w = unit_min32(params->filter_w, input_shape->w);
    kind = max_h <= 255 && max_w <= 255 && max_h * max_w <= 255
               ? UNIT_POOL_SUM16
               : UNIT_POOL_SUM32;
  }
  if (!average) {
    /* the output columns whose windows lie inside horizontally:
     * x * stride_w >= pad_w and x * stride_w - pad_w + filter_w <= in_w */
    const int32_t last = input_shape->w - params->filter_w + params->pad_w;
    inner_lo = (params->pad_w + params->stride_w - 1) / params->stride_w;
    inner_hi = last < 0 ? 0 : last / params->stride_w + 1;
    if (inner_hi > output_shape->w) inner_hi = output_shape->w;
    if (inner_lo > inner_hi) inner_lo = inner_hi;
  }
  for (batch = 0; batch < (size_t)output_shape->n;
       ++batch, input += image_bytes) {
    int32_t y_origin = -params->pad_h; /* out_y * stride_h - pad_h */
    for (out_y = 0; out_y < (size_t)output_shape->h; ++out_y) {
      int32_t first_y, x_origin = -params->pad_w; /* out_x * stride_w - pad_w */
      size_t rows, row_off = 0, col = 0, col_off = 0; /* col_off = col * depth */
      if (out_y > 0) y_origin += params->stride_h; /* never past the last */
      rows = unit_pool_clip(y_origin, params->filter_h, input_shape->h,
                            &first_y);
      if (rows > 0) row_off = (size_t)first_y * row_bytes; /* once a row */
      for (out_x = 0; out_x < (size_t)output_shape->w;
           ++out_x, output += depth) {
        int32_t first_x;
        size_t cols, count = 0, c0;
        if (out_x > 0) x_origin += params->stride_w;
        if (rows > 0 && (int32_t)out_x == inner_lo && inner_hi - inner_lo > 1) {
          /* the unclipped columns of this row at once */
          unit_max_pool_run_t run;
          const size_t count = (size_t)(inner_hi - inner_lo);
          run.in = input + row_off + (size_t)x_origin * depth;
          run.out = output;
          run.count = count;
          run.depth = depth;
          run.rows = rows;
          run.cols = (size_t)params->filter_w;
          run.row_bytes = row_bytes;
          run.x_step = x_step_bytes;
          run.act_lo = act_lo;
          run.act_hi = act_hi;
          unit_max_pool_run(&run);
          /* continue as if the loop had walked them */
          out_x += count - 1;
          output += (count - 1) * depth;
          x_origin += (int32_t)(count - 1) * params->stride_w;
          col = (size_t)x_origin;
          col_off = col * depth;
          continue;
        }
        cols = unit_pool_clip(x_origin, params->filter_w, input_shape->w,
                              &first_x);
        if (rows == 0) cols = 0; /* one empty side empties the window */
        if (cols > 0) {
          /* first_x never moves back: add its move in bytes, a multiply
           * only where the window leaves the left padding */
          const size_t moved = (size_t)first_x - col;
          if (moved == x_step)
            col_off += x_step_bytes;
          else if (moved != 0)
            col_off += moved * depth;
          col = (size_t)first_x;
          if (average) count = rows * cols;
        }
        if (average && count == 0)
          return UNIT_ERR_SHAPE; /* TFLM fails on an empty window too */
        for (c0 = 0; c0 < depth; c0 += UNIT_POOL_BLOCK) {
          const size_t n =
              depth - c0 < UNIT_POOL_BLOCK ? depth - c0 : UNIT_POOL_BLOCK;
          unit_pool_acc_t acc;
          size_t c, r, k;
          size_t tap_row = row_off + col_off + c0; /* offsets, not pointers: */
          for (c = 0; c < n; ++c) { /* the one past the window may not exist */
            if (kind == UNIT_POOL_SUM32)
              acc.s32[c] = 0;
            else /* max: TFLM starts from the int8 lowest */
              acc.s16[c] = (int16_t)(kind == UNIT_POOL_MAX ? -128 : 0);
          }
          for (r = 0; cols > 0 && r < rows; ++r, tap_row += row_bytes) {
            size_t tap = tap_row;
            for (k = 0; k < cols; ++k, tap += depth)
              unit_pool_tap(kind, input + tap, n, &acc);
          }
          for (c = 0; c < n; ++c) {
            int16_t value; /* in [-128, 127] */
            if (kind == UNIT_POOL_SUM32)
              value = (int16_t)unit_pool_mean32(acc.s32[c], (int32_t)count);
            else if (kind == UNIT_POOL_SUM16)
              value = unit_pool_mean16(acc.s16[c], (int16_t)count);
            else
              value = acc.s16[c];
            if (value < act_lo) value = act_lo;
            if (value > act_hi) value = act_hi;
            output[c0 + c] = (int8_t)value;
          }
        }
      }
    }
  }
  return UNIT_OK;
}

unit_status_t unit_max_pool_2d_int8(const unit_pool_params_t *params,
                                    const unit_shape_t *input_shape,
                                    const int8_t *input,
                                    const unit_shape_t *output_shape,
                                    int8_t *output) {
  return pool_2d_int8(0, params, input_shape, input, output_shape, output);
}

unit_status_t unit_average_pool_2d_int8(const unit_pool_params_t *params,
                                        const unit_shape_t *input_shape,
                                        const int8_t *input,
                                        const unit_shape_t *output_shape,
                                        int8_t *output) {
  return pool_2d_int8(1, params, input_shape, input, output_shape, output);
}
