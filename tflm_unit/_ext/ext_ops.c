/* Bindings of the non-UnIT int8 ops (pooling, add, softmax, mean, pad,
 * concatenation, quantize, dequantize) of custom_ops/core/unit_ops.h, and
 * the float32 pooling / add / softmax / mean (unit_ops_float.c).
 *
 * Parameters travel as tuples of ints in the order of the C structs; the
 * typed wrappers in tflm_unit/core/ops.py build them.  Every buffer is checked
 * against the element count the shapes imply before the core runs. */
#include "ext_common.h"
#include "unit_ops.h"

/* Reads a sequence of Python ints into `out`; returns the count, or -1 with
 * an exception set (not a sequence, too long, not ints, out of int32). */
Py_ssize_t ext_int32_sequence(PyObject *obj, int32_t *out, Py_ssize_t max_count,
                              const char *name) {
  Py_ssize_t i, count;
  PyObject *seq = PySequence_Fast(obj, "expected a sequence");
  if (seq == NULL) {
    PyErr_Format(ext_argument_error, "'%s' must be a sequence of ints", name);
    return -1;
  }
  count = PySequence_Fast_GET_SIZE(seq);
  if (count > max_count) {
    Py_DECREF(seq);
    PyErr_Format(ext_argument_error, "'%s' has %zd entries, at most %zd allowed",
                 name, count, max_count);
    return -1;
  }
  for (i = 0; i < count; ++i) {
    long value = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
    if (value == -1 && PyErr_Occurred()) {
      Py_DECREF(seq);
      PyErr_Format(ext_argument_error, "'%s' must hold ints", name);
      return -1;
    }
    if (value < INT32_MIN || value > INT32_MAX) {
      Py_DECREF(seq);
      PyErr_Format(ext_argument_error, "'%s' entry %zd out of int32 range",
                   name, i);
      return -1;
    }
    out[i] = (int32_t)value;
  }
  Py_DECREF(seq);
  return count;
}

/* Exactly `count` ints. */
int ext_int32_exact(PyObject *obj, int32_t *out, Py_ssize_t count,
                           const char *name) {
  Py_ssize_t got = ext_int32_sequence(obj, out, count, name);
  if (got < 0) return -1;
  if (got != count) {
    PyErr_Format(ext_argument_error, "'%s' needs %zd ints, got %zd", name, count,
                 got);
    return -1;
  }
  return 0;
}

PyObject *ext_int32_tuple(const int32_t *values, Py_ssize_t count) {
  Py_ssize_t i;
  PyObject *tuple = PyTuple_New(count);
  if (tuple == NULL) return NULL;
  for (i = 0; i < count; ++i) {
    PyObject *item = PyLong_FromLong((long)values[i]);
    if (item == NULL) {
      Py_DECREF(tuple);
      return NULL;
    }
    PyTuple_SET_ITEM(tuple, i, item);
  }
  return tuple;
}

static int ext_shape(PyObject *obj, unit_shape_t *shape, const char *name) {
  int32_t dims[4];
  if (ext_int32_exact(obj, dims, 4, name) < 0) return -1;
  if (dims[0] <= 0 || dims[1] <= 0 || dims[2] <= 0 || dims[3] <= 0) {
    PyErr_Format(ext_argument_error, "'%s' dims must be positive", name);
    return -1;
  }
  shape->n = dims[0];
  shape->h = dims[1];
  shape->w = dims[2];
  shape->c = dims[3];
  return 0;
}

/* Product of positive dims as Py_ssize_t, or -1 with ValueError. */
Py_ssize_t ext_element_count(const int32_t *dims, Py_ssize_t num_dims,
                                    const char *name) {
  Py_ssize_t i, total = 1;
  for (i = 0; i < num_dims; ++i) {
    if (dims[i] <= 0) {
      PyErr_Format(ext_argument_error, "'%s' dims must be positive", name);
      return -1;
    }
    if (total > INT32_MAX / dims[i]) {
      PyErr_Format(ext_argument_error, "'%s' has too many elements", name);
      return -1;
    }
    total *= dims[i];
  }
  return total;
}

static Py_ssize_t ext_shape_count(const unit_shape_t *s, const char *name) {
  int32_t dims[4];
  dims[0] = s->n;
  dims[1] = s->h;
  dims[2] = s->w;
  dims[3] = s->c;
  return ext_element_count(dims, 4, name);
}

/* ---- pooling ---- */

static void ext_pool_from_array(const int32_t *v, unit_pool_params_t *p) {
  p->filter_h = v[0];
  p->filter_w = v[1];
  p->stride_h = v[2];
  p->stride_w = v[3];
  p->pad_h = v[4];
  p->pad_w = v[5];
  p->act_min = v[6];
  p->act_max = v[7];
}

static PyObject *ext_pool_prepare_int8(PyObject *self, PyObject *args) {
  int padding, filter_h, filter_w, stride_h, stride_w, activation, zero_point;
  float scale;
  PyObject *shape_obj;
  unit_shape_t input_shape, output_shape;
  unit_pool_params_t p;
  unit_status_t status;
  int32_t values[8], out_dims[4];
  PyObject *params_tuple, *shape_tuple;
  if (!PyArg_ParseTuple(args, "iiiiiOifi", &padding, &filter_h, &filter_w,
                        &stride_h, &stride_w, &shape_obj, &activation, &scale,
                        &zero_point))
    return NULL;
  if (ext_shape(shape_obj, &input_shape, "input_shape") < 0) return NULL;
  status = unit_pool_prepare_int8((unit_padding_t)padding, filter_h, filter_w,
                                  stride_h, stride_w, &input_shape, activation,
                                  scale, zero_point, &p, &output_shape);
  if (status != UNIT_OK) return ext_status_error(status, "pool_prepare_int8");
  values[0] = p.filter_h;
  values[1] = p.filter_w;
  values[2] = p.stride_h;
  values[3] = p.stride_w;
  values[4] = p.pad_h;
  values[5] = p.pad_w;
  values[6] = p.act_min;
  values[7] = p.act_max;
  out_dims[0] = output_shape.n;
  out_dims[1] = output_shape.h;
  out_dims[2] = output_shape.w;
  out_dims[3] = output_shape.c;
  params_tuple = ext_int32_tuple(values, 8);
  shape_tuple = ext_int32_tuple(out_dims, 4);
  if (params_tuple == NULL || shape_tuple == NULL) {
    Py_XDECREF(params_tuple);
    Py_XDECREF(shape_tuple);
    return NULL;
  }
  return Py_BuildValue("(NN)", params_tuple, shape_tuple);
}

typedef unit_status_t (*ext_pool_fn)(const unit_pool_params_t *,
                                     const unit_shape_t *, const int8_t *,
                                     const unit_shape_t *, int8_t *);

static PyObject *ext_pool_run(PyObject *args, ext_pool_fn fn,
                              const char *op_name) {
  PyObject *params_obj, *in_shape_obj, *out_shape_obj;
  Py_buffer in_buf, out_buf;
  int32_t values[8];
  unit_pool_params_t p;
  unit_shape_t in_shape, out_shape;
  unit_status_t status;
  Py_ssize_t in_count, out_count;
  if (!PyArg_ParseTuple(args, "OOy*Ow*", &params_obj, &in_shape_obj, &in_buf,
                        &out_shape_obj, &out_buf))
    return NULL;
  if (ext_int32_exact(params_obj, values, 8, "params") < 0 ||
      ext_shape(in_shape_obj, &in_shape, "input_shape") < 0 ||
      ext_shape(out_shape_obj, &out_shape, "output_shape") < 0 ||
      (in_count = ext_shape_count(&in_shape, "input_shape")) < 0 ||
      (out_count = ext_shape_count(&out_shape, "output_shape")) < 0 ||
      ext_check_buffer(&in_buf, in_count, 1, "input") < 0 ||
      ext_check_buffer(&out_buf, out_count, 1, "output") < 0) {
    PyBuffer_Release(&in_buf);
    PyBuffer_Release(&out_buf);
    return NULL;
  }
  ext_pool_from_array(values, &p);
  Py_BEGIN_ALLOW_THREADS
  status = fn(&p, &in_shape, (const int8_t *)in_buf.buf, &out_shape,
              (int8_t *)out_buf.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in_buf);
  PyBuffer_Release(&out_buf);
  if (status != UNIT_OK) return ext_status_error(status, op_name);
  Py_RETURN_NONE;
}

static PyObject *ext_max_pool_2d_int8(PyObject *self, PyObject *args) {
  return ext_pool_run(args, unit_max_pool_2d_int8, "max_pool_2d_int8");
}

static PyObject *ext_average_pool_2d_int8(PyObject *self, PyObject *args) {
  return ext_pool_run(args, unit_average_pool_2d_int8, "average_pool_2d_int8");
}

/* ---- add ---- */

#define EXT_ADD_PARAM_COUNT 12

static PyObject *ext_add_prepare_int8(PyObject *self, PyObject *args) {
  float s1, s2, so;
  int z1, z2, zo, activation;
  unit_add_params_t p;
  unit_status_t status;
  int32_t v[EXT_ADD_PARAM_COUNT];
  if (!PyArg_ParseTuple(args, "fififii", &s1, &z1, &s2, &z2, &so, &zo,
                        &activation))
    return NULL;
  status = unit_add_prepare_int8(s1, z1, s2, z2, so, zo, activation, &p);
  if (status != UNIT_OK) return ext_status_error(status, "add_prepare_int8");
  v[0] = p.left_shift;
  v[1] = p.input1_offset;
  v[2] = p.input1_multiplier;
  v[3] = p.input1_shift;
  v[4] = p.input2_offset;
  v[5] = p.input2_multiplier;
  v[6] = p.input2_shift;
  v[7] = p.output_offset;
  v[8] = p.output_multiplier;
  v[9] = p.output_shift;
  v[10] = p.act_min;
  v[11] = p.act_max;
  return ext_int32_tuple(v, EXT_ADD_PARAM_COUNT);
}

static PyObject *ext_add_int8(PyObject *self, PyObject *args) {
  PyObject *params_obj, *dims1_obj, *dims2_obj, *out_dims_obj;
  Py_buffer in1, in2, out;
  int32_t v[EXT_ADD_PARAM_COUNT];
  int32_t dims1[UNIT_MAX_DIMS], dims2[UNIT_MAX_DIMS], out_dims[UNIT_MAX_DIMS];
  Py_ssize_t n1, n2, no, c1, c2, co;
  unit_add_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "OOy*Oy*Ow*", &params_obj, &dims1_obj, &in1,
                        &dims2_obj, &in2, &out_dims_obj, &out))
    return NULL;
  if (ext_int32_exact(params_obj, v, EXT_ADD_PARAM_COUNT, "params") < 0 ||
      (n1 = ext_int32_sequence(dims1_obj, dims1, UNIT_MAX_DIMS,
                               "input1_dims")) < 0 ||
      (n2 = ext_int32_sequence(dims2_obj, dims2, UNIT_MAX_DIMS,
                               "input2_dims")) < 0 ||
      (no = ext_int32_sequence(out_dims_obj, out_dims, UNIT_MAX_DIMS,
                               "output_dims")) < 0)
    goto fail;
  if (n1 != no || n2 != no || no < 1) {
    PyErr_SetString(ext_argument_error,
                    "add_int8: input1_dims, input2_dims and output_dims need "
                    "the same number (1..6) of dims");
    goto fail;
  }
  if ((c1 = ext_element_count(dims1, n1, "input1_dims")) < 0 ||
      (c2 = ext_element_count(dims2, n2, "input2_dims")) < 0 ||
      (co = ext_element_count(out_dims, no, "output_dims")) < 0 ||
      ext_check_buffer(&in1, c1, 1, "input1") < 0 ||
      ext_check_buffer(&in2, c2, 1, "input2") < 0 ||
      ext_check_buffer(&out, co, 1, "output") < 0)
    goto fail;
  p.left_shift = v[0];
  p.input1_offset = v[1];
  p.input1_multiplier = v[2];
  p.input1_shift = v[3];
  p.input2_offset = v[4];
  p.input2_multiplier = v[5];
  p.input2_shift = v[6];
  p.output_offset = v[7];
  p.output_multiplier = v[8];
  p.output_shift = v[9];
  p.act_min = v[10];
  p.act_max = v[11];
  Py_BEGIN_ALLOW_THREADS
  status = unit_add_int8(&p, (int32_t)no, dims1, (const int8_t *)in1.buf,
                         dims2, (const int8_t *)in2.buf, out_dims,
                         (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in1);
  PyBuffer_Release(&in2);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "add_int8");
  Py_RETURN_NONE;
fail:
  PyBuffer_Release(&in1);
  PyBuffer_Release(&in2);
  PyBuffer_Release(&out);
  return NULL;
}

/* ---- softmax ---- */

static PyObject *ext_softmax_prepare_int8(PyObject *self, PyObject *args) {
  float input_scale, beta, output_scale;
  int output_zero_point;
  unit_softmax_params_t p;
  unit_status_t status;
  int32_t v[3];
  if (!PyArg_ParseTuple(args, "fffi", &input_scale, &beta, &output_scale,
                        &output_zero_point))
    return NULL;
  status = unit_softmax_prepare_int8(input_scale, beta, output_scale,
                                     output_zero_point, &p);
  if (status != UNIT_OK) return ext_status_error(status, "softmax_prepare_int8");
  v[0] = p.input_multiplier;
  v[1] = p.input_left_shift;
  v[2] = p.diff_min;
  return ext_int32_tuple(v, 3);
}

static PyObject *ext_softmax_int8(PyObject *self, PyObject *args) {
  PyObject *params_obj;
  int outer_size, depth;
  Py_buffer in, out;
  int32_t v[3];
  unit_softmax_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "Oiiy*w*", &params_obj, &outer_size, &depth, &in,
                        &out))
    return NULL;
  if (ext_int32_exact(params_obj, v, 3, "params") < 0) goto fail;
  if (outer_size <= 0 || depth <= 0 ||
      (Py_ssize_t)outer_size * depth > INT32_MAX) {
    PyErr_SetString(ext_argument_error,
                    "softmax_int8: outer_size and depth must be positive");
    goto fail;
  }
  if (ext_check_buffer(&in, (Py_ssize_t)outer_size * depth, 1, "input") < 0 ||
      ext_check_buffer(&out, (Py_ssize_t)outer_size * depth, 1, "output") < 0)
    goto fail;
  p.input_multiplier = v[0];
  p.input_left_shift = v[1];
  p.diff_min = v[2];
  Py_BEGIN_ALLOW_THREADS
  status = unit_softmax_int8(&p, outer_size, depth, (const int8_t *)in.buf,
                             (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "softmax_int8");
  Py_RETURN_NONE;
fail:
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  return NULL;
}

/* ---- mean ---- */

static PyObject *ext_mean_prepare_int8(PyObject *self, PyObject *args) {
  float si, so;
  int zi, zo, count;
  unit_mean_params_t p;
  unit_status_t status;
  int32_t v[5];
  if (!PyArg_ParseTuple(args, "fifii", &si, &zi, &so, &zo, &count)) return NULL;
  status = unit_mean_prepare_int8(si, zi, so, zo, count, &p);
  if (status != UNIT_OK) return ext_status_error(status, "mean_prepare_int8");
  v[0] = p.multiplier;
  v[1] = p.shift;
  v[2] = p.count;
  v[3] = p.input_zero_point;
  v[4] = p.output_zero_point;
  return ext_int32_tuple(v, 5);
}

static PyObject *ext_mean_hw_int8(PyObject *self, PyObject *args) {
  PyObject *params_obj, *shape_obj;
  Py_buffer in, out;
  int32_t v[5];
  unit_shape_t shape;
  unit_mean_params_t p;
  unit_status_t status;
  Py_ssize_t in_count;
  if (!PyArg_ParseTuple(args, "OOy*w*", &params_obj, &shape_obj, &in, &out))
    return NULL;
  if (ext_int32_exact(params_obj, v, 5, "params") < 0 ||
      ext_shape(shape_obj, &shape, "input_shape") < 0 ||
      (in_count = ext_shape_count(&shape, "input_shape")) < 0 ||
      ext_check_buffer(&in, in_count, 1, "input") < 0 ||
      ext_check_buffer(&out, (Py_ssize_t)shape.n * shape.c, 1, "output") < 0) {
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  p.multiplier = v[0];
  p.shift = v[1];
  p.count = v[2];
  p.input_zero_point = v[3];
  p.output_zero_point = v[4];
  Py_BEGIN_ALLOW_THREADS
  status = unit_mean_hw_int8(&p, &shape, (const int8_t *)in.buf,
                             (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "mean_hw_int8");
  Py_RETURN_NONE;
}

static PyObject *ext_mean_int8(PyObject *self, PyObject *args) {
  PyObject *params_obj, *dims_obj;
  Py_buffer in, out;
  int axis_mask;
  int32_t v[5], dims[UNIT_MAX_DIMS];
  Py_ssize_t num_dims = -1, in_count = -1, d, kept_count = 1;
  unit_mean_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "OOiy*w*", &params_obj, &dims_obj, &axis_mask,
                        &in, &out))
    return NULL;
  if (ext_int32_exact(params_obj, v, 5, "params") < 0 ||
      (num_dims = ext_int32_sequence(dims_obj, dims, UNIT_MAX_DIMS,
                                     "input_dims")) < 0 ||
      (in_count = ext_element_count(dims, num_dims, "input_dims")) < 0)
    goto fail;
  if (num_dims < 1 || axis_mask <= 0 || axis_mask >= (1 << num_dims)) {
    PyErr_SetString(ext_argument_error,
                    "mean_int8: 1..6 dims and a non-empty axis mask within them");
    goto fail;
  }
  for (d = 0; d < num_dims; ++d)
    if (!(axis_mask & (1 << d))) kept_count *= dims[d];
  if (ext_check_buffer(&in, in_count, 1, "input") < 0 ||
      ext_check_buffer(&out, kept_count, 1, "output") < 0)
    goto fail;
  p.multiplier = v[0];
  p.shift = v[1];
  p.count = v[2];
  p.input_zero_point = v[3];
  p.output_zero_point = v[4];
  Py_BEGIN_ALLOW_THREADS
  status = unit_mean_int8(&p, (int32_t)num_dims, dims, (uint8_t)axis_mask,
                          (const int8_t *)in.buf, (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "mean_int8");
  Py_RETURN_NONE;
fail:
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  return NULL;
}

/* ---- requantize ---- */

static PyObject *ext_requantize_prepare_int8(PyObject *self, PyObject *args) {
  float si, so;
  int zi, zo;
  unit_requantize_params_t p;
  unit_status_t status;
  int32_t v[4];
  if (!PyArg_ParseTuple(args, "fifi", &si, &zi, &so, &zo)) return NULL;
  status = unit_requantize_prepare_int8(si, zi, so, zo, &p);
  if (status != UNIT_OK)
    return ext_status_error(status, "requantize_prepare_int8");
  v[0] = p.multiplier;
  v[1] = p.shift;
  v[2] = p.input_zero_point;
  v[3] = p.output_zero_point;
  return ext_int32_tuple(v, 4);
}

static PyObject *ext_requantize_int8(PyObject *self, PyObject *args) {
  PyObject *params_obj;
  Py_buffer in, out;
  int32_t v[4];
  unit_requantize_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "Oy*w*", &params_obj, &in, &out)) return NULL;
  if (ext_int32_exact(params_obj, v, 4, "params") < 0 ||
      in.len > INT32_MAX || ext_check_buffer(&out, in.len, 1, "output") < 0) {
    if (!PyErr_Occurred())
      PyErr_SetString(ext_argument_error, "requantize_int8: input too large");
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  p.multiplier = v[0];
  p.shift = v[1];
  p.input_zero_point = v[2];
  p.output_zero_point = v[3];
  Py_BEGIN_ALLOW_THREADS
  status = unit_requantize_int8(&p, (int32_t)in.len, (const int8_t *)in.buf,
                                (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "requantize_int8");
  Py_RETURN_NONE;
}

/* ---- pad ---- */

static PyObject *ext_pad_int8(PyObject *self, PyObject *args) {
  PyObject *dims_obj, *before_obj, *after_obj;
  Py_buffer in, out;
  int pad_value;
  int32_t dims[UNIT_PAD_MAX_DIMS], before[UNIT_PAD_MAX_DIMS],
      after[UNIT_PAD_MAX_DIMS], out_dims[UNIT_PAD_MAX_DIMS];
  Py_ssize_t n, nb, na, i, in_count, out_count;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "Oy*OOiw*", &dims_obj, &in, &before_obj,
                        &after_obj, &pad_value, &out))
    return NULL;
  if ((n = ext_int32_sequence(dims_obj, dims, UNIT_PAD_MAX_DIMS,
                              "input_dims")) < 0 ||
      (nb = ext_int32_sequence(before_obj, before, UNIT_PAD_MAX_DIMS,
                               "pad_before")) < 0 ||
      (na = ext_int32_sequence(after_obj, after, UNIT_PAD_MAX_DIMS,
                               "pad_after")) < 0)
    goto fail;
  if (n < 1 || nb != n || na != n) {
    PyErr_SetString(ext_argument_error,
                    "pad_int8: input_dims, pad_before and pad_after need the "
                    "same number (1..5) of entries");
    goto fail;
  }
  if (pad_value < -128 || pad_value > 127) {
    PyErr_SetString(ext_argument_error, "pad_int8: pad_value must be int8");
    goto fail;
  }
  for (i = 0; i < n; ++i) {
    if (before[i] < 0 || after[i] < 0) {
      PyErr_SetString(ext_argument_error, "pad_int8: paddings must be >= 0");
      goto fail;
    }
    out_dims[i] = dims[i] + before[i] + after[i];
  }
  if ((in_count = ext_element_count(dims, n, "input_dims")) < 0 ||
      (out_count = ext_element_count(out_dims, n, "output_dims")) < 0 ||
      ext_check_buffer(&in, in_count, 1, "input") < 0 ||
      ext_check_buffer(&out, out_count, 1, "output") < 0)
    goto fail;
  Py_BEGIN_ALLOW_THREADS
  status = unit_pad_int8((int32_t)n, dims, (const int8_t *)in.buf, before,
                         after, (int8_t)pad_value, (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "pad_int8");
  Py_RETURN_NONE;
fail:
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  return NULL;
}

/* ---- concatenation ---- */

static PyObject *ext_concatenation_int8(PyObject *self, PyObject *args) {
  PyObject *inputs_obj, *dims_obj, *inputs_seq = NULL, *dims_seq = NULL;
  Py_buffer bufs[UNIT_CONCAT_MAX_INPUTS];
  const int8_t *ptrs[UNIT_CONCAT_MAX_INPUTS];
  int32_t dims[UNIT_CONCAT_MAX_INPUTS * UNIT_MAX_DIMS];
  Py_buffer out;
  int axis;
  Py_ssize_t num_inputs = 0, acquired = 0, num_dims = -1, i, count, out_count = 0;
  unit_status_t status;
  PyObject *result = NULL;
  if (!PyArg_ParseTuple(args, "OOiw*", &inputs_obj, &dims_obj, &axis, &out))
    return NULL;
  inputs_seq = PySequence_Fast(inputs_obj, "inputs must be a sequence");
  dims_seq = PySequence_Fast(dims_obj, "input_dims must be a sequence");
  if (inputs_seq == NULL || dims_seq == NULL) goto done;
  num_inputs = PySequence_Fast_GET_SIZE(inputs_seq);
  if (num_inputs < 1 || num_inputs > UNIT_CONCAT_MAX_INPUTS ||
      PySequence_Fast_GET_SIZE(dims_seq) != num_inputs) {
    PyErr_SetString(ext_argument_error,
                    "concatenation_int8: 1..10 inputs, one dims entry each");
    goto done;
  }
  for (i = 0; i < num_inputs; ++i) {
    Py_ssize_t n = ext_int32_sequence(PySequence_Fast_GET_ITEM(dims_seq, i),
                                      dims + i * UNIT_MAX_DIMS, UNIT_MAX_DIMS,
                                      "input_dims");
    if (n < 0) goto done;
    if (num_dims < 0) num_dims = n;
    if (n != num_dims || n < 1) {
      PyErr_SetString(ext_argument_error,
                      "concatenation_int8: inputs need the same rank (1..6)");
      goto done;
    }
  }
  /* Repack the dims densely: num_inputs rows of num_dims. */
  for (i = 0; i < num_inputs; ++i) {
    Py_ssize_t d;
    for (d = 0; d < num_dims; ++d)
      dims[i * num_dims + d] = dims[i * UNIT_MAX_DIMS + d];
  }
  for (i = 0; i < num_inputs; ++i) {
    if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(inputs_seq, i), &bufs[i],
                           PyBUF_SIMPLE) < 0)
      goto done;
    ++acquired;
    count = ext_element_count(dims + i * num_dims, num_dims, "input_dims");
    if (count < 0 || ext_check_buffer(&bufs[i], count, 1, "input") < 0)
      goto done;
    out_count += count;
    ptrs[i] = (const int8_t *)bufs[i].buf;
  }
  if (ext_check_buffer(&out, out_count, 1, "output") < 0) goto done;
  Py_BEGIN_ALLOW_THREADS
  status = unit_concatenation_int8((int32_t)num_inputs, ptrs, (int32_t)num_dims,
                                   dims, axis, (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  if (status != UNIT_OK) {
    ext_status_error(status, "concatenation_int8");
    goto done;
  }
  Py_INCREF(Py_None);
  result = Py_None;
done:
  for (i = 0; i < acquired; ++i) PyBuffer_Release(&bufs[i]);
  PyBuffer_Release(&out);
  Py_XDECREF(inputs_seq);
  Py_XDECREF(dims_seq);
  return result;
}

/* ---- quantize / dequantize ---- */

static PyObject *ext_quantize_float_to_int8(PyObject *self, PyObject *args) {
  float scale;
  int zero_point;
  Py_buffer in, out;
  Py_ssize_t count;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "fiy*w*", &scale, &zero_point, &in, &out))
    return NULL;
  count = in.len / (Py_ssize_t)sizeof(float);
  if (count > INT32_MAX || ext_check_buffer(&out, count, 1, "output") < 0) {
    if (!PyErr_Occurred())
      PyErr_SetString(ext_argument_error, "quantize: input too large");
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  status = unit_quantize_float_to_int8(scale, zero_point, (int32_t)count,
                                       (const float *)in.buf, (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK)
    return ext_status_error(status, "quantize_float_to_int8");
  Py_RETURN_NONE;
}

static PyObject *ext_dequantize_int8(PyObject *self, PyObject *args) {
  float scale;
  int zero_point;
  Py_buffer in, out;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "fiy*w*", &scale, &zero_point, &in, &out))
    return NULL;
  if (in.len > INT32_MAX ||
      ext_check_buffer(&out, in.len, (Py_ssize_t)sizeof(float), "output") < 0) {
    if (!PyErr_Occurred())
      PyErr_SetString(ext_argument_error, "dequantize: input too large");
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  status = unit_dequantize_int8(scale, zero_point, (int32_t)in.len,
                                (const int8_t *)in.buf, (float *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "dequantize_int8");
  Py_RETURN_NONE;
}

/* ---- float32 (unit_ops_float.c) ---- */

/* pool_2d_float(average, params, act_min, act_max, input_shape, input,
 *   output_shape, output): params as pool_prepare_int8 gives them. */
static PyObject *ext_pool_2d_float(PyObject *self, PyObject *args) {
  PyObject *params_obj, *in_shape_obj, *out_shape_obj;
  Py_buffer in_buf, out_buf;
  int average;
  float lo, hi;
  int32_t values[8];
  unit_pool_params_t p;
  unit_shape_t in_shape, out_shape;
  unit_status_t status;
  Py_ssize_t in_count, out_count;
  if (!PyArg_ParseTuple(args, "pOffOy*Ow*", &average, &params_obj, &lo, &hi,
                        &in_shape_obj, &in_buf, &out_shape_obj, &out_buf))
    return NULL;
  if (ext_int32_exact(params_obj, values, 8, "params") < 0 ||
      ext_shape(in_shape_obj, &in_shape, "input_shape") < 0 ||
      ext_shape(out_shape_obj, &out_shape, "output_shape") < 0 ||
      (in_count = ext_shape_count(&in_shape, "input_shape")) < 0 ||
      (out_count = ext_shape_count(&out_shape, "output_shape")) < 0 ||
      ext_check_buffer(&in_buf, in_count, sizeof(float), "input") < 0 ||
      ext_check_buffer(&out_buf, out_count, sizeof(float), "output") < 0) {
    PyBuffer_Release(&in_buf);
    PyBuffer_Release(&out_buf);
    return NULL;
  }
  ext_pool_from_array(values, &p);
  Py_BEGIN_ALLOW_THREADS
  status = (average ? unit_average_pool_2d_float : unit_max_pool_2d_float)(
      &p, lo, hi, &in_shape, (const float *)in_buf.buf, &out_shape,
      (float *)out_buf.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in_buf);
  PyBuffer_Release(&out_buf);
  if (status != UNIT_OK)
    return ext_status_error(status, average ? "average_pool_2d_float"
                                            : "max_pool_2d_float");
  Py_RETURN_NONE;
}

/* add_float(act_min, act_max, dims1, input1, dims2, input2, output_dims,
 *   output) */
static PyObject *ext_add_float(PyObject *self, PyObject *args) {
  PyObject *dims1_obj, *dims2_obj, *out_dims_obj;
  Py_buffer in1, in2, out;
  float lo, hi;
  int32_t dims1[UNIT_MAX_DIMS], dims2[UNIT_MAX_DIMS], out_dims[UNIT_MAX_DIMS];
  Py_ssize_t n1, n2, no, c1, c2, co;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "ffOy*Oy*Ow*", &lo, &hi, &dims1_obj, &in1,
                        &dims2_obj, &in2, &out_dims_obj, &out))
    return NULL;
  if ((n1 = ext_int32_sequence(dims1_obj, dims1, UNIT_MAX_DIMS,
                               "input1_dims")) < 0 ||
      (n2 = ext_int32_sequence(dims2_obj, dims2, UNIT_MAX_DIMS,
                               "input2_dims")) < 0 ||
      (no = ext_int32_sequence(out_dims_obj, out_dims, UNIT_MAX_DIMS,
                               "output_dims")) < 0)
    goto fail;
  if (n1 != no || n2 != no || no < 1) {
    PyErr_SetString(ext_argument_error,
                    "add_float: input1_dims, input2_dims and output_dims need "
                    "the same number (1..6) of dims");
    goto fail;
  }
  if ((c1 = ext_element_count(dims1, n1, "input1_dims")) < 0 ||
      (c2 = ext_element_count(dims2, n2, "input2_dims")) < 0 ||
      (co = ext_element_count(out_dims, no, "output_dims")) < 0 ||
      ext_check_buffer(&in1, c1, sizeof(float), "input1") < 0 ||
      ext_check_buffer(&in2, c2, sizeof(float), "input2") < 0 ||
      ext_check_buffer(&out, co, sizeof(float), "output") < 0)
    goto fail;
  Py_BEGIN_ALLOW_THREADS
  status = unit_add_float(lo, hi, (int32_t)no, dims1, (const float *)in1.buf,
                          dims2, (const float *)in2.buf, out_dims,
                          (float *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in1);
  PyBuffer_Release(&in2);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "add_float");
  Py_RETURN_NONE;
fail:
  PyBuffer_Release(&in1);
  PyBuffer_Release(&in2);
  PyBuffer_Release(&out);
  return NULL;
}

/* softmax_float(beta, outer_size, depth, input, output) */
static PyObject *ext_softmax_float(PyObject *self, PyObject *args) {
  float beta;
  int outer_size, depth;
  Py_buffer in, out;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "fiiy*w*", &beta, &outer_size, &depth, &in, &out))
    return NULL;
  if (outer_size <= 0 || depth <= 0 ||
      (Py_ssize_t)outer_size * depth > INT32_MAX) {
    PyErr_SetString(ext_argument_error,
                    "softmax_float: outer_size and depth must be positive");
    goto fail;
  }
  if (ext_check_buffer(&in, (Py_ssize_t)outer_size * depth, sizeof(float),
                       "input") < 0 ||
      ext_check_buffer(&out, (Py_ssize_t)outer_size * depth, sizeof(float),
                       "output") < 0)
    goto fail;
  Py_BEGIN_ALLOW_THREADS
  status = unit_softmax_float(beta, outer_size, depth, (const float *)in.buf,
                              (float *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "softmax_float");
  Py_RETURN_NONE;
fail:
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  return NULL;
}

/* mean_float(input_dims, axis_mask, input, output) */
static PyObject *ext_mean_float(PyObject *self, PyObject *args) {
  PyObject *dims_obj;
  Py_buffer in, out;
  int axis_mask;
  int32_t dims[UNIT_MAX_DIMS];
  Py_ssize_t num_dims = -1, in_count = -1, d, kept_count = 1;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "Oiy*w*", &dims_obj, &axis_mask, &in, &out))
    return NULL;
  if ((num_dims = ext_int32_sequence(dims_obj, dims, UNIT_MAX_DIMS,
                                     "input_dims")) < 0 ||
      (in_count = ext_element_count(dims, num_dims, "input_dims")) < 0)
    goto fail;
  if (num_dims < 1 || axis_mask <= 0 || axis_mask >= (1 << num_dims)) {
    PyErr_SetString(ext_argument_error,
                    "mean_float: 1..6 dims and a non-empty axis mask within "
                    "them");
    goto fail;
  }
  for (d = 0; d < num_dims; ++d)
    if (!(axis_mask & (1 << d))) kept_count *= dims[d];
  if (ext_check_buffer(&in, in_count, sizeof(float), "input") < 0 ||
      ext_check_buffer(&out, kept_count, sizeof(float), "output") < 0)
    goto fail;
  Py_BEGIN_ALLOW_THREADS
  status = unit_mean_float((int32_t)num_dims, dims, (uint8_t)axis_mask,
                           (const float *)in.buf, (float *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "mean_float");
  Py_RETURN_NONE;
fail:
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  return NULL;
}

PyMethodDef ext_ops_methods[] = {
    {"pool_prepare_int8", ext_pool_prepare_int8, METH_VARARGS,
     "pool_prepare_int8(padding, filter_h, filter_w, stride_h, stride_w, "
     "input_shape, activation, output_scale, output_zero_point) -> "
     "(params, output_shape)"},
    {"max_pool_2d_int8", ext_max_pool_2d_int8, METH_VARARGS,
     "max_pool_2d_int8(params, input_shape, input, output_shape, output)"},
    {"average_pool_2d_int8", ext_average_pool_2d_int8, METH_VARARGS,
     "average_pool_2d_int8(params, input_shape, input, output_shape, output)"},
    {"add_prepare_int8", ext_add_prepare_int8, METH_VARARGS,
     "add_prepare_int8(s1, zp1, s2, zp2, s_out, zp_out, activation) -> params"},
    {"add_int8", ext_add_int8, METH_VARARGS,
     "add_int8(params, dims1, input1, dims2, input2, output_dims, output)"},
    {"softmax_prepare_int8", ext_softmax_prepare_int8, METH_VARARGS,
     "softmax_prepare_int8(input_scale, beta, output_scale, output_zp) -> "
     "(input_multiplier, input_left_shift, diff_min)"},
    {"softmax_int8", ext_softmax_int8, METH_VARARGS,
     "softmax_int8(params, outer_size, depth, input, output)"},
    {"mean_prepare_int8", ext_mean_prepare_int8, METH_VARARGS,
     "mean_prepare_int8(s_in, zp_in, s_out, zp_out, count) -> "
     "(multiplier, shift, count, zp_in, zp_out)"},
    {"mean_hw_int8", ext_mean_hw_int8, METH_VARARGS,
     "mean_hw_int8(params, input_shape, input, output)"},
    {"mean_int8", ext_mean_int8, METH_VARARGS,
     "mean_int8(params, input_dims, axis_mask, input, output)"},
    {"requantize_prepare_int8", ext_requantize_prepare_int8, METH_VARARGS,
     "requantize_prepare_int8(s_in, zp_in, s_out, zp_out) -> "
     "(multiplier, shift, zp_in, zp_out)"},
    {"requantize_int8", ext_requantize_int8, METH_VARARGS,
     "requantize_int8(params, input, output)"},
    {"pad_int8", ext_pad_int8, METH_VARARGS,
     "pad_int8(input_dims, input, pad_before, pad_after, pad_value, output)"},
    {"concatenation_int8", ext_concatenation_int8, METH_VARARGS,
     "concatenation_int8(inputs, input_dims, axis, output)"},
    {"quantize_float_to_int8", ext_quantize_float_to_int8, METH_VARARGS,
     "quantize_float_to_int8(scale, zero_point, input_float32, output_int8)"},
    {"dequantize_int8", ext_dequantize_int8, METH_VARARGS,
     "dequantize_int8(scale, zero_point, input_int8, output_float32)"},
    {"pool_2d_float", ext_pool_2d_float, METH_VARARGS,
     "pool_2d_float(average, params, act_min, act_max, input_shape, input, "
     "output_shape, output)"},
    {"add_float", ext_add_float, METH_VARARGS,
     "add_float(act_min, act_max, dims1, input1, dims2, input2, output_dims, "
     "output)"},
    {"softmax_float", ext_softmax_float, METH_VARARGS,
     "softmax_float(beta, outer_size, depth, input, output)"},
    {"mean_float", ext_mean_float, METH_VARARGS,
     "mean_float(input_dims, axis_mask, input, output)"},
    {NULL, NULL, 0, NULL}};
