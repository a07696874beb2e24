/* STRIDED_SLICE, SPLIT / SPLIT_V, TRANSPOSE, RESIZE_NEAREST_NEIGHBOR,
 * RESIZE_BILINEAR, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, computed the way
 * TFLM's reference kernels compute them (see unit_layout.h).  No libm: the
 * float helpers below floor / round without it, so the file also builds for
 * the MSP430, whose graph runner uses the integer functions only. */
#include "unit_layout.h"

#define UNIT_INT32_LIMIT 2147483647L

/* Product of n positive dims into *count; 0 on a bad dim or int32 overflow. */
static int unit_dims_count(int32_t n, const int32_t *dims, int32_t *count) {
  int32_t i, total = 1;
  for (i = 0; i < n; ++i) {
    if (dims[i] <= 0 || total > (int32_t)(UNIT_INT32_LIMIT / dims[i]))
      return 0;
    total *= dims[i];
  }
  *count = total;
  return 1;
}

static int unit_shape_valid(const unit_shape_t *s, int32_t *count) {
  int32_t dims[4];
  if (s == 0) return 0;
  dims[0] = s->n, dims[1] = s->h, dims[2] = s->w, dims[3] = s->c;
  return unit_dims_count(4, dims, count);
}

static int unit_elem_size_valid(size_t elem_size) {
  return elem_size == 1u || elem_size == 2u || elem_size == 4u;
}

/* Byte copy and fill (the MSP430 build is freestanding: no <string.h>). */
static void unit_copy_elem(uint8_t *dst, const uint8_t *src, size_t n) {
  while (n--) *dst++ = *src++;
}

static void unit_copy_bytes(void *dst, const void *src, size_t n) {
  unit_copy_elem((uint8_t *)dst, (const uint8_t *)src, n);
}

static void unit_fill_bytes(void *dst, uint8_t value, size_t n) {
  uint8_t *d = (uint8_t *)dst;
  while (n--) *d++ = value;
}

/* ---- STRIDED_SLICE ---- */

static int32_t unit_clamp32(int32_t v, int32_t lo, int32_t hi) {
  if (v > hi) return hi;
  if (v < lo) return lo;
  return v;
}

unit_status_t unit_strided_slice_prepare(
    int32_t num_dims, const int32_t *input_dims, const int32_t *begin,
    const int32_t *end, const int32_t *strides, int32_t begin_mask,
    int32_t end_mask, int32_t shrink_axis_mask, unit_slice_params_t *params,
    int32_t *output_count) {
  int32_t axis, count = 1, unused;
  if (!input_dims || !begin || !end || !strides || !params || !output_count)
    return UNIT_ERR_ARG;
  if (num_dims < 1 || num_dims > UNIT_SLICE_MAX_DIMS) return UNIT_ERR_ARG;
  if (!unit_dims_count(num_dims, input_dims, &unused)) return UNIT_ERR_ARG;
  params->num_dims = num_dims;
  for (axis = 0; axis < num_dims; ++axis) {
    const int32_t size = input_dims[axis];
    const int32_t stride = strides[axis];
    const int32_t bit = (int32_t)1 << axis;
    int32_t start = begin[axis], stop, length;
    if (stride == 0) return UNIT_ERR_ARG;
    /* StridedSliceStartForAxis: wrap, clamp, then the begin mask */
    if (start < 0) start += size;
    start = stride > 0 ? unit_clamp32(start, 0, size)
                       : unit_clamp32(start, -1, size - 1);
    if (begin_mask & bit) start = stride > 0 ? 0 : size - 1;
    /* StridedSliceEndForAxis: shrink, else wrap, clamp, the end mask */
    if (shrink_axis_mask & bit) {
      stop = start >= size ? start : start + 1;
    } else {
      stop = end[axis];
      if (stop < 0) stop += size;
      stop = stride > 0 ? unit_clamp32(stop, 0, size)
                        : unit_clamp32(stop, -1, size - 1);
      if (end_mask & bit) stop = stride > 0 ? size : -1;
    }
    params->start[axis] = start;
    params->stop[axis] = stop;
    params->stride[axis] = stride;
    /* elements the loop `for (i = start; stride > 0 ? i < stop : i > stop;
     * i += stride)` visits */
    if (stride > 0)
      length = stop > start ? (stop - start + stride - 1) / stride : 0;
    else
      length = start > stop ? (start - stop + (-stride) - 1) / (-stride) : 0;
    count *= length; /* length <= size, so no overflow past the input count */
  }
  *output_count = count;
  return UNIT_OK;
}

static int unit_slice_continues(int32_t i, int32_t stop, int32_t stride) {
  return stride > 0 ? i < stop : i > stop;
}

unit_status_t unit_strided_slice(const unit_slice_params_t *params,
                                 const int32_t *input_dims, size_t elem_size,
                                 const void *input, void *output) {
  /* padded to 5 dims at the front: start 0, stop 1, stride 1 */
  int32_t start[UNIT_SLICE_MAX_DIMS], stop[UNIT_SLICE_MAX_DIMS];
  int32_t stride[UNIT_SLICE_MAX_DIMS], step[UNIT_SLICE_MAX_DIMS];
  int32_t i0, i1, i2, i3, i4, axis, pad, unused;
  const uint8_t *in = (const uint8_t *)input;
  uint8_t *out = (uint8_t *)output;
  if (!params || !input_dims || !input || !output) return UNIT_ERR_ARG;
  if (!unit_elem_size_valid(elem_size)) return UNIT_ERR_ARG;
  if (params->num_dims < 1 || params->num_dims > UNIT_SLICE_MAX_DIMS)
    return UNIT_ERR_ARG;
  if (!unit_dims_count(params->num_dims, input_dims, &unused))
    return UNIT_ERR_ARG;
  pad = UNIT_SLICE_MAX_DIMS - params->num_dims;
  for (axis = 0; axis < UNIT_SLICE_MAX_DIMS; ++axis) {
    if (axis < pad) {
      start[axis] = 0, stop[axis] = 1, stride[axis] = 1;
    } else {
      const int32_t k = axis - pad, size = input_dims[k];
      start[axis] = params->start[k];
      stop[axis] = params->stop[k];
      stride[axis] = params->stride[k];
      if (stride[axis] == 0) return UNIT_ERR_ARG;
      /* the resolved range must stay inside the axis */
      if (stride[axis] > 0 ? (start[axis] < 0 || stop[axis] > size)
                           : (start[axis] >= size || stop[axis] < -1))
        return UNIT_ERR_SHAPE;
    }
  }
  /* element strides of the padded input */
  step[UNIT_SLICE_MAX_DIMS - 1] = 1;
  for (axis = UNIT_SLICE_MAX_DIMS - 2; axis >= 0; --axis) {
    const int32_t next = axis + 1 < pad ? 1 : input_dims[axis + 1 - pad];
    step[axis] = step[axis + 1] * next;
  }
  for (i0 = start[0]; unit_slice_continues(i0, stop[0], stride[0]); i0 += stride[0])
    for (i1 = start[1]; unit_slice_continues(i1, stop[1], stride[1]); i1 += stride[1])
      for (i2 = start[2]; unit_slice_continues(i2, stop[2], stride[2]); i2 += stride[2])
        for (i3 = start[3]; unit_slice_continues(i3, stop[3], stride[3]); i3 += stride[3])
          for (i4 = start[4]; unit_slice_continues(i4, stop[4], stride[4]); i4 += stride[4]) {
            const int32_t index = i0 * step[0] + i1 * step[1] + i2 * step[2] +
                                  i3 * step[3] + i4;
            unit_copy_elem(out, in + (size_t)index * elem_size, elem_size);
            out += elem_size;
          }
  return UNIT_OK;
}

/* ---- SPLIT / SPLIT_V ---- */

unit_status_t unit_split(int32_t outer, int32_t axis_size, int32_t inner,
                         int32_t num_outputs, const int32_t *output_sizes,
                         size_t elem_size, const void *input,
                         void *const *outputs) {
  int32_t k, i, total = 0, unused;
  int32_t dims[3];
  const uint8_t *in = (const uint8_t *)input;
  if (!output_sizes || !input || !outputs) return UNIT_ERR_ARG;
  if (!unit_elem_size_valid(elem_size) || num_outputs <= 0) return UNIT_ERR_ARG;
  dims[0] = outer, dims[1] = axis_size, dims[2] = inner;
  if (!unit_dims_count(3, dims, &unused)) return UNIT_ERR_ARG;
  for (i = 0; i < num_outputs; ++i) {
    if (!outputs[i] || output_sizes[i] <= 0) return UNIT_ERR_ARG;
    if (output_sizes[i] > axis_size - total) return UNIT_ERR_SHAPE;
    total += output_sizes[i];
  }
  if (total != axis_size) return UNIT_ERR_SHAPE;
  /* TFLM's loop: per outer index, each output's block in turn */
  for (k = 0; k < outer; ++k) {
    for (i = 0; i < num_outputs; ++i) {
      const size_t block = (size_t)output_sizes[i] * (size_t)inner * elem_size;
      unit_copy_bytes((uint8_t *)outputs[i] + (size_t)k * block, in, block);
      in += block;
    }
  }
  return UNIT_OK;
}

/* ---- TRANSPOSE ---- */

unit_status_t unit_transpose(int32_t num_dims, const int32_t *input_dims,
                             const int32_t *perm, size_t elem_size,
                             const void *input, void *output) {
  int32_t in_step[UNIT_TRANSPOSE_MAX_DIMS], out_dims[UNIT_TRANSPOSE_MAX_DIMS];
  int32_t walk[UNIT_TRANSPOSE_MAX_DIMS], index[UNIT_TRANSPOSE_MAX_DIMS];
  int32_t i, count, n, seen = 0;
  const uint8_t *in = (const uint8_t *)input;
  uint8_t *out = (uint8_t *)output;
  if (!input_dims || !perm || !input || !output) return UNIT_ERR_ARG;
  if (!unit_elem_size_valid(elem_size)) return UNIT_ERR_ARG;
  if (num_dims < 1 || num_dims > UNIT_TRANSPOSE_MAX_DIMS) return UNIT_ERR_ARG;
  if (!unit_dims_count(num_dims, input_dims, &count)) return UNIT_ERR_ARG;
  for (i = 0; i < num_dims; ++i) {
    if (perm[i] < 0 || perm[i] >= num_dims || (seen & (1 << perm[i])))
      return UNIT_ERR_ARG;
    seen |= 1 << perm[i];
  }
  in_step[num_dims - 1] = 1;
  for (i = num_dims - 2; i >= 0; --i)
    in_step[i] = in_step[i + 1] * input_dims[i + 1];
  for (i = 0; i < num_dims; ++i) {
    out_dims[i] = input_dims[perm[i]];
    walk[i] = in_step[perm[i]]; /* input stride of output axis i */
    index[i] = 0;
  }
  /* walk the output in row-major order, an odometer over its dims */
  {
    int32_t offset = 0;
    for (n = 0; n < count; ++n) {
      unit_copy_elem(out, in + (size_t)offset * elem_size, elem_size);
      out += elem_size;
      for (i = num_dims - 1; i >= 0; --i) {
        offset += walk[i];
        if (++index[i] < out_dims[i]) break;
        offset -= walk[i] * out_dims[i];
        index[i] = 0;
      }
    }
  }
  return UNIT_OK;
}

/* ---- RESIZE_NEAREST_NEIGHBOR ---- */

/* floor(v) for |v| < 2^31 without libm (the cast truncates toward zero). */
static int32_t unit_floor_to_int(float v) {
  int32_t t = (int32_t)v;
  if ((float)t > v) t -= 1;
  return t;
}

static int32_t unit_ceil_to_int(float v) {
  int32_t t = (int32_t)v;
  if ((float)t < v) t += 1;
  return t;
}

/* std::round (half away from zero) of v >= 0 below 2^24, where v - trunc(v)
 * is exact. */
static int32_t unit_round_nonneg(float v) {
  int32_t t = (int32_t)v;
  if (v - (float)t >= 0.5f) t += 1;
  return t;
}

unit_status_t unit_resize_nearest_index(int32_t input_size,
                                        int32_t output_size,
                                        int32_t align_corners,
                                        int32_t half_pixel_centers,
                                        int32_t *index) {
  int32_t o;
  float scale, offset;
  if (!index || input_size <= 0 || output_size <= 0) return UNIT_ERR_ARG;
  if (input_size > (1L << 20) || output_size > (1L << 20)) return UNIT_ERR_ARG;
  scale = (align_corners && output_size > 1)
              ? (float)(input_size - 1) / (float)(output_size - 1)
              : (float)input_size / (float)output_size;
  offset = half_pixel_centers ? 0.5f : 0.0f;
  for (o = 0; o < output_size; ++o) {
    const float v = ((float)o + offset) * scale; /* >= 0 */
    int32_t value = align_corners ? unit_round_nonneg(v) : unit_floor_to_int(v);
    if (value > input_size - 1) value = input_size - 1;
    if (half_pixel_centers && value < 0) value = 0;
    index[o] = value;
  }
  return UNIT_OK;
}

unit_status_t unit_resize_nearest(const unit_shape_t *input_shape,
                                  int32_t output_h, int32_t output_w,
                                  const int32_t *y_index,
                                  const int32_t *x_index, size_t elem_size,
                                  const void *input, void *output) {
  int32_t b, y, x, unused, dims[4];
  size_t pixel, row, image;
  const uint8_t *in = (const uint8_t *)input;
  uint8_t *out = (uint8_t *)output;
  if (!unit_shape_valid(input_shape, &unused) || !y_index || !x_index ||
      !input || !output || !unit_elem_size_valid(elem_size))
    return UNIT_ERR_ARG;
  dims[0] = input_shape->n, dims[1] = output_h, dims[2] = output_w;
  dims[3] = input_shape->c;
  if (!unit_dims_count(4, dims, &unused)) return UNIT_ERR_ARG;
  for (y = 0; y < output_h; ++y)
    if (y_index[y] < 0 || y_index[y] >= input_shape->h) return UNIT_ERR_SHAPE;
  for (x = 0; x < output_w; ++x)
    if (x_index[x] < 0 || x_index[x] >= input_shape->w) return UNIT_ERR_SHAPE;
  pixel = (size_t)input_shape->c * elem_size;
  row = (size_t)input_shape->w * pixel;
  image = (size_t)input_shape->h * row;
  for (b = 0; b < input_shape->n; ++b, in += image)
    for (y = 0; y < output_h; ++y)
      for (x = 0; x < output_w; ++x, out += pixel)
        unit_copy_bytes(out, in + (size_t)y_index[y] * row + (size_t)x_index[x] * pixel,
               pixel);
  return UNIT_OK;
}

/* ---- RESIZE_BILINEAR ---- */

unit_status_t unit_resize_bilinear_prepare_int8(
    int32_t input_h, int32_t input_w, int32_t output_h, int32_t output_w,
    int32_t align_corners, int32_t half_pixel_centers,
    unit_resize_bilinear_params_t *params) {
  const int32_t one = (int32_t)1 << 10;
  if (!params || input_h <= 0 || input_w <= 0 || output_h <= 0 ||
      output_w <= 0)
    return UNIT_ERR_ARG;
  /* keeps (1 << 10) * size and value * scale_10 inside int32 */
  if (input_h > 16384 || input_w > 16384 || output_h > 16384 ||
      output_w > 16384)
    return UNIT_ERR_ARG;
  if (align_corners && half_pixel_centers) return UNIT_ERR_ARG;
  params->height_scale_10 = (one * input_h + output_h / 2) / output_h;
  params->width_scale_10 = (one * input_w + output_w / 2) / output_w;
  if (align_corners && output_h > 1)
    params->height_scale_10 =
        (one * (input_h - 1) + (output_h - 1) / 2) / (output_h - 1);
  if (align_corners && output_w > 1)
    params->width_scale_10 =
        (one * (input_w - 1) + (output_w - 1) / 2) / (output_w - 1);
  params->half_pixel_centers = half_pixel_centers ? 1 : 0;
  return UNIT_OK;
}

/* ComputeInterpolationValuesInteger: the Q10 source coordinate and its two
 * neighbours (C division truncates toward zero, as in TFLM). */
static void unit_bilinear_coord(int32_t value, int32_t scale_10,
                                int32_t half_pixel, int32_t input_size,
                                int32_t *scaled, int32_t *lo, int32_t *hi) {
  const int32_t one = (int32_t)1 << 10;
  int32_t s = value * scale_10;
  if (half_pixel) s = s + scale_10 / 2 - ((int32_t)1 << 9);
  *scaled = s;
  *lo = s / one > 0 ? s / one : 0;
  *hi = (s + one - 1) / one < input_size - 1 ? (s + one - 1) / one
                                             : input_size - 1;
}

unit_status_t unit_resize_bilinear_int8(
    const unit_resize_bilinear_params_t *params,
    const unit_shape_t *input_shape, const int8_t *input,
    const unit_shape_t *output_shape, int8_t *output) {
  const int32_t one = (int32_t)1 << 10;
  int32_t b, y, x, c, unused;
  size_t pixel, row, image;
  if (!params || !input || !output || !unit_shape_valid(input_shape, &unused) ||
      !unit_shape_valid(output_shape, &unused))
    return UNIT_ERR_ARG;
  if (output_shape->n != input_shape->n || output_shape->c != input_shape->c)
    return UNIT_ERR_SHAPE;
  /* value * scale_10 + scale_10 / 2 must stay inside int32 */
  if (params->height_scale_10 <= 0 || params->width_scale_10 <= 0 ||
      params->height_scale_10 > (int32_t)(UNIT_INT32_LIMIT / (output_shape->h + 1)) ||
      params->width_scale_10 > (int32_t)(UNIT_INT32_LIMIT / (output_shape->w + 1)))
    return UNIT_ERR_ARG;
  {
    /* TFLM does not clamp the lower neighbour from above: refuse scales
     * that would make it read past the input */
    int32_t s, lo, hi;
    unit_bilinear_coord(output_shape->h - 1, params->height_scale_10,
                        params->half_pixel_centers, input_shape->h, &s, &lo, &hi);
    if (lo > input_shape->h - 1) return UNIT_ERR_SHAPE;
    unit_bilinear_coord(output_shape->w - 1, params->width_scale_10,
                        params->half_pixel_centers, input_shape->w, &s, &lo, &hi);
    if (lo > input_shape->w - 1) return UNIT_ERR_SHAPE;
  }
  pixel = (size_t)input_shape->c;
  row = (size_t)input_shape->w * pixel;
  image = (size_t)input_shape->h * row;
  for (b = 0; b < input_shape->n; ++b) {
    const int8_t *in = input + (size_t)b * image;
    for (y = 0; y < output_shape->h; ++y) {
      int32_t in_y, y0, y1, dy, wy0;
      unit_bilinear_coord(y, params->height_scale_10, params->half_pixel_centers,
                          input_shape->h, &in_y, &y0, &y1);
      dy = in_y - one * y0;
      wy0 = one - dy;
      for (x = 0; x < output_shape->w; ++x) {
        int32_t in_x, x0, x1, dx, wx0;
        const int8_t *p00, *p10, *p01, *p11;
        unit_bilinear_coord(x, params->width_scale_10, params->half_pixel_centers,
                            input_shape->w, &in_x, &x0, &x1);
        dx = in_x - one * x0;
        wx0 = one - dx;
        p00 = in + (size_t)y0 * row + (size_t)x0 * pixel;
        p10 = in + (size_t)y1 * row + (size_t)x0 * pixel;
        p01 = in + (size_t)y0 * row + (size_t)x1 * pixel;
        p11 = in + (size_t)y1 * row + (size_t)x1 * pixel;
        for (c = 0; c < input_shape->c; ++c) {
          /* the Q10 x Q10 weights first: each product stays in int32 */
          const int32_t sum = (int32_t)p00[c] * (wy0 * wx0) +
                              (int32_t)p10[c] * (dy * wx0) +
                              (int32_t)p01[c] * (wy0 * dx) +
                              (int32_t)p11[c] * (dy * dx);
          const int32_t round = sum > 0 ? ((int32_t)1 << 19) : -((int32_t)1 << 19);
          *output++ = (int8_t)((sum + round) / ((int32_t)1 << 20));
        }
      }
    }
  }
  return UNIT_OK;
}

/* ComputeInterpolationValues (float). */
static void unit_bilinear_coord_float(int32_t value, float scale,
                                      int32_t half_pixel, int32_t input_size,
                                      float *scaled, int32_t *lo, int32_t *hi) {
  float s;
  int32_t f, c;
  if (half_pixel)
    s = ((float)value + 0.5f) * scale - 0.5f;
  else
    s = (float)value * scale;
  *scaled = s;
  f = unit_floor_to_int(s);
  c = unit_ceil_to_int(s);
  *lo = f > 0 ? f : 0;
  *hi = c < input_size - 1 ? c : input_size - 1;
}

unit_status_t unit_resize_bilinear_float(int32_t align_corners,
                                         int32_t half_pixel_centers,
                                         const unit_shape_t *input_shape,
                                         const float *input,
                                         const unit_shape_t *output_shape,
                                         float *output) {
  int32_t b, y, x, c, unused;
  float height_scale, width_scale;
  size_t row, image;
  if (!input || !output || !unit_shape_valid(input_shape, &unused) ||
      !unit_shape_valid(output_shape, &unused))
    return UNIT_ERR_ARG;
  if (align_corners && half_pixel_centers) return UNIT_ERR_ARG;
  if (output_shape->n != input_shape->n || output_shape->c != input_shape->c)
    return UNIT_ERR_SHAPE;
  height_scale = (float)input_shape->h / (float)output_shape->h;
  width_scale = (float)input_shape->w / (float)output_shape->w;
  if (align_corners && output_shape->h > 1)
    height_scale = (float)(input_shape->h - 1) / (float)(output_shape->h - 1);
  if (align_corners && output_shape->w > 1)
    width_scale = (float)(input_shape->w - 1) / (float)(output_shape->w - 1);
  {
    float s;
    int32_t lo, hi;
    unit_bilinear_coord_float(output_shape->h - 1, height_scale,
                              half_pixel_centers, input_shape->h, &s, &lo, &hi);
    if (lo > input_shape->h - 1) return UNIT_ERR_SHAPE;
    unit_bilinear_coord_float(output_shape->w - 1, width_scale,
                              half_pixel_centers, input_shape->w, &s, &lo, &hi);
    if (lo > input_shape->w - 1) return UNIT_ERR_SHAPE;
  }
  row = (size_t)input_shape->w * (size_t)input_shape->c;
  image = (size_t)input_shape->h * row;
  for (b = 0; b < input_shape->n; ++b) {
    const float *in = input + (size_t)b * image;
    for (y = 0; y < output_shape->h; ++y) {
      float in_y;
      int32_t y0, y1;
      unit_bilinear_coord_float(y, height_scale, half_pixel_centers,
                                input_shape->h, &in_y, &y0, &y1);
      for (x = 0; x < output_shape->w; ++x) {
        float in_x;
        int32_t x0, x1;
        const float *p00, *p10, *p01, *p11;
        unit_bilinear_coord_float(x, width_scale, half_pixel_centers,
                                  input_shape->w, &in_x, &x0, &x1);
        p00 = in + (size_t)y0 * row + (size_t)x0 * (size_t)input_shape->c;
        p10 = in + (size_t)y1 * row + (size_t)x0 * (size_t)input_shape->c;
        p01 = in + (size_t)y0 * row + (size_t)x1 * (size_t)input_shape->c;
        p11 = in + (size_t)y1 * row + (size_t)x1 * (size_t)input_shape->c;
        for (c = 0; c < input_shape->c; ++c) {
          /* TFLM's expression, term by term, left to right */
          const float fy = in_y - (float)y0, fx = in_x - (float)x0;
          float v = p00[c] * (1 - fy) * (1 - fx);
          v = v + p10[c] * fy * (1 - fx);
          v = v + p01[c] * (1 - fy) * fx;
          v = v + p11[c] * fy * fx;
          *output++ = v + 0.0f;
        }
      }
    }
  }
  return UNIT_OK;
}

/* ---- SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND ---- */

unit_status_t unit_space_to_batch_nd(const unit_shape_t *input_shape,
                                     int32_t block_h, int32_t block_w,
                                     int32_t pad_top, int32_t pad_left,
                                     const unit_shape_t *output_shape,
                                     uint8_t pad_value, size_t elem_size,
                                     const void *input, void *output) {
  int32_t ob, oy, ox, unused;
  size_t pixel;
  const uint8_t *in = (const uint8_t *)input;
  uint8_t *out = (uint8_t *)output;
  if (!input || !output || !unit_elem_size_valid(elem_size) ||
      !unit_shape_valid(input_shape, &unused) ||
      !unit_shape_valid(output_shape, &unused))
    return UNIT_ERR_ARG;
  if (block_h <= 0 || block_w <= 0 || pad_top < 0 || pad_left < 0)
    return UNIT_ERR_ARG;
  if (output_shape->c != input_shape->c ||
      output_shape->n / block_h / block_w != input_shape->n ||
      output_shape->n % (block_h * block_w) != 0 ||
      (int32_t)output_shape->h * block_h < pad_top + input_shape->h ||
      (int32_t)output_shape->w * block_w < pad_left + input_shape->w)
    return UNIT_ERR_SHAPE;
  pixel = (size_t)input_shape->c * elem_size;
  for (ob = 0; ob < output_shape->n; ++ob) {
    const int32_t ib = ob % input_shape->n;
    const int32_t shift_w = (ob / input_shape->n) % block_w;
    const int32_t shift_h = (ob / input_shape->n) / block_w;
    for (oy = 0; oy < output_shape->h; ++oy) {
      const int32_t iy = oy * block_h + shift_h - pad_top;
      for (ox = 0; ox < output_shape->w; ++ox, out += pixel) {
        const int32_t ix = ox * block_w + shift_w - pad_left;
        if (iy < 0 || iy >= input_shape->h || ix < 0 || ix >= input_shape->w) {
          unit_fill_bytes(out, pad_value, pixel);
        } else {
          const size_t at = (((size_t)ib * (size_t)input_shape->h + (size_t)iy) *
                                 (size_t)input_shape->w + (size_t)ix) * pixel;
          unit_copy_bytes(out, in + at, pixel);
        }
      }
    }
  }
  return UNIT_OK;
}

unit_status_t unit_batch_to_space_nd(const unit_shape_t *input_shape,
                                     int32_t block_h, int32_t block_w,
                                     int32_t crop_top, int32_t crop_left,
                                     const unit_shape_t *output_shape,
                                     size_t elem_size, const void *input,
                                     void *output) {
  int32_t ib, iy, ix, unused;
  size_t pixel;
  const uint8_t *in = (const uint8_t *)input;
  uint8_t *out = (uint8_t *)output;
  if (!input || !output || !unit_elem_size_valid(elem_size) ||
      !unit_shape_valid(input_shape, &unused) ||
      !unit_shape_valid(output_shape, &unused))
    return UNIT_ERR_ARG;
  if (block_h <= 0 || block_w <= 0 || crop_top < 0 || crop_left < 0)
    return UNIT_ERR_ARG;
  if (output_shape->c != input_shape->c ||
      input_shape->n / block_h / block_w != output_shape->n ||
      input_shape->n % (block_h * block_w) != 0)
    return UNIT_ERR_SHAPE;
  pixel = (size_t)input_shape->c * elem_size;
  for (ib = 0; ib < input_shape->n; ++ib) {
    const int32_t ob = ib % output_shape->n;
    const int32_t spatial = ib / output_shape->n;
    for (iy = 0; iy < input_shape->h; ++iy) {
      const int32_t oy = iy * block_h + spatial / block_w - crop_top;
      if (oy < 0 || oy >= output_shape->h) continue;
      for (ix = 0; ix < input_shape->w; ++ix) {
        const int32_t ox = ix * block_w + spatial % block_w - crop_left;
        size_t to, from;
        if (ox < 0 || ox >= output_shape->w) continue;
        to = (((size_t)ob * (size_t)output_shape->h + (size_t)oy) *
                  (size_t)output_shape->w + (size_t)ox) * pixel;
        from = (((size_t)ib * (size_t)input_shape->h + (size_t)iy) *
                    (size_t)input_shape->w + (size_t)ix) * pixel;
        unit_copy_bytes(out + to, in + from, pixel);
      }
    }
  }
  return UNIT_OK;
}
