/* MAX_POOL_2D and AVERAGE_POOL_2D on int8 NHWC tensors, computed the way
 * TFLM's reference kernels do: the window is clipped to the input (padding
 * taps are ignored, not zeros), the average divides by the number of
 * in-bounds taps and rounds half away from zero. */
#include "unit_ops.h"

static int32_t unit_max32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t unit_min32(int32_t a, int32_t b) { return a < b ? a : b; }

static int unit_shape_valid(const unit_shape_t *s) {
  return s != 0 && s->n > 0 && s->h > 0 && s->w > 0 && s->c > 0;
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
  if (params == 0 || output_shape == 0 || !unit_shape_valid(input_shape))
    return UNIT_ERR_ARG;
  if (filter_h <= 0 || filter_w <= 0 || stride_h <= 0 || stride_w <= 0)
    return UNIT_ERR_ARG;
  if (padding != UNIT_PADDING_SAME && padding != UNIT_PADDING_VALID)
    return UNIT_ERR_ARG;
  if (fused_activation < UNIT_ACT_NONE || fused_activation > UNIT_ACT_RELU6)
    return UNIT_ERR_ARG;
  if (!(output_scale > 0.0f)) return UNIT_ERR_ARG;
  out_h = unit_compute_out_size(padding, input_shape->h, filter_h, stride_h, 1);
  out_w = unit_compute_out_size(padding, input_shape->w, filter_w, stride_w, 1);
  if (out_h <= 0 || out_w <= 0) return UNIT_ERR_SHAPE;
  params->filter_h = filter_h;
  params->filter_w = filter_w;
  params->stride_h = stride_h;
  params->stride_w = stride_w;
  params->pad_h = unit_compute_padding(stride_h, 1, input_shape->h, filter_h,
                                       out_h);
  params->pad_w = unit_compute_padding(stride_w, 1, input_shape->w, filter_w,
                                       out_w);
  unit_activation_range_int8(fused_activation, output_scale, output_zero_point,
                             &params->act_min, &params->act_max);
  output_shape->n = input_shape->n;
  output_shape->h = out_h;
  output_shape->w = out_w;
  output_shape->c = input_shape->c;
  return UNIT_OK;
}

static unit_status_t unit_pool_check(const unit_pool_params_t *params,
                                     const unit_shape_t *input_shape,
                                     const int8_t *input,
                                     const unit_shape_t *output_shape,
                                     const int8_t *output) {
  if (params == 0 || input == 0 || output == 0) return UNIT_ERR_ARG;
  if (!unit_shape_valid(input_shape) || !unit_shape_valid(output_shape))
    return UNIT_ERR_ARG;
  if (params->filter_h <= 0 || params->filter_w <= 0 || params->stride_h <= 0 ||
      params->stride_w <= 0 || params->pad_h < 0 || params->pad_w < 0 ||
      params->act_min > params->act_max)
    return UNIT_ERR_ARG;
  if (input_shape->n != output_shape->n || input_shape->c != output_shape->c)
    return UNIT_ERR_SHAPE;
  return UNIT_OK;
}

/* The window of one output position, clipped to the input. */
typedef struct {
  int32_t in_y_origin, in_x_origin;
  int32_t y_start, y_end, x_start, x_end; /* filter taps [start, end) */
} unit_pool_window_t;

static void unit_pool_window(const unit_pool_params_t *params,
                             const unit_shape_t *input_shape, int32_t out_y,
                             int32_t out_x, unit_pool_window_t *win) {
  win->in_y_origin = out_y * params->stride_h - params->pad_h;
  win->in_x_origin = out_x * params->stride_w - params->pad_w;
  win->y_start = unit_max32(0, -win->in_y_origin);
  win->y_end = unit_min32(params->filter_h, input_shape->h - win->in_y_origin);
  win->x_start = unit_max32(0, -win->in_x_origin);
  win->x_end = unit_min32(params->filter_w, input_shape->w - win->in_x_origin);
}

/* MAX_POOL_2D and AVERAGE_POOL_2D share the window walk; they differ only in
 * how a window's in-bounds taps are reduced (largest value, or the sum
 * divided by the tap count rounding half away from zero). */
static unit_status_t pool_2d_int8(int average, const unit_pool_params_t *params,
                                  const unit_shape_t *input_shape,
                                  const int8_t *input,
                                  const unit_shape_t *output_shape,
                                  int8_t *output) {
  int32_t batch, out_y, out_x, channel, fy, fx;
  const int32_t depth = input_shape ? input_shape->c : 0;
  unit_status_t status =
      unit_pool_check(params, input_shape, input, output_shape, output);
  if (status != UNIT_OK) return status;
  for (batch = 0; batch < output_shape->n; ++batch) {
    const int8_t *in_batch =
        input + (int32_t)batch * input_shape->h * input_shape->w * depth;
    for (out_y = 0; out_y < output_shape->h; ++out_y) {
      for (out_x = 0; out_x < output_shape->w; ++out_x) {
        unit_pool_window_t win;
        int32_t count;
        int8_t *out_pixel =
            output + ((batch * output_shape->h + out_y) * output_shape->w +
                      out_x) * depth;
        unit_pool_window(params, input_shape, out_y, out_x, &win);
        count = (win.y_end - win.y_start) * (win.x_end - win.x_start);
        if (average &&
            (win.y_end <= win.y_start || win.x_end <= win.x_start || count <= 0))
          return UNIT_ERR_SHAPE; /* TFLM fails on an empty window too */
        for (channel = 0; channel < depth; ++channel) {
          /* max: TFLM starts from the int8 lowest; average: from 0 */
          int32_t value = average ? 0 : -128;
          for (fy = win.y_start; fy < win.y_end; ++fy) {
            const int32_t in_y = win.in_y_origin + fy;
            for (fx = win.x_start; fx < win.x_end; ++fx) {
              const int32_t in_x = win.in_x_origin + fx;
              const int32_t v =
                  in_batch[(in_y * input_shape->w + in_x) * depth + channel];
              if (average)
                value += v;
              else if (v > value)
                value = v;
            }
          }
          if (average) /* round half away from zero; C division truncates */
            value = value > 0 ? (value + count / 2) / count
                              : (value - count / 2) / count;
          value = unit_max32(value, params->act_min);
          value = unit_min32(value, params->act_max);
          out_pixel[channel] = (int8_t)value;
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
