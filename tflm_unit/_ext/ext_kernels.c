/* Bindings of the UnIT kernels (conv, depthwise, fully connected; int8 and
 * float32), the division approximations and the fixed-point helpers.
 * Shapes and dtypes are validated in tflm_unit/core/kernels.py; this layer
 * re-checks every buffer size so that a wrong call raises instead of reading
 * past a buffer. */
#include <string.h>

#include "ext_common.h"
#include "unit_layout.h"

/* The buffers of one kernel call, by role. */
enum {
  B_INPUT, B_FILTER, B_BIAS, B_MULT, B_SHIFT, B_OUTPUT, B_THRESH, B_CHANNEL,
  B_COUNT
};
static const char *const buffer_names[B_COUNT] = {
    "input", "filter", "bias", "multiplier", "shift", "output", "thresholds",
    "channel_executed"};

typedef struct {
  PyObject *obj[B_COUNT];
  Py_buffer view[B_COUNT];
} call_buffers_t;

static void release_buffers(call_buffers_t *b) {
  int i;
  for (i = 0; i < B_COUNT; ++i)
    if (b->view[i].obj) PyBuffer_Release(&b->view[i]);
}

/* Acquires every buffer (None -> NULL); output and channel_executed must be
 * writable; input, filter and output are required.  -1 on error. */
static int acquire_buffers(call_buffers_t *b, int has_requant) {
  int i;
  memset(b->view, 0, sizeof(b->view));
  for (i = 0; i < B_COUNT; ++i) {
    const int writable = (i == B_OUTPUT || i == B_CHANNEL);
    if (b->obj[i] == NULL || b->obj[i] == Py_None) continue;
    if (PyObject_GetBuffer(b->obj[i], &b->view[i],
                           writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS
                                    : PyBUF_C_CONTIGUOUS) < 0) {
      PyErr_Clear();
      PyErr_Format(ext_argument_error, "'%s' must be a contiguous%s buffer",
                   buffer_names[i], writable ? " writable" : "");
      release_buffers(b);
      return -1;
    }
  }
  if (!b->view[B_INPUT].buf || !b->view[B_FILTER].buf || !b->view[B_OUTPUT].buf ||
      (has_requant && (!b->view[B_MULT].buf || !b->view[B_SHIFT].buf))) {
    PyErr_SetString(ext_argument_error, "a required buffer is None");
    release_buffers(b);
    return -1;
  }
  return 0;
}

static int parse_shape(PyObject *tuple, unit_shape_t *shape, const char *name) {
  int n, h, w, c;
  if (!PyTuple_Check(tuple) || !PyArg_ParseTuple(tuple, "iiii", &n, &h, &w, &c)) {
    PyErr_Clear();
    PyErr_Format(ext_argument_error, "'%s' must be a 4-tuple of ints", name);
    return -1;
  }
  shape->n = n, shape->h = h, shape->w = w, shape->c = c;
  return 0;
}

static Py_ssize_t shape_size(const unit_shape_t *s) {
  return (Py_ssize_t)s->n * s->h * s->w * s->c;
}

/* Checks sizes common to every kernel; `item` is the activation item size. */
static int check_sizes(call_buffers_t *b, Py_ssize_t input_count,
                       Py_ssize_t filter_count, Py_ssize_t output_count,
                       Py_ssize_t channels, Py_ssize_t item, int group_size,
                       Py_ssize_t threshold_item) {
  if (ext_check_buffer(&b->view[B_INPUT], input_count, item, "input") < 0 ||
      ext_check_buffer(&b->view[B_FILTER], filter_count, item, "filter") < 0 ||
      ext_check_buffer(&b->view[B_OUTPUT], output_count, item, "output") < 0)
    return -1;
  if (b->view[B_BIAS].buf &&
      ext_check_buffer(&b->view[B_BIAS], channels, 4, "bias") < 0)
    return -1;
  if (b->view[B_MULT].buf &&
      (ext_check_buffer(&b->view[B_MULT], channels, 4, "multiplier") < 0 ||
       ext_check_buffer(&b->view[B_SHIFT], channels, 4, "shift") < 0))
    return -1;
  if (b->view[B_CHANNEL].buf &&
      ext_check_buffer(&b->view[B_CHANNEL], channels, 8, "channel_executed") < 0)
    return -1;
  if (b->view[B_THRESH].buf) {
    if (group_size <= 0 || channels % group_size != 0) {
      PyErr_Format(ext_argument_error,
                   "group_size %d does not divide %zd output channels",
                   group_size, channels);
      return -1;
    }
    if (ext_check_buffer(&b->view[B_THRESH], channels / group_size,
                         threshold_item, "thresholds") < 0)
      return -1;
  }
  return 0;
}

/* Runs after the kernel: frees scratch and buffers, maps the status. */
static PyObject *finish_call(call_buffers_t *b, void *scratch,
                             unit_status_t status, const unit_stats_t *stats,
                             const char *op) {
  PyMem_Free(scratch);
  release_buffers(b);
  if (status != UNIT_OK) return ext_status_error(status, op);
  return Py_BuildValue("KK", (unsigned long long)stats->macs_total,
                       (unsigned long long)stats->macs_executed);
}

static void *alloc_scratch(size_t bytes) {
  void *p = PyMem_Malloc(bytes ? bytes : 1);
  if (!p) PyErr_NoMemory();
  return p;
}

/* The three shapes and the buffers of a conv / depthwise call, with their
 * sizes checked (int8: 1-byte activations and int16 thresholds; float: 4 and
 * 4).  On failure a Python error is set and nothing stays acquired. */
static int acquire_conv_call(call_buffers_t *b, PyObject *in_shape,
                             PyObject *f_shape, PyObject *o_shape,
                             unit_shape_t *is, unit_shape_t *fs,
                             unit_shape_t *os, int int8, int group_size) {
  if (parse_shape(in_shape, is, "input_shape") < 0 ||
      parse_shape(f_shape, fs, "filter_shape") < 0 ||
      parse_shape(o_shape, os, "output_shape") < 0 || acquire_buffers(b, int8) < 0)
    return -1;
  if (check_sizes(b, shape_size(is), shape_size(fs), shape_size(os), os->c,
                  int8 ? 1 : 4, group_size, int8 ? 2 : 4) < 0) {
    release_buffers(b);
    return -1;
  }
  return 0;
}

/* The same for a fully connected call (`op` names it in errors). */
static int acquire_fc_call(call_buffers_t *b, const char *op, int batches,
                           int in_depth, int out_depth, int int8,
                           int group_size) {
  if (batches <= 0 || in_depth <= 0 || out_depth <= 0) {
    PyErr_Format(ext_argument_error, "%s: dimensions must be positive", op);
    return -1;
  }
  if (acquire_buffers(b, int8) < 0) return -1;
  if (check_sizes(b, (Py_ssize_t)batches * in_depth,
                  (Py_ssize_t)out_depth * in_depth,
                  (Py_ssize_t)batches * out_depth, out_depth, int8 ? 1 : 4,
                  group_size, int8 ? 2 : 4) < 0) {
    release_buffers(b);
    return -1;
  }
  return 0;
}

/* Scratch for a call whose buffers are acquired (released on failure). */
static void *alloc_call_scratch(call_buffers_t *b, size_t bytes) {
  void *scratch = alloc_scratch(bytes);
  if (!scratch) release_buffers(b);
  return scratch;
}

/* conv_2d_int8 / depthwise_conv_2d_int8 / conv_2d_bucketed_int8(input,
 *   input_shape, filter,
 *   filter_shape, bias, multiplier, shift, (stride_h, stride_w, dilation_h,
 *   dilation_w, pad_h, pad_w, depth_multiplier, input_offset, output_offset,
 *   act_min, act_max), output, output_shape, thresholds, group_size,
 *   division, channel_executed) -> (macs_total, macs_executed) */
static PyObject *conv_like_int8(PyObject *args, int depthwise, int bucketed) {
  call_buffers_t b;
  PyObject *in_shape, *f_shape, *o_shape;
  unit_shape_t is, fs, os;
  unit_conv_params_t p;
  unit_requant_t requant;
  unit_skip_t skip;
  unit_stats_t stats = {0, 0, NULL};
  int group_size = 0, division = 0;
  unit_status_t status;
  void *scratch = NULL;
  size_t scratch_bytes = 0;
  if (!PyArg_ParseTuple(args, "OOOOOOO(iiiiiiiiiii)OOOiiO", &b.obj[B_INPUT],
                        &in_shape, &b.obj[B_FILTER], &f_shape, &b.obj[B_BIAS],
                        &b.obj[B_MULT], &b.obj[B_SHIFT], &p.stride_h,
                        &p.stride_w, &p.dilation_h, &p.dilation_w, &p.pad_h,
                        &p.pad_w, &p.depth_multiplier, &p.input_offset,
                        &p.output_offset, &p.act_min, &p.act_max,
                        &b.obj[B_OUTPUT], &o_shape, &b.obj[B_THRESH],
                        &group_size, &division, &b.obj[B_CHANNEL]))
    return NULL;
  if (acquire_conv_call(&b, in_shape, f_shape, o_shape, &is, &fs, &os, 1,
                        group_size) < 0)
    return NULL;
  skip.thresholds = (const int16_t *)b.view[B_THRESH].buf;
  skip.group_size = group_size;
  skip.division = (unit_division_t)division;
  stats.channel_executed = (uint64_t *)b.view[B_CHANNEL].buf;
  scratch_bytes = depthwise  ? unit_depthwise_scratch_bytes(&fs, &os, &skip)
                  : bucketed ? unit_conv_bucketed_scratch_bytes(&p, &is, &fs, &os, &skip)
                             : unit_conv_scratch_bytes(&fs, &os, &skip);
  if (!(scratch = alloc_call_scratch(&b, scratch_bytes))) return NULL;
  requant.multiplier = (const int32_t *)b.view[B_MULT].buf;
  requant.shift = (const int32_t *)b.view[B_SHIFT].buf;
  Py_BEGIN_ALLOW_THREADS
  if (depthwise)
    status = unit_depthwise_conv_2d_int8(
        &p, &requant, &is, b.view[B_INPUT].buf, &fs, b.view[B_FILTER].buf,
        b.view[B_BIAS].buf, &os, b.view[B_OUTPUT].buf, &skip, scratch,
        scratch_bytes, &stats);
  else if (bucketed)
    status = unit_conv_2d_bucketed_int8(
        &p, &requant, &is, b.view[B_INPUT].buf, &fs, b.view[B_FILTER].buf,
        b.view[B_BIAS].buf, &os, b.view[B_OUTPUT].buf, &skip, scratch,
        scratch_bytes, &stats);
  else
    status = unit_conv_2d_int8(&p, &requant, &is, b.view[B_INPUT].buf, &fs,
                               b.view[B_FILTER].buf, b.view[B_BIAS].buf, &os,
                               b.view[B_OUTPUT].buf, &skip, scratch,
                               scratch_bytes, &stats);
  Py_END_ALLOW_THREADS
  return finish_call(&b, scratch, status, &stats,
                     depthwise  ? "depthwise_conv_2d_int8"
                     : bucketed ? "conv_2d_bucketed_int8"
                                : "conv_2d_int8");
}

static PyObject *py_conv_2d_int8(PyObject *self, PyObject *args) {
  return conv_like_int8(args, 0, 0);
}
static PyObject *py_depthwise_conv_2d_int8(PyObject *self, PyObject *args) {
  return conv_like_int8(args, 1, 0);
}
static PyObject *py_conv_2d_bucketed_int8(PyObject *self, PyObject *args) {
  return conv_like_int8(args, 0, 1);
}

/* conv_bucketed_scratch_bytes(input_shape, filter_shape, output_shape,
 *   (stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w), skipping,
 *   group_size, minimum) -> bytes (0: invalid or too wide) */
static PyObject *py_conv_bucketed_scratch_bytes(PyObject *self, PyObject *args) {
  PyObject *i_shape, *f_shape, *o_shape;
  unit_shape_t is, fs, os;
  unit_conv_params_t p;
  int skipping, group_size, minimum;
  int16_t dummy = 0;
  unit_skip_t skip;
  memset(&p, 0, sizeof(p));
  if (!PyArg_ParseTuple(args, "OOO(iiiiii)pip", &i_shape, &f_shape, &o_shape,
                        &p.stride_h, &p.stride_w, &p.dilation_h, &p.dilation_w,
                        &p.pad_h, &p.pad_w, &skipping, &group_size, &minimum))
    return NULL;
  if (parse_shape(i_shape, &is, "input_shape") < 0 ||
      parse_shape(f_shape, &fs, "filter_shape") < 0 ||
      parse_shape(o_shape, &os, "output_shape") < 0)
    return NULL;
  skip.thresholds = skipping ? &dummy : NULL;
  skip.group_size = group_size > 0 ? group_size : 1;
  skip.division = UNIT_DIV_EXACT;
  return PyLong_FromSize_t(
      minimum ? unit_conv_bucketed_min_scratch_bytes(&p, &is, &fs, &os, &skip)
              : unit_conv_bucketed_scratch_bytes(&p, &is, &fs, &os, &skip));
}

/* fully_connected_int8(input, batches, input_depth, output_depth, filter,
 *   bias, multiplier, shift, (input_offset, output_offset, act_min, act_max),
 *   output, thresholds, group_size, division, channel_executed) */
static PyObject *py_fully_connected_int8(PyObject *self, PyObject *args) {
  call_buffers_t b;
  int batches, in_depth, out_depth, group_size, division;
  unit_fc_params_t p;
  unit_requant_t requant;
  unit_skip_t skip;
  unit_stats_t stats = {0, 0, NULL};
  unit_status_t status;
  void *scratch;
  size_t scratch_bytes;
  if (!PyArg_ParseTuple(args, "OiiiOOOO(iiii)OOiiO", &b.obj[B_INPUT], &batches,
                        &in_depth, &out_depth, &b.obj[B_FILTER], &b.obj[B_BIAS],
                        &b.obj[B_MULT], &b.obj[B_SHIFT], &p.input_offset,
                        &p.output_offset, &p.act_min, &p.act_max,
                        &b.obj[B_OUTPUT], &b.obj[B_THRESH], &group_size,
                        &division, &b.obj[B_CHANNEL]))
    return NULL;
  if (acquire_fc_call(&b, "fully_connected_int8", batches, in_depth, out_depth,
                      1, group_size) < 0)
    return NULL;
  skip.thresholds = (const int16_t *)b.view[B_THRESH].buf;
  skip.group_size = group_size;
  skip.division = (unit_division_t)division;
  stats.channel_executed = (uint64_t *)b.view[B_CHANNEL].buf;
  scratch_bytes = unit_fc_scratch_bytes(out_depth, &skip);
  if (!(scratch = alloc_call_scratch(&b, scratch_bytes))) return NULL;
  requant.multiplier = (const int32_t *)b.view[B_MULT].buf;
  requant.shift = (const int32_t *)b.view[B_SHIFT].buf;
  Py_BEGIN_ALLOW_THREADS
  status = unit_fully_connected_int8(&p, &requant, batches, in_depth, out_depth,
                                     b.view[B_INPUT].buf, b.view[B_FILTER].buf,
                                     b.view[B_BIAS].buf, b.view[B_OUTPUT].buf,
                                     &skip, scratch, scratch_bytes, &stats);
  Py_END_ALLOW_THREADS
  return finish_call(&b, scratch, status, &stats, "fully_connected_int8");
}

/* The layout's index buffer: uint8 for <= 256 outputs, else uint16, with
 * `entries` items.  NULL with an error set on failure. */
static int acquire_sorted_index(PyObject *obj, Py_buffer *view, int out_depth,
                                size_t entries, int writable) {
  const int item = unit_fc_sorted_index_bytes(out_depth);
  if (PyObject_GetBuffer(obj, view,
                         writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS
                                  : PyBUF_C_CONTIGUOUS) < 0) {
    PyErr_Clear();
    PyErr_Format(ext_argument_error, "'index' must be a contiguous%s buffer",
                 writable ? " writable" : "");
    return -1;
  }
  if (ext_check_buffer(view, (Py_ssize_t)entries, item, "index") < 0) {
    PyBuffer_Release(view);
    return -1;
  }
  return 0;
}

/* The filter [output_depth, input_depth] and a layout's weights and index
 * buffers (writable for fc_sorted_build): checked against the layout's
 * entry count for these depths and group size.  0, or -1 with an error set
 * and nothing held. */
static int acquire_sorted_views(const char *name, PyObject *f_obj,
                                PyObject *w_obj, PyObject *i_obj,
                                int in_depth, int out_depth, int group_size,
                                int writable, Py_buffer *f, Py_buffer *w,
                                Py_buffer *idx) {
  const size_t entries =
      unit_fc_sorted_entries(in_depth, out_depth, group_size);
  if (entries == 0u) {
    PyErr_Format(ext_argument_error,
                 "%s: no layout for input_depth %d, output_depth %d, "
                 "group_size %d", name, in_depth, out_depth, group_size);
    return -1;
  }
  if (PyObject_GetBuffer(f_obj, f, PyBUF_C_CONTIGUOUS) < 0) {
    PyErr_Clear();
    PyErr_SetString(ext_argument_error, "'filter' must be a contiguous buffer");
    return -1;
  }
  if (ext_check_buffer(f, (Py_ssize_t)in_depth * out_depth, 1, "filter") < 0) {
    PyBuffer_Release(f);
    return -1;
  }
  if (PyObject_GetBuffer(w_obj, w,
                         writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS
                                  : PyBUF_C_CONTIGUOUS) < 0) {
    PyErr_Clear();
    PyBuffer_Release(f);
    PyErr_Format(ext_argument_error, "'weights' must be a contiguous%s buffer",
                 writable ? " writable" : "");
    return -1;
  }
  if (ext_check_buffer(w, (Py_ssize_t)entries, 1, "weights") < 0 ||
      acquire_sorted_index(i_obj, idx, out_depth, entries, writable) < 0) {
    PyBuffer_Release(w);
    PyBuffer_Release(f);
    return -1;
  }
  return 0;
}

/* fc_sorted_build(filter, input_depth, output_depth, group_size, weights,
 *   index): fills the sorted layout (weights int8, index uint8 / uint16). */
static PyObject *py_fc_sorted_build(PyObject *self, PyObject *args) {
  PyObject *f_obj, *w_obj, *i_obj;
  Py_buffer f, w, idx;
  int in_depth, out_depth, group_size;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "OiiiOO", &f_obj, &in_depth, &out_depth,
                        &group_size, &w_obj, &i_obj))
    return NULL;
  if (acquire_sorted_views("fc_sorted_build", f_obj, w_obj, i_obj, in_depth,
                           out_depth, group_size, 1, &f, &w, &idx) < 0)
    return NULL;
  status = unit_fc_sorted_build(
      f.buf, in_depth, out_depth, group_size, w.buf,
      out_depth <= 256 ? (uint8_t *)idx.buf : NULL,
      out_depth <= 256 ? NULL : (uint16_t *)idx.buf);
  PyBuffer_Release(&idx);
  PyBuffer_Release(&w);
  PyBuffer_Release(&f);
  if (status != UNIT_OK) return ext_status_error(status, "fc_sorted_build");
  Py_RETURN_NONE;
}

/* fc_sorted_check_filter(filter, input_depth, output_depth, group_size,
 *   weights, index): None if the layout is the filter's
 *   (unit_fc_sorted_check_filter), else the core's refusal. */
static PyObject *py_fc_sorted_check_filter(PyObject *self, PyObject *args) {
  PyObject *f_obj, *w_obj, *i_obj;
  Py_buffer f, w, idx;
  int in_depth, out_depth, group_size;
  unit_fc_sorted_t layout;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "OiiiOO", &f_obj, &in_depth, &out_depth,
                        &group_size, &w_obj, &i_obj))
    return NULL;
  if (acquire_sorted_views("fc_sorted_check_filter", f_obj, w_obj, i_obj,
                           in_depth, out_depth, group_size, 0, &f, &w,
                           &idx) < 0)
    return NULL;
  layout.weights = (const int8_t *)w.buf;
  layout.index8 = out_depth <= 256 ? (const uint8_t *)idx.buf : NULL;
  layout.index16 = out_depth <= 256 ? NULL : (const uint16_t *)idx.buf;
  layout.group_size = group_size;
  status = unit_fc_sorted_check_filter(&layout, f.buf, in_depth, out_depth);
  PyBuffer_Release(&idx);
  PyBuffer_Release(&w);
  PyBuffer_Release(&f);
  if (status != UNIT_OK) return ext_status_error(status, "fc_sorted_check_filter");
  Py_RETURN_NONE;
}

/* fully_connected_sorted_int8(input, batches, input_depth, output_depth,
 *   weights, index, layout_group_size, bias, multiplier, shift,
 *   (input_offset, output_offset, act_min, act_max), output, thresholds,
 *   group_size, division, channel_executed) -> (macs_total, macs_executed).
 * The layout is checked (unit_fc_sorted_check) on every call. */
static PyObject *py_fully_connected_sorted_int8(PyObject *self, PyObject *args) {
  call_buffers_t b;
  PyObject *i_obj;
  Py_buffer idx;
  int batches, in_depth, out_depth, layout_group, group_size, division;
  unit_fc_params_t p;
  unit_requant_t requant;
  unit_skip_t skip;
  unit_fc_sorted_t layout;
  unit_stats_t stats = {0, 0, NULL};
  unit_status_t status;
  size_t entries, scratch_bytes;
  void *scratch;
  if (!PyArg_ParseTuple(args, "OiiiOOiOOO(iiii)OOiiO", &b.obj[B_INPUT], &batches,
                        &in_depth, &out_depth, &b.obj[B_FILTER], &i_obj,
                        &layout_group, &b.obj[B_BIAS], &b.obj[B_MULT],
                        &b.obj[B_SHIFT], &p.input_offset, &p.output_offset,
                        &p.act_min, &p.act_max, &b.obj[B_OUTPUT],
                        &b.obj[B_THRESH], &group_size, &division,
                        &b.obj[B_CHANNEL]))
    return NULL;
  entries = unit_fc_sorted_entries(in_depth, out_depth, layout_group);
  if (entries == 0u) {
    PyErr_Format(ext_argument_error,
                 "fully_connected_sorted_int8: no layout for input_depth %d, "
                 "output_depth %d, layout group_size %d",
                 in_depth, out_depth, layout_group);
    return NULL;
  }
  if (batches <= 0) {
    PyErr_SetString(ext_argument_error,
                    "fully_connected_sorted_int8: dimensions must be positive");
    return NULL;
  }
  /* The filter buffer holds the layout's weights: sized as `entries`. */
  if (acquire_buffers(&b, 1) < 0) return NULL;
  if (check_sizes(&b, (Py_ssize_t)batches * in_depth, (Py_ssize_t)entries,
                  (Py_ssize_t)batches * out_depth, out_depth, 1, group_size,
                  2) < 0) {
    release_buffers(&b);
    return NULL;
  }
  if (acquire_sorted_index(i_obj, &idx, out_depth, entries, 0) < 0) {
    release_buffers(&b);
    return NULL;
  }
  layout.weights = (const int8_t *)b.view[B_FILTER].buf;
  layout.index8 = out_depth <= 256 ? (const uint8_t *)idx.buf : NULL;
  layout.index16 = out_depth <= 256 ? NULL : (const uint16_t *)idx.buf;
  layout.group_size = layout_group;
  status = unit_fc_sorted_check(&layout, in_depth, out_depth);
  if (status != UNIT_OK) {
    PyBuffer_Release(&idx);
    release_buffers(&b);
    return ext_status_error(status, "fully_connected_sorted_int8 (layout)");
  }
  skip.thresholds = (const int16_t *)b.view[B_THRESH].buf;
  skip.group_size = group_size;
  skip.division = (unit_division_t)division;
  stats.channel_executed = (uint64_t *)b.view[B_CHANNEL].buf;
  scratch_bytes = unit_fc_sorted_scratch_bytes(out_depth, &skip);
  if (!(scratch = alloc_scratch(scratch_bytes))) {
    PyBuffer_Release(&idx);
    release_buffers(&b);
    return NULL;
  }
  requant.multiplier = (const int32_t *)b.view[B_MULT].buf;
  requant.shift = (const int32_t *)b.view[B_SHIFT].buf;
  Py_BEGIN_ALLOW_THREADS
  status = unit_fully_connected_sorted_int8(
      &p, &requant, batches, in_depth, out_depth, b.view[B_INPUT].buf, &layout,
      b.view[B_BIAS].buf, b.view[B_OUTPUT].buf, &skip, scratch, scratch_bytes,
      &stats);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&idx);
  return finish_call(&b, scratch, status, &stats, "fully_connected_sorted_int8");
}

/* conv_2d_float / depthwise_conv_2d_float(input, input_shape, filter,
 *   filter_shape, bias, (stride_h, stride_w, dilation_h, dilation_w, pad_h,
 *   pad_w, depth_multiplier, act_min, act_max), output, output_shape,
 *   thresholds, group_size, division, channel_executed) */
static PyObject *conv_like_float(PyObject *args, int depthwise) {
  call_buffers_t b;
  PyObject *in_shape, *f_shape, *o_shape;
  unit_shape_t is, fs, os;
  unit_conv_float_params_t p;
  unit_float_skip_t skip;
  unit_stats_t stats = {0, 0, NULL};
  int group_size = 0, division = 0;
  unit_status_t status;
  void *scratch;
  size_t scratch_bytes;
  b.obj[B_MULT] = b.obj[B_SHIFT] = NULL;
  if (!PyArg_ParseTuple(args, "OOOOO(iiiiiiiff)OOOiiO", &b.obj[B_INPUT],
                        &in_shape, &b.obj[B_FILTER], &f_shape, &b.obj[B_BIAS],
                        &p.stride_h, &p.stride_w, &p.dilation_h,
                        &p.dilation_w, &p.pad_h, &p.pad_w, &p.depth_multiplier,
                        &p.act_min, &p.act_max, &b.obj[B_OUTPUT], &o_shape,
                        &b.obj[B_THRESH], &group_size, &division,
                        &b.obj[B_CHANNEL]))
    return NULL;
  if (acquire_conv_call(&b, in_shape, f_shape, o_shape, &is, &fs, &os, 0,
                        group_size) < 0)
    return NULL;
  skip.thresholds = (const float *)b.view[B_THRESH].buf;
  skip.group_size = group_size;
  skip.division = (unit_float_division_t)division;
  stats.channel_executed = (uint64_t *)b.view[B_CHANNEL].buf;
  scratch_bytes = depthwise ? unit_depthwise_float_scratch_bytes(&fs, &skip)
                            : unit_conv_float_scratch_bytes(&fs, &skip);
  if (!(scratch = alloc_call_scratch(&b, scratch_bytes))) return NULL;
  Py_BEGIN_ALLOW_THREADS
  if (depthwise)
    status = unit_depthwise_conv_2d_float(
        &p, &is, b.view[B_INPUT].buf, &fs, b.view[B_FILTER].buf,
        b.view[B_BIAS].buf, &os, b.view[B_OUTPUT].buf, &skip, scratch,
        scratch_bytes, &stats);
  else
    status = unit_conv_2d_float(&p, &is, b.view[B_INPUT].buf, &fs,
                                b.view[B_FILTER].buf, b.view[B_BIAS].buf, &os,
                                b.view[B_OUTPUT].buf, &skip, scratch,
                                scratch_bytes, &stats);
  Py_END_ALLOW_THREADS
  return finish_call(&b, scratch, status, &stats,
                     depthwise ? "depthwise_conv_2d_float" : "conv_2d_float");
}

static PyObject *py_conv_2d_float(PyObject *self, PyObject *args) {
  return conv_like_float(args, 0);
}
static PyObject *py_depthwise_conv_2d_float(PyObject *self, PyObject *args) {
  return conv_like_float(args, 1);
}

/* fully_connected_float(input, batches, input_depth, output_depth, filter,
 *   bias, (act_min, act_max), output, thresholds, group_size, division,
 *   channel_executed) */
static PyObject *py_fully_connected_float(PyObject *self, PyObject *args) {
  call_buffers_t b;
  int batches, in_depth, out_depth, group_size, division;
  float act_min, act_max;
  unit_float_skip_t skip;
  unit_stats_t stats = {0, 0, NULL};
  unit_status_t status;
  void *scratch;
  size_t scratch_bytes;
  b.obj[B_MULT] = b.obj[B_SHIFT] = NULL;
  if (!PyArg_ParseTuple(args, "OiiiOO(ff)OOiiO", &b.obj[B_INPUT], &batches,
                        &in_depth, &out_depth, &b.obj[B_FILTER], &b.obj[B_BIAS],
                        &act_min, &act_max, &b.obj[B_OUTPUT], &b.obj[B_THRESH],
                        &group_size, &division, &b.obj[B_CHANNEL]))
    return NULL;
  if (acquire_fc_call(&b, "fully_connected_float", batches, in_depth, out_depth,
                      0, group_size) < 0)
    return NULL;
  skip.thresholds = (const float *)b.view[B_THRESH].buf;
  skip.group_size = group_size;
  skip.division = (unit_float_division_t)division;
  stats.channel_executed = (uint64_t *)b.view[B_CHANNEL].buf;
  scratch_bytes = unit_fc_float_scratch_bytes(out_depth, &skip);
  if (!(scratch = alloc_call_scratch(&b, scratch_bytes))) return NULL;
  Py_BEGIN_ALLOW_THREADS
  status = unit_fully_connected_float(act_min, act_max, batches, in_depth,
                                      out_depth, b.view[B_INPUT].buf,
                                      b.view[B_FILTER].buf, b.view[B_BIAS].buf,
                                      b.view[B_OUTPUT].buf, &skip, scratch,
                                      scratch_bytes, &stats);
  Py_END_ALLOW_THREADS
  return finish_call(&b, scratch, status, &stats, "fully_connected_float");
}

/* divide(t_q int16 buffer, d uint8 buffer, out int16 buffer, mode):
 * elementwise unit_divide over equally long buffers. */
static PyObject *py_divide(PyObject *self, PyObject *args) {
  Py_buffer t, d, out;
  int mode;
  Py_ssize_t i, n;
  if (!PyArg_ParseTuple(args, "y*y*w*i", &t, &d, &out, &mode)) return NULL;
  n = t.len / 2;
  if (d.len != n || out.len != t.len || mode < 0 || mode > 3) {
    PyBuffer_Release(&t);
    PyBuffer_Release(&d);
    PyBuffer_Release(&out);
    PyErr_SetString(ext_argument_error, "divide: length mismatch or unknown mode");
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  for (i = 0; i < n; ++i)
    ((int16_t *)out.buf)[i] = unit_divide(((const int16_t *)t.buf)[i],
                                          ((const uint8_t *)d.buf)[i],
                                          (unit_division_t)mode);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&t);
  PyBuffer_Release(&d);
  PyBuffer_Release(&out);
  Py_RETURN_NONE;
}

/* divide_float(t float32 buffer, d float32 buffer, out float32, mode) */
static PyObject *py_divide_float(PyObject *self, PyObject *args) {
  Py_buffer t, d, out;
  int mode;
  Py_ssize_t i, n;
  if (!PyArg_ParseTuple(args, "y*y*w*i", &t, &d, &out, &mode)) return NULL;
  n = t.len / 4;
  if (d.len != t.len || out.len != t.len || mode < 0 || mode > 1) {
    PyBuffer_Release(&t);
    PyBuffer_Release(&d);
    PyBuffer_Release(&out);
    PyErr_SetString(ext_argument_error, "divide_float: length mismatch or unknown mode");
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  for (i = 0; i < n; ++i)
    ((float *)out.buf)[i] = unit_divide_float(((const float *)t.buf)[i],
                                              ((const float *)d.buf)[i],
                                              (unit_float_division_t)mode);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&t);
  PyBuffer_Release(&d);
  PyBuffer_Release(&out);
  Py_RETURN_NONE;
}

/* scratch_bytes(kind, filter_shape, output_shape, skipping, group_size,
 * minimum): what unit_*_scratch_bytes() (or, with minimum, the one-row
 * unit_*_min_scratch_bytes()) asks for (kind 0 conv, 1 depthwise, 2 fully
 * connected with output_shape[3] = output depth). */
static PyObject *py_scratch_bytes(PyObject *self, PyObject *args) {
  int kind, skipping, group_size, minimum = 0;
  PyObject *f_shape, *o_shape;
  unit_shape_t fs, os;
  int16_t dummy = 0;
  unit_skip_t skip;
  size_t bytes = 0;
  if (!PyArg_ParseTuple(args, "iOOpi|p", &kind, &f_shape, &o_shape, &skipping, &group_size,
                        &minimum))
    return NULL;
  if (parse_shape(f_shape, &fs, "filter_shape") < 0 ||
      parse_shape(o_shape, &os, "output_shape") < 0)
    return NULL;
  skip.thresholds = skipping ? &dummy : NULL;
  skip.group_size = group_size > 0 ? group_size : 1;
  skip.division = UNIT_DIV_EXACT;
  if (kind == 0)
    bytes = minimum ? unit_conv_min_scratch_bytes(&fs, &os, &skip)
                    : unit_conv_scratch_bytes(&fs, &os, &skip);
  else if (kind == 1)
    bytes = minimum ? unit_depthwise_min_scratch_bytes(&fs, &os, &skip)
                    : unit_depthwise_scratch_bytes(&fs, &os, &skip);
  else if (kind == 2) bytes = unit_fc_scratch_bytes(os.c, &skip);
  else if (kind == 3) bytes = unit_fc_sorted_scratch_bytes(os.c, &skip);
  else if (kind == 4) bytes = unit_transpose_conv_scratch_bytes(&os);
  else {
    PyErr_SetString(ext_argument_error, "scratch_bytes: kind must be 0, 1, 2, 3 or 4");
    return NULL;
  }
  return PyLong_FromSize_t(bytes);
}

static PyObject *py_quantize_multiplier(PyObject *self, PyObject *args) {
  double real;
  int32_t multiplier, shift;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "d", &real)) return NULL;
  status = unit_quantize_multiplier(real, &multiplier, &shift);
  if (status != UNIT_OK) return ext_status_error(status, "quantize_multiplier");
  return Py_BuildValue("ii", (int)multiplier, (int)shift);
}

static PyObject *py_multiply_by_quantized_multiplier(PyObject *self, PyObject *args) {
  int x, multiplier, shift;
  if (!PyArg_ParseTuple(args, "iii", &x, &multiplier, &shift)) return NULL;
  if (shift > 30 || shift < -31 || multiplier < 0) {
    PyErr_SetString(ext_argument_error,
                    "multiply_by_quantized_multiplier: multiplier must be >= 0 "
                    "and shift in [-31, 30]");
    return NULL;
  }
  return PyLong_FromLong(unit_multiply_by_quantized_multiplier(x, multiplier, shift));
}

static PyObject *py_compute_out_size(PyObject *self, PyObject *args) {
  int padding, in_size, filter_size, stride, dilation;
  if (!PyArg_ParseTuple(args, "iiiii", &padding, &in_size, &filter_size, &stride,
                        &dilation))
    return NULL;
  return PyLong_FromLong(unit_compute_out_size((unit_padding_t)padding, in_size,
                                               filter_size, stride, dilation));
}

static PyObject *py_compute_padding(PyObject *self, PyObject *args) {
  int stride, dilation, in_size, filter_size, out_size;
  if (!PyArg_ParseTuple(args, "iiiii", &stride, &dilation, &in_size,
                        &filter_size, &out_size))
    return NULL;
  return PyLong_FromLong(
      unit_compute_padding(stride, dilation, in_size, filter_size, out_size));
}

static PyObject *py_activation_range_int8(PyObject *self, PyObject *args) {
  int activation, zero_point;
  float scale;
  int32_t lo, hi;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "ifi", &activation, &scale, &zero_point)) return NULL;
  status = unit_activation_range_int8(activation, scale, zero_point, &lo, &hi);
  if (status != UNIT_OK) return ext_status_error(status, "activation_range_int8");
  return Py_BuildValue("ii", (int)lo, (int)hi);
}

PyMethodDef ext_kernel_methods[] = {
    {"conv_2d_int8", py_conv_2d_int8, METH_VARARGS, "int8 CONV_2D (UnIT)."},
    {"conv_2d_bucketed_int8", py_conv_2d_bucketed_int8, METH_VARARGS,
     "int8 CONV_2D (UnIT), bucketed inputs."},
    {"conv_bucketed_scratch_bytes", py_conv_bucketed_scratch_bytes, METH_VARARGS,
     "Scratch bytes of a bucketed CONV_2D call."},
    {"depthwise_conv_2d_int8", py_depthwise_conv_2d_int8, METH_VARARGS,
     "int8 DEPTHWISE_CONV_2D (UnIT)."},
    {"fully_connected_int8", py_fully_connected_int8, METH_VARARGS,
     "int8 FULLY_CONNECTED (UnIT)."},
    {"fc_sorted_build", py_fc_sorted_build, METH_VARARGS,
     "Sorted FULLY_CONNECTED layout of a filter."},
    {"fc_sorted_check_filter", py_fc_sorted_check_filter, METH_VARARGS,
     "Checks that a sorted FULLY_CONNECTED layout is its filter's."},
    {"fully_connected_sorted_int8", py_fully_connected_sorted_int8, METH_VARARGS,
     "int8 FULLY_CONNECTED (UnIT) on the sorted layout."},
    {"conv_2d_float", py_conv_2d_float, METH_VARARGS, "float32 CONV_2D (UnIT)."},
    {"depthwise_conv_2d_float", py_depthwise_conv_2d_float, METH_VARARGS,
     "float32 DEPTHWISE_CONV_2D (UnIT)."},
    {"fully_connected_float", py_fully_connected_float, METH_VARARGS,
     "float32 FULLY_CONNECTED (UnIT)."},
    {"divide", py_divide, METH_VARARGS, "Elementwise UnIT integer division."},
    {"divide_float", py_divide_float, METH_VARARGS, "Elementwise UnIT float division."},
    {"scratch_bytes", py_scratch_bytes, METH_VARARGS,
     "Scratch bytes of a conv / depthwise / fully connected call."},
    {"quantize_multiplier", py_quantize_multiplier, METH_VARARGS,
     "double -> (Q31 multiplier, shift)."},
    {"multiply_by_quantized_multiplier", py_multiply_by_quantized_multiplier,
     METH_VARARGS, "TFLite's MultiplyByQuantizedMultiplier."},
    {"compute_out_size", py_compute_out_size, METH_VARARGS, "Output size."},
    {"compute_padding", py_compute_padding, METH_VARARGS, "Top/left padding."},
    {"activation_range_int8", py_activation_range_int8, METH_VARARGS,
     "Fused activation clamp range of an int8 tensor."},
    {NULL, NULL, 0, NULL}};
