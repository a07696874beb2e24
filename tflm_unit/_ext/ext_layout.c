/* Bindings of the layout / geometry ops and TRANSPOSE_CONV of
 * custom_ops/core/unit_layout.h.  The typed wrappers are in
 * tflm_unit/core/layout_ops.py; here every buffer is checked against the
 * element count its shape implies before the core runs. */
#include "ext_common.h"
#include "unit_layout.h"

/* Product of n positive dims, or -1 with ValueError. */
static Py_ssize_t lay_count(const int32_t *dims, Py_ssize_t n,
                            const char *name) {
  Py_ssize_t i, total = 1;
  for (i = 0; i < n; ++i) {
    if (dims[i] <= 0 || total > INT32_MAX / dims[i]) {
      PyErr_Format(PyExc_ValueError,
                   "'%s' dims must be positive with at most 2^31 elements",
                   name);
      return -1;
    }
    total *= dims[i];
  }
  return total;
}

/* A 4-int NHWC shape; its element count, or -1 with an exception. */
static Py_ssize_t lay_shape(PyObject *obj, unit_shape_t *s, const char *name) {
  int32_t d[4];
  Py_ssize_t n = ext_int32_sequence(obj, d, 4, name);
  if (n < 0) return -1;
  if (n != 4) {
    PyErr_Format(PyExc_ValueError, "'%s' needs 4 dims (NHWC)", name);
    return -1;
  }
  s->n = d[0], s->h = d[1], s->w = d[2], s->c = d[3];
  return lay_count(d, 4, name);
}

static int lay_elem_size(int elem_size) {
  if (elem_size == 1 || elem_size == 2 || elem_size == 4) return 0;
  PyErr_SetString(PyExc_ValueError, "elem_size must be 1, 2 or 4");
  return -1;
}

static PyObject *lay_tuple(const int32_t *v, Py_ssize_t n) {
  Py_ssize_t i;
  PyObject *t = PyTuple_New(n);
  if (!t) return NULL;
  for (i = 0; i < n; ++i) {
    PyObject *item = PyLong_FromLong((long)v[i]);
    if (!item) {
      Py_DECREF(t);
      return NULL;
    }
    PyTuple_SET_ITEM(t, i, item);
  }
  return t;
}

/* ---- STRIDED_SLICE ---- */

/* strided_slice_prepare(dims, begin, end, strides, begin_mask, end_mask,
 *   shrink_mask) -> (start, stop, stride, output_count) */
static PyObject *lay_strided_slice_prepare(PyObject *self, PyObject *args) {
  PyObject *dims_o, *begin_o, *end_o, *strides_o;
  int begin_mask, end_mask, shrink_mask;
  int32_t dims[UNIT_SLICE_MAX_DIMS], begin[UNIT_SLICE_MAX_DIMS],
      end[UNIT_SLICE_MAX_DIMS], strides[UNIT_SLICE_MAX_DIMS], count;
  Py_ssize_t n;
  unit_slice_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "OOOOiii", &dims_o, &begin_o, &end_o, &strides_o,
                        &begin_mask, &end_mask, &shrink_mask))
    return NULL;
  if ((n = ext_int32_sequence(dims_o, dims, UNIT_SLICE_MAX_DIMS, "input_dims")) < 0)
    return NULL;
  if (ext_int32_sequence(begin_o, begin, UNIT_SLICE_MAX_DIMS, "begin") != n ||
      ext_int32_sequence(end_o, end, UNIT_SLICE_MAX_DIMS, "end") != n ||
      ext_int32_sequence(strides_o, strides, UNIT_SLICE_MAX_DIMS, "strides") != n) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_ValueError,
                      "strided_slice: begin, end and strides need one entry "
                      "per input dim");
    return NULL;
  }
  status = unit_strided_slice_prepare((int32_t)n, dims, begin, end, strides,
                                      begin_mask, end_mask, shrink_mask, &p,
                                      &count);
  if (status != UNIT_OK) return ext_status_error(status, "strided_slice_prepare");
  return Py_BuildValue("NNNi", lay_tuple(p.start, n), lay_tuple(p.stop, n),
                       lay_tuple(p.stride, n), (int)count);
}

/* strided_slice(dims, start, stop, stride, elem_size, input, output,
 *   output_count) */
static PyObject *lay_strided_slice(PyObject *self, PyObject *args) {
  PyObject *dims_o, *start_o, *stop_o, *stride_o;
  int elem_size, output_count;
  Py_buffer in, out;
  int32_t dims[UNIT_SLICE_MAX_DIMS];
  Py_ssize_t n, in_count;
  unit_slice_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "OOOOiy*w*i", &dims_o, &start_o, &stop_o,
                        &stride_o, &elem_size, &in, &out, &output_count))
    return NULL;
  if (lay_elem_size(elem_size) < 0 ||
      (n = ext_int32_sequence(dims_o, dims, UNIT_SLICE_MAX_DIMS, "input_dims")) < 0 ||
      ext_int32_sequence(start_o, p.start, UNIT_SLICE_MAX_DIMS, "start") != n ||
      ext_int32_sequence(stop_o, p.stop, UNIT_SLICE_MAX_DIMS, "stop") != n ||
      ext_int32_sequence(stride_o, p.stride, UNIT_SLICE_MAX_DIMS, "stride") != n ||
      (in_count = lay_count(dims, n, "input_dims")) < 0 ||
      ext_check_buffer(&in, in_count, elem_size, "input") < 0 ||
      ext_check_buffer(&out, output_count, elem_size, "output") < 0)
    goto fail;
  p.num_dims = (int32_t)n;
  {
    /* the output must hold exactly what the slice yields */
    int32_t k, count = 1;
    for (k = 0; k < (int32_t)n; ++k) {
      const int32_t s = p.stride[k];
      int32_t len = 0;
      if (s > 0 && p.stop[k] > p.start[k])
        len = (p.stop[k] - p.start[k] + s - 1) / s;
      else if (s < 0 && p.start[k] > p.stop[k])
        len = (p.start[k] - p.stop[k] - s - 1) / -s;
      count *= len;
    }
    if (count != output_count) {
      PyErr_Format(PyExc_ValueError,
                   "strided_slice: the slice has %d elements, output_count %d",
                   (int)count, output_count);
      goto fail;
    }
  }
  status = unit_strided_slice(&p, dims, (size_t)elem_size, in.buf, out.buf);
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "strided_slice");
  Py_RETURN_NONE;
fail:
  if (!PyErr_Occurred())
    PyErr_SetString(PyExc_ValueError,
                    "strided_slice: start, stop and stride need one entry per "
                    "input dim");
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  return NULL;
}

/* ---- SPLIT ---- */

#define LAY_MAX_SPLITS 64

/* split(outer, axis_size, inner, sizes, elem_size, input, outputs) */
static PyObject *lay_split(PyObject *self, PyObject *args) {
  int outer, axis_size, inner, elem_size;
  PyObject *sizes_o, *outputs_o, *seq = NULL;
  Py_buffer in, views[LAY_MAX_SPLITS];
  void *ptrs[LAY_MAX_SPLITS];
  int32_t sizes[LAY_MAX_SPLITS], dims[3];
  Py_ssize_t n, i, acquired = 0;
  unit_status_t status;
  PyObject *result = NULL;
  if (!PyArg_ParseTuple(args, "iiiOiy*O", &outer, &axis_size, &inner, &sizes_o,
                        &elem_size, &in, &outputs_o))
    return NULL;
  dims[0] = outer, dims[1] = axis_size, dims[2] = inner;
  if (lay_elem_size(elem_size) < 0 ||
      (n = ext_int32_sequence(sizes_o, sizes, LAY_MAX_SPLITS, "sizes")) < 0 ||
      lay_count(dims, 3, "outer/axis/inner") < 0 ||
      ext_check_buffer(&in, (Py_ssize_t)outer * axis_size * inner, elem_size,
                       "input") < 0)
    goto done;
  seq = PySequence_Fast(outputs_o, "outputs must be a sequence of buffers");
  if (!seq) goto done;
  if (PySequence_Fast_GET_SIZE(seq) != n || n == 0) {
    PyErr_SetString(PyExc_ValueError, "split: one output buffer per size");
    goto done;
  }
  for (i = 0; i < n; ++i) {
    if (sizes[i] <= 0) {
      PyErr_SetString(PyExc_ValueError, "split: sizes must be positive");
      goto done;
    }
    if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &views[i],
                           PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
      goto done;
    acquired++;
    if (ext_check_buffer(&views[i], (Py_ssize_t)outer * sizes[i] * inner,
                         elem_size, "output") < 0)
      goto done;
    ptrs[i] = views[i].buf;
  }
  status = unit_split(outer, axis_size, inner, (int32_t)n, sizes,
                      (size_t)elem_size, in.buf, ptrs);
  if (status != UNIT_OK) {
    ext_status_error(status, "split");
    goto done;
  }
  Py_INCREF(Py_None);
  result = Py_None;
done:
  for (i = 0; i < acquired; ++i) PyBuffer_Release(&views[i]);
  Py_XDECREF(seq);
  PyBuffer_Release(&in);
  return result;
}

/* ---- TRANSPOSE ---- */

/* transpose(dims, perm, elem_size, input, output) */
static PyObject *lay_transpose(PyObject *self, PyObject *args) {
  PyObject *dims_o, *perm_o;
  int elem_size;
  Py_buffer in, out;
  int32_t dims[UNIT_TRANSPOSE_MAX_DIMS], perm[UNIT_TRANSPOSE_MAX_DIMS];
  Py_ssize_t n, count;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "OOiy*w*", &dims_o, &perm_o, &elem_size, &in,
                        &out))
    return NULL;
  if (lay_elem_size(elem_size) < 0 ||
      (n = ext_int32_sequence(dims_o, dims, UNIT_TRANSPOSE_MAX_DIMS, "input_dims")) < 0 ||
      ext_int32_sequence(perm_o, perm, UNIT_TRANSPOSE_MAX_DIMS, "perm") != n ||
      (count = lay_count(dims, n, "input_dims")) < 0 ||
      ext_check_buffer(&in, count, elem_size, "input") < 0 ||
      ext_check_buffer(&out, count, elem_size, "output") < 0) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_ValueError, "transpose: perm needs one entry per dim");
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  status = unit_transpose((int32_t)n, dims, perm, (size_t)elem_size, in.buf,
                          out.buf);
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "transpose");
  Py_RETURN_NONE;
}

/* ---- RESIZE_NEAREST_NEIGHBOR ---- */

/* resize_nearest_index(input_size, output_size, align_corners,
 *   half_pixel_centers, index_int32_out) */
static PyObject *lay_resize_nearest_index(PyObject *self, PyObject *args) {
  int in_size, out_size, align, half;
  Py_buffer index;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "iiiiw*", &in_size, &out_size, &align, &half,
                        &index))
    return NULL;
  if (out_size <= 0 || ext_check_buffer(&index, out_size, 4, "index") < 0) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_ValueError, "resize_nearest_index: bad output size");
    PyBuffer_Release(&index);
    return NULL;
  }
  status = unit_resize_nearest_index(in_size, out_size, align, half,
                                     (int32_t *)index.buf);
  PyBuffer_Release(&index);
  if (status != UNIT_OK) return ext_status_error(status, "resize_nearest_index");
  Py_RETURN_NONE;
}

/* resize_nearest(input_shape, out_h, out_w, y_index, x_index, elem_size,
 *   input, output) */
static PyObject *lay_resize_nearest(PyObject *self, PyObject *args) {
  PyObject *shape_o;
  int out_h, out_w, elem_size;
  Py_buffer yi, xi, in, out;
  unit_shape_t s;
  Py_ssize_t count;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "Oiiy*y*iy*w*", &shape_o, &out_h, &out_w, &yi,
                        &xi, &elem_size, &in, &out))
    return NULL;
  if (lay_elem_size(elem_size) < 0 ||
      (count = lay_shape(shape_o, &s, "input_shape")) < 0 || out_h <= 0 ||
      out_w <= 0 || ext_check_buffer(&yi, out_h, 4, "y_index") < 0 ||
      ext_check_buffer(&xi, out_w, 4, "x_index") < 0 ||
      ext_check_buffer(&in, count, elem_size, "input") < 0 ||
      ext_check_buffer(&out, (Py_ssize_t)s.n * out_h * out_w * s.c, elem_size,
                       "output") < 0) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_ValueError, "resize_nearest: bad output size");
    PyBuffer_Release(&yi);
    PyBuffer_Release(&xi);
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  status = unit_resize_nearest(&s, out_h, out_w, (const int32_t *)yi.buf,
                               (const int32_t *)xi.buf, (size_t)elem_size,
                               in.buf, out.buf);
  PyBuffer_Release(&yi);
  PyBuffer_Release(&xi);
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "resize_nearest");
  Py_RETURN_NONE;
}

/* ---- RESIZE_BILINEAR ---- */

static PyObject *lay_resize_bilinear_prepare_int8(PyObject *self,
                                                  PyObject *args) {
  int ih, iw, oh, ow, align, half;
  unit_resize_bilinear_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "iiiiii", &ih, &iw, &oh, &ow, &align, &half))
    return NULL;
  status = unit_resize_bilinear_prepare_int8(ih, iw, oh, ow, align, half, &p);
  if (status != UNIT_OK)
    return ext_status_error(status, "resize_bilinear_prepare_int8");
  return Py_BuildValue("iii", (int)p.height_scale_10, (int)p.width_scale_10,
                       (int)p.half_pixel_centers);
}

/* resize_bilinear_int8((h10, w10, half), input_shape, input, output_shape,
 *   output) */
static PyObject *lay_resize_bilinear_int8(PyObject *self, PyObject *args) {
  int h10, w10, half;
  PyObject *is_o, *os_o;
  Py_buffer in, out;
  unit_shape_t is, os;
  Py_ssize_t ic, oc;
  unit_resize_bilinear_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "(iii)Oy*Ow*", &h10, &w10, &half, &is_o, &in,
                        &os_o, &out))
    return NULL;
  if ((ic = lay_shape(is_o, &is, "input_shape")) < 0 ||
      (oc = lay_shape(os_o, &os, "output_shape")) < 0 ||
      ext_check_buffer(&in, ic, 1, "input") < 0 ||
      ext_check_buffer(&out, oc, 1, "output") < 0) {
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  p.height_scale_10 = h10, p.width_scale_10 = w10, p.half_pixel_centers = half;
  status = unit_resize_bilinear_int8(&p, &is, (const int8_t *)in.buf, &os,
                                     (int8_t *)out.buf);
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "resize_bilinear_int8");
  Py_RETURN_NONE;
}

/* resize_bilinear_float(align, half, input_shape, input, output_shape,
 *   output) */
static PyObject *lay_resize_bilinear_float(PyObject *self, PyObject *args) {
  int align, half;
  PyObject *is_o, *os_o;
  Py_buffer in, out;
  unit_shape_t is, os;
  Py_ssize_t ic, oc;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "iiOy*Ow*", &align, &half, &is_o, &in, &os_o,
                        &out))
    return NULL;
  if ((ic = lay_shape(is_o, &is, "input_shape")) < 0 ||
      (oc = lay_shape(os_o, &os, "output_shape")) < 0 ||
      ext_check_buffer(&in, ic, 4, "input") < 0 ||
      ext_check_buffer(&out, oc, 4, "output") < 0) {
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  status = unit_resize_bilinear_float(align, half, &is, (const float *)in.buf,
                                      &os, (float *)out.buf);
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK)
    return ext_status_error(status, "resize_bilinear_float");
  Py_RETURN_NONE;
}

/* ---- SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND ---- */

/* space_to_batch_nd(input_shape, block_h, block_w, pad_top, pad_left,
 *   output_shape, pad_value_byte, elem_size, input, output); with
 * to_space = 1 the inverse (pads read as crops, pad_value unused). */
static PyObject *lay_space_batch(PyObject *args, int to_space) {
  PyObject *is_o, *os_o;
  int bh, bw, top, left, pad_value, elem_size;
  Py_buffer in, out;
  unit_shape_t is, os;
  Py_ssize_t ic, oc;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "OiiiiOiiy*w*", &is_o, &bh, &bw, &top, &left,
                        &os_o, &pad_value, &elem_size, &in, &out))
    return NULL;
  if (lay_elem_size(elem_size) < 0 ||
      (ic = lay_shape(is_o, &is, "input_shape")) < 0 ||
      (oc = lay_shape(os_o, &os, "output_shape")) < 0 ||
      ext_check_buffer(&in, ic, elem_size, "input") < 0 ||
      ext_check_buffer(&out, oc, elem_size, "output") < 0) {
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  if (to_space)
    status = unit_batch_to_space_nd(&is, bh, bw, top, left, &os,
                                    (size_t)elem_size, in.buf, out.buf);
  else
    status = unit_space_to_batch_nd(&is, bh, bw, top, left, &os,
                                    (uint8_t)(pad_value & 0xff),
                                    (size_t)elem_size, in.buf, out.buf);
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK)
    return ext_status_error(status,
                            to_space ? "batch_to_space_nd" : "space_to_batch_nd");
  Py_RETURN_NONE;
}

static PyObject *lay_space_to_batch_nd(PyObject *self, PyObject *args) {
  return lay_space_batch(args, 0);
}

static PyObject *lay_batch_to_space_nd(PyObject *self, PyObject *args) {
  return lay_space_batch(args, 1);
}

/* ---- TRANSPOSE_CONV ---- */

static PyObject *lay_transpose_conv_padding(PyObject *self, PyObject *args) {
  int padding, stride, out_size, filter_size;
  if (!PyArg_ParseTuple(args, "iiii", &padding, &stride, &out_size,
                        &filter_size))
    return NULL;
  if ((padding != UNIT_PADDING_SAME && padding != UNIT_PADDING_VALID) ||
      stride <= 0 || out_size <= 0 || filter_size <= 0) {
    PyErr_SetString(PyExc_ValueError, "transpose_conv_padding: bad argument");
    return NULL;
  }
  return PyLong_FromLong((long)unit_transpose_conv_padding(
      (unit_padding_t)padding, stride, out_size, filter_size));
}

/* Shared buffer handling of the two transpose-conv bindings. */
typedef struct {
  Py_buffer in, filter, bias, mult, shift, out, channel;
  int have_bias, have_mult, have_channel;
} lay_tc_buffers_t;

static void lay_tc_release(lay_tc_buffers_t *b) {
  PyBuffer_Release(&b->in);
  PyBuffer_Release(&b->filter);
  PyBuffer_Release(&b->out);
  if (b->have_bias) PyBuffer_Release(&b->bias);
  if (b->have_mult) {
    PyBuffer_Release(&b->mult);
    PyBuffer_Release(&b->shift);
  }
  if (b->have_channel) PyBuffer_Release(&b->channel);
}

static int lay_optional_buffer(PyObject *obj, Py_buffer *view, int *have,
                               int writable) {
  *have = 0;
  if (obj == Py_None) return 0;
  if (PyObject_GetBuffer(obj, view,
                         (writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) |
                             PyBUF_C_CONTIGUOUS) < 0)
    return -1;
  *have = 1;
  return 0;
}

/* transpose_conv_int8((stride_h, stride_w, pad_h, pad_w, input_offset,
 *   output_offset, act_min, act_max), input, input_shape, filter,
 *   filter_shape, bias|None, multiplier, shift, output, output_shape,
 *   channel_executed|None) -> (macs_total, macs_executed) */
static PyObject *lay_transpose_conv_int8(PyObject *self, PyObject *args) {
  int v[8];
  PyObject *is_o, *fs_o, *os_o, *bias_o, *mult_o, *shift_o, *channel_o;
  lay_tc_buffers_t b;
  unit_shape_t is, fs, os;
  Py_ssize_t ic, fc, oc;
  unit_transpose_conv_params_t p;
  unit_requant_t requant;
  unit_stats_t stats = {0, 0, NULL};
  void *scratch;
  size_t scratch_bytes;
  unit_status_t status;
  memset(&b, 0, sizeof b);
  if (!PyArg_ParseTuple(args, "(iiiiiiii)y*Oy*OOOOw*OO", &v[0], &v[1], &v[2],
                        &v[3], &v[4], &v[5], &v[6], &v[7], &b.in, &is_o,
                        &b.filter, &fs_o, &bias_o, &mult_o, &shift_o, &b.out,
                        &os_o, &channel_o))
    return NULL;
  if (lay_optional_buffer(bias_o, &b.bias, &b.have_bias, 0) < 0 ||
      lay_optional_buffer(channel_o, &b.channel, &b.have_channel, 1) < 0)
    goto fail;
  if (PyObject_GetBuffer(mult_o, &b.mult, PyBUF_C_CONTIGUOUS) < 0) goto fail;
  if (PyObject_GetBuffer(shift_o, &b.shift, PyBUF_C_CONTIGUOUS) < 0) {
    PyBuffer_Release(&b.mult);
    goto fail;
  }
  b.have_mult = 1;
  if ((ic = lay_shape(is_o, &is, "input_shape")) < 0 ||
      (fc = lay_shape(fs_o, &fs, "filter_shape")) < 0 ||
      (oc = lay_shape(os_o, &os, "output_shape")) < 0 ||
      ext_check_buffer(&b.in, ic, 1, "input") < 0 ||
      ext_check_buffer(&b.filter, fc, 1, "filter") < 0 ||
      ext_check_buffer(&b.out, oc, 1, "output") < 0 ||
      ext_check_buffer(&b.mult, os.c, 4, "multiplier") < 0 ||
      ext_check_buffer(&b.shift, os.c, 4, "shift") < 0 ||
      (b.have_bias && ext_check_buffer(&b.bias, os.c, 4, "bias") < 0) ||
      (b.have_channel &&
       ext_check_buffer(&b.channel, os.c, 8, "channel_executed") < 0))
    goto fail;
  p.stride_h = v[0], p.stride_w = v[1], p.pad_h = v[2], p.pad_w = v[3];
  p.input_offset = v[4], p.output_offset = v[5], p.act_min = v[6];
  p.act_max = v[7];
  requant.multiplier = (const int32_t *)b.mult.buf;
  requant.shift = (const int32_t *)b.shift.buf;
  stats.channel_executed = b.have_channel ? (uint64_t *)b.channel.buf : NULL;
  scratch_bytes = unit_transpose_conv_scratch_bytes(&os);
  scratch = PyMem_Malloc(scratch_bytes ? scratch_bytes : 4);
  if (!scratch) {
    PyErr_NoMemory();
    goto fail;
  }
  status = unit_transpose_conv_int8(
      &p, &requant, &is, (const int8_t *)b.in.buf, &fs,
      (const int8_t *)b.filter.buf,
      b.have_bias ? (const int32_t *)b.bias.buf : NULL, &os,
      (int8_t *)b.out.buf, scratch, scratch_bytes, &stats);
  PyMem_Free(scratch);
  lay_tc_release(&b);
  if (status != UNIT_OK) return ext_status_error(status, "transpose_conv_int8");
  return Py_BuildValue("KK", (unsigned long long)stats.macs_total,
                       (unsigned long long)stats.macs_executed);
fail:
  lay_tc_release(&b);
  return NULL;
}

/* transpose_conv_float((stride_h, stride_w, pad_h, pad_w, act_min, act_max),
 *   input, input_shape, filter, filter_shape, bias|None, output,
 *   output_shape, channel_executed|None) -> (macs_total, macs_executed) */
static PyObject *lay_transpose_conv_float(PyObject *self, PyObject *args) {
  int v[4];
  float lo, hi;
  PyObject *is_o, *fs_o, *os_o, *bias_o, *channel_o;
  lay_tc_buffers_t b;
  unit_shape_t is, fs, os;
  Py_ssize_t ic, fc, oc;
  unit_transpose_conv_float_params_t p;
  unit_stats_t stats = {0, 0, NULL};
  unit_status_t status;
  memset(&b, 0, sizeof b);
  if (!PyArg_ParseTuple(args, "(iiiiff)y*Oy*OOw*OO", &v[0], &v[1], &v[2], &v[3],
                        &lo, &hi, &b.in, &is_o, &b.filter, &fs_o, &bias_o,
                        &b.out, &os_o, &channel_o))
    return NULL;
  if (lay_optional_buffer(bias_o, &b.bias, &b.have_bias, 0) < 0 ||
      lay_optional_buffer(channel_o, &b.channel, &b.have_channel, 1) < 0)
    goto fail;
  if ((ic = lay_shape(is_o, &is, "input_shape")) < 0 ||
      (fc = lay_shape(fs_o, &fs, "filter_shape")) < 0 ||
      (oc = lay_shape(os_o, &os, "output_shape")) < 0 ||
      ext_check_buffer(&b.in, ic, 4, "input") < 0 ||
      ext_check_buffer(&b.filter, fc, 4, "filter") < 0 ||
      ext_check_buffer(&b.out, oc, 4, "output") < 0 ||
      (b.have_bias && ext_check_buffer(&b.bias, os.c, 4, "bias") < 0) ||
      (b.have_channel &&
       ext_check_buffer(&b.channel, os.c, 8, "channel_executed") < 0))
    goto fail;
  p.stride_h = v[0], p.stride_w = v[1], p.pad_h = v[2], p.pad_w = v[3];
  p.act_min = lo, p.act_max = hi;
  stats.channel_executed = b.have_channel ? (uint64_t *)b.channel.buf : NULL;
  status = unit_transpose_conv_float(
      &p, &is, (const float *)b.in.buf, &fs, (const float *)b.filter.buf,
      b.have_bias ? (const float *)b.bias.buf : NULL, &os, (float *)b.out.buf,
      &stats);
  lay_tc_release(&b);
  if (status != UNIT_OK) return ext_status_error(status, "transpose_conv_float");
  return Py_BuildValue("KK", (unsigned long long)stats.macs_total,
                       (unsigned long long)stats.macs_executed);
fail:
  lay_tc_release(&b);
  return NULL;
}

PyMethodDef ext_layout_methods[] = {
    {"strided_slice_prepare", lay_strided_slice_prepare, METH_VARARGS,
     "strided_slice_prepare(dims, begin, end, strides, begin_mask, end_mask, "
     "shrink_mask) -> (start, stop, stride, count)"},
    {"strided_slice", lay_strided_slice, METH_VARARGS,
     "strided_slice(dims, start, stop, stride, elem_size, input, output, "
     "output_count)"},
    {"split", lay_split, METH_VARARGS,
     "split(outer, axis_size, inner, sizes, elem_size, input, outputs)"},
    {"transpose", lay_transpose, METH_VARARGS,
     "transpose(dims, perm, elem_size, input, output)"},
    {"resize_nearest_index", lay_resize_nearest_index, METH_VARARGS,
     "resize_nearest_index(in_size, out_size, align_corners, "
     "half_pixel_centers, index_out)"},
    {"resize_nearest", lay_resize_nearest, METH_VARARGS,
     "resize_nearest(input_shape, out_h, out_w, y_index, x_index, elem_size, "
     "input, output)"},
    {"resize_bilinear_prepare_int8", lay_resize_bilinear_prepare_int8,
     METH_VARARGS,
     "resize_bilinear_prepare_int8(in_h, in_w, out_h, out_w, align_corners, "
     "half_pixel_centers) -> (h_scale_10, w_scale_10, half_pixel_centers)"},
    {"resize_bilinear_int8", lay_resize_bilinear_int8, METH_VARARGS,
     "resize_bilinear_int8(params, input_shape, input, output_shape, output)"},
    {"resize_bilinear_float", lay_resize_bilinear_float, METH_VARARGS,
     "resize_bilinear_float(align_corners, half_pixel_centers, input_shape, "
     "input, output_shape, output)"},
    {"space_to_batch_nd", lay_space_to_batch_nd, METH_VARARGS,
     "space_to_batch_nd(input_shape, block_h, block_w, pad_top, pad_left, "
     "output_shape, pad_value, elem_size, input, output)"},
    {"batch_to_space_nd", lay_batch_to_space_nd, METH_VARARGS,
     "batch_to_space_nd(input_shape, block_h, block_w, crop_top, crop_left, "
     "output_shape, unused, elem_size, input, output)"},
    {"transpose_conv_padding", lay_transpose_conv_padding, METH_VARARGS,
     "transpose_conv_padding(padding, stride, output_size, filter_size) -> pad"},
    {"transpose_conv_int8", lay_transpose_conv_int8, METH_VARARGS,
     "transpose_conv_int8(params, input, input_shape, filter, filter_shape, "
     "bias, multiplier, shift, output, output_shape, channel_executed) -> "
     "(macs_total, macs_executed)"},
    {"transpose_conv_float", lay_transpose_conv_float, METH_VARARGS,
     "transpose_conv_float(params, input, input_shape, filter, filter_shape, "
     "bias, output, output_shape, channel_executed) -> (macs_total, "
     "macs_executed)"},
    {NULL, NULL, 0, NULL}};
