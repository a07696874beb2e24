/* tflm_unit._fast: the host-only fast MAC kernels (fast_kernels.c) as a
 * CPython module.  Typed use: tflm_unit/runtime/fast.py.  Every buffer size
 * is checked here, so a wrong call raises ValueError instead of reading past
 * a buffer; the kernels run with the GIL released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "fast_kernels.h"

typedef struct {
  Py_buffer view;
  int held;
} buf_t;

static int get_buffer(PyObject *obj, buf_t *b, Py_ssize_t count,
                      Py_ssize_t item, int writable, int optional,
                      const char *name) {
  b->held = 0;
  if (obj == Py_None && optional) return 0;
  if (PyObject_GetBuffer(obj, &b->view,
                         PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "'%s' must be a contiguous%s buffer", name,
                 writable ? " writable" : "");
    return -1;
  }
  b->held = 1;
  if (b->view.len < count * item) {
    PyErr_Format(PyExc_ValueError, "buffer '%s' holds %zd bytes, %zd needed",
                 name, b->view.len, count * item);
    return -1;
  }
  return 0;
}

static void release(buf_t *bufs, int n) {
  int i;
  for (i = 0; i < n; ++i)
    if (bufs[i].held) PyBuffer_Release(&bufs[i].view), bufs[i].held = 0;
}

static void *data(buf_t *b) { return b->held ? b->view.buf : NULL; }

/* (batches, in_h, in_w, in_c, k_h, k_w, out_h, out_w, out_c, stride_h,
 *  stride_w, dilation_h, dilation_w, pad_h, pad_w, depth_multiplier,
 *  input_offset, output_offset, act_min, act_max) */
static int parse_geometry(PyObject *t, fast_conv_t *g) {
  if (!PyTuple_Check(t) ||
      !PyArg_ParseTuple(t, "iiiiiiiiiiiiiiiiiiii", &g->batches, &g->in_h,
                        &g->in_w, &g->in_c, &g->k_h, &g->k_w, &g->out_h,
                        &g->out_w, &g->out_c, &g->stride_h, &g->stride_w,
                        &g->dilation_h, &g->dilation_w, &g->pad_h, &g->pad_w,
                        &g->depth_multiplier, &g->input_offset,
                        &g->output_offset, &g->act_min, &g->act_max)) {
    PyErr_Clear();
    PyErr_SetString(PyExc_ValueError, "geometry must be a tuple of 20 ints");
    return -1;
  }
  if (g->batches <= 0 || g->in_h <= 0 || g->in_w <= 0 || g->in_c <= 0 ||
      g->k_h <= 0 || g->k_w <= 0 || g->out_h <= 0 || g->out_w <= 0 ||
      g->out_c <= 0 || g->stride_h <= 0 || g->stride_w <= 0 ||
      g->dilation_h <= 0 || g->dilation_w <= 0 || g->pad_h < 0 ||
      g->pad_w < 0 || g->depth_multiplier <= 0 || g->input_offset < -127 ||
      g->input_offset > 128) {
    PyErr_SetString(PyExc_ValueError, "geometry: non-positive size or input offset outside [-127, 128]");
    return -1;
  }
  return 0;
}

static Py_ssize_t conv_depth(const fast_conv_t *g) {
  return (Py_ssize_t)g->k_h * g->k_w * g->in_c;
}

static PyObject *py_padded_depth(PyObject *self, PyObject *args) {
  int depth;
  if (!PyArg_ParseTuple(args, "i", &depth)) return NULL;
  if (depth <= 0) {
    PyErr_SetString(PyExc_ValueError, "depth must be positive");
    return NULL;
  }
  return PyLong_FromLong(fast_padded_depth(depth));
}

/* scratch_bytes(depthwise, geometry) -> bytes per thread */
static PyObject *py_scratch_bytes(PyObject *self, PyObject *args) {
  int depthwise;
  PyObject *geometry;
  fast_conv_t g;
  if (!PyArg_ParseTuple(args, "pO", &depthwise, &geometry) ||
      parse_geometry(geometry, &g) < 0)
    return NULL;
  return PyLong_FromSize_t(
      depthwise ? fast_depthwise_thread_scratch(&g)
                : fast_conv_thread_scratch(&g, fast_padded_depth((int32_t)conv_depth(&g))));
}

/* skip_table(kind, filter, out_c, depth, kp, thresholds, group_size,
 *   division, s): kind 0 conv ([out_c][depth] -> s [out_c][kp]),
 *   1 depthwise (filter [depth = taps][out_c] -> s same layout),
 *   2 fully connected.  Returns True, or False if not expressible. */
static PyObject *py_skip_table(PyObject *self, PyObject *args) {
  int kind, out_c, depth, kp, group_size, division, status = 0;
  PyObject *o_filter, *o_thresh, *o_s;
  buf_t b[3];
  if (!PyArg_ParseTuple(args, "iOiiiOiiO", &kind, &o_filter, &out_c, &depth,
                        &kp, &o_thresh, &group_size, &division, &o_s))
    return NULL;
  if (kind < 0 || kind > 2 || out_c <= 0 || depth <= 0 || group_size <= 0 ||
      out_c % group_size != 0 || division < 0 || division > 3 ||
      (kind != 1 && kp < depth)) {
    PyErr_SetString(PyExc_ValueError, "skip_table: bad sizes, group or division");
    return NULL;
  }
  if (kind == 1) kp = depth;
  memset(b, 0, sizeof(b));
  if (get_buffer(o_filter, &b[0], (Py_ssize_t)out_c * depth, 1, 0, 0, "filter") < 0 ||
      get_buffer(o_thresh, &b[1], out_c / group_size, 2, 0, 0, "thresholds") < 0 ||
      get_buffer(o_s, &b[2], (Py_ssize_t)out_c * kp, 2, 1, 0, "s") < 0) {
    release(b, 3);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  if (kind == 0)
    status = fast_conv_skip_table(data(&b[0]), out_c, depth, kp, data(&b[1]),
                                  group_size, (unit_division_t)division, data(&b[2]));
  else if (kind == 1)
    status = fast_depthwise_skip_table(data(&b[0]), depth, out_c, data(&b[1]),
                                       group_size, (unit_division_t)division,
                                       data(&b[2]));
  else
    status = fast_fc_skip_table(data(&b[0]), out_c, depth, kp, data(&b[1]),
                                group_size, (unit_division_t)division, data(&b[2]));
  Py_END_ALLOW_THREADS
  release(b, 3);
  return PyBool_FromLong(status == 0);
}

/* conv_int8 / depthwise_int8(geometry, input, w16, s, bias, multiplier,
 *   shift, output, channel_executed, scratch, threads[, simd]) ->
 *   macs_executed.  conv with simd > 0: w16 / s packed for fast_simd.c. */
static PyObject *run(PyObject *args, int depthwise) {
  PyObject *geometry, *obj[10];
  fast_conv_t g;
  buf_t b[10];
  int threads, simd = 0;
  int32_t kp = 0;
  Py_ssize_t w_count, in_count, out_count, scratch_count;
  uint64_t executed = 0;
  if (!PyArg_ParseTuple(args, "OOOOOOOOOOi|i", &geometry, &obj[0], &obj[1],
                        &obj[2], &obj[3], &obj[4], &obj[5], &obj[6], &obj[7],
                        &obj[8], &threads, &simd) ||
      parse_geometry(geometry, &g) < 0)
    return NULL;
  if (threads < 1) threads = 1;
  if (threads > 8) threads = 8;
  if (depthwise) {
    w_count = (Py_ssize_t)g.k_h * g.k_w * g.out_c;
    scratch_count = (Py_ssize_t)fast_depthwise_thread_scratch(&g) * threads;
    if (g.out_c != g.in_c * g.depth_multiplier) {
      PyErr_SetString(PyExc_ValueError, "depthwise: out_c != in_c * depth_multiplier");
      return NULL;
    }
  } else {
    kp = fast_padded_depth((int32_t)conv_depth(&g));
    if (kp > 65504) { /* the per-position executed count is 16 bits */
      PyErr_SetString(PyExc_ValueError, "conv: depth above 65504");
      return NULL;
    }
    if (simd == FAST_SIMD_U8 && (fast_simd_level() < 2 || obj[2] != Py_None)) {
      PyErr_SetString(PyExc_ValueError, "conv: the uint8 tiles need VNNI and run dense only");
      return NULL;
    }
    if (simd == FAST_SIMD_UNIT_U8 && (fast_simd_level() < 2 || obj[2] == Py_None)) {
      PyErr_SetString(PyExc_ValueError, "conv: the uint8 UnIT tiles need VNNI and skip bounds");
      return NULL;
    }
    if (simd != 0 && (simd < 0 || (simd > fast_simd_level() && !FAST_U8_TILE(simd)) || kp > 16383)) {
      PyErr_SetString(PyExc_ValueError, "conv: simd level not available here (or depth above 16383)");
      return NULL;
    }
    /* packed layout: channels padded to 16 */
    w_count = (Py_ssize_t)(simd ? (g.out_c + 15) / 16 * 16 : g.out_c) * kp;
    if (FAST_U8_TILE(simd)) w_count /= 2; /* int8 weights (uint8 bounds) in buffers counted as int16 */
    scratch_count = (Py_ssize_t)fast_conv_thread_scratch(&g, kp) * threads;
  }
  in_count = (Py_ssize_t)g.batches * g.in_h * g.in_w * g.in_c;
  out_count = (Py_ssize_t)g.batches * g.out_h * g.out_w * g.out_c;
  memset(b, 0, sizeof(b));
  if (get_buffer(obj[0], &b[0], in_count, 1, 0, 0, "input") < 0 ||
      get_buffer(obj[1], &b[1], w_count, 2, 0, 0, "w16") < 0 ||
      get_buffer(obj[2], &b[2], w_count, 2, 0, 1, "s") < 0 ||
      get_buffer(obj[3], &b[3], g.out_c, 4, 0, 1, "bias") < 0 ||
      get_buffer(obj[4], &b[4], g.out_c, 4, 0, 0, "multiplier") < 0 ||
      get_buffer(obj[5], &b[5], g.out_c, 4, 0, 0, "shift") < 0 ||
      get_buffer(obj[6], &b[6], out_count, 1, 1, 0, "output") < 0 ||
      get_buffer(obj[7], &b[7], g.out_c, 8, 1, 0, "channel_executed") < 0 ||
      get_buffer(obj[8], &b[8], scratch_count + 64, 1, 1, 0, "scratch") < 0) {
    release(b, 10);
    return NULL;
  }
  {
    /* the kernels want 64-byte aligned scratch: the buffer has 64 spare bytes */
    uint8_t *scratch = (uint8_t *)data(&b[8]);
    scratch += (64u - ((uintptr_t)scratch & 63u)) & 63u;
    Py_BEGIN_ALLOW_THREADS
    if (depthwise)
      executed = fast_depthwise_int8(&g, data(&b[0]), data(&b[1]), data(&b[2]),
                                     data(&b[3]), data(&b[4]), data(&b[5]),
                                     data(&b[6]), data(&b[7]), scratch, threads);
    else
      executed = fast_conv_int8(&g, kp, simd, data(&b[0]), data(&b[1]), data(&b[2]),
                                data(&b[3]), data(&b[4]), data(&b[5]),
                                data(&b[6]), data(&b[7]), scratch, threads);
    Py_END_ALLOW_THREADS
  }
  release(b, 10);
  return PyLong_FromUnsignedLongLong((unsigned long long)executed);
}

static PyObject *py_conv_int8(PyObject *self, PyObject *args) { return run(args, 0); }
static PyObject *py_depthwise_int8(PyObject *self, PyObject *args) { return run(args, 1); }

/* lookup2_int8(a, b, table, out, threads): out = table[a, b] element-wise
 * (a, b, out of the same size; table 65536 int8). */
static PyObject *py_lookup2_int8(PyObject *self, PyObject *args) {
  PyObject *obj[4];
  buf_t b[4];
  int threads;
  Py_ssize_t n;
  if (!PyArg_ParseTuple(args, "OOOOi", &obj[0], &obj[1], &obj[2], &obj[3], &threads))
    return NULL;
  memset(b, 0, sizeof(b));
  if (get_buffer(obj[3], &b[3], 0, 1, 1, 0, "out") < 0) {
    release(b, 4);
    return NULL;
  }
  n = b[3].view.len;
  if (get_buffer(obj[0], &b[0], n, 1, 0, 0, "a") < 0 ||
      get_buffer(obj[1], &b[1], n, 1, 0, 0, "b") < 0 ||
      get_buffer(obj[2], &b[2], 65536, 1, 0, 0, "table") < 0) {
    release(b, 4);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  fast_lookup2_int8(data(&b[0]), data(&b[1]), data(&b[2]), data(&b[3]), (size_t)n, threads);
  Py_END_ALLOW_THREADS
  release(b, 4);
  Py_RETURN_NONE;
}

static PyObject *py_requantize_int8(PyObject *self, PyObject *args) {
  PyObject *obj[4];
  buf_t b[4];
  int offset, act_min, act_max;
  Py_ssize_t n;
  if (!PyArg_ParseTuple(args, "OOOiiiO", &obj[0], &obj[1], &obj[2], &offset, &act_min, &act_max, &obj[3]))
    return NULL;
  memset(b, 0, sizeof(b));
  if (get_buffer(obj[3], &b[3], 0, 1, 1, 0, "out") < 0) {
    release(b, 4);
    return NULL;
  }
  n = b[3].view.len;
  if (get_buffer(obj[0], &b[0], n, 4, 0, 0, "acc") < 0 ||
      get_buffer(obj[1], &b[1], n, 4, 0, 0, "multiplier") < 0 ||
      get_buffer(obj[2], &b[2], n, 4, 0, 0, "shift") < 0) {
    release(b, 4);
    return NULL;
  }
  fast_requantize_int8(data(&b[0]), data(&b[1]), data(&b[2]), offset, act_min, act_max, data(&b[3]), (size_t)n);
  release(b, 4);
  Py_RETURN_NONE;
}

/* pool_int8((batches, in_h, in_w, c, filter_h, filter_w, stride_h, stride_w,
 * out_h, out_w, act_min, act_max, average), x, out, scratch, threads) */
static PyObject *py_pool_int8(PyObject *self, PyObject *args) {
  PyObject *geometry, *obj[3];
  buf_t b[3];
  fast_pool_t g;
  int threads;
  if (!PyArg_ParseTuple(args, "OOOOi", &geometry, &obj[0], &obj[1], &obj[2], &threads)) return NULL;
  if (!PyTuple_Check(geometry) ||
      !PyArg_ParseTuple(geometry, "iiiiiiiiiiiii", &g.batches, &g.in_h, &g.in_w, &g.c, &g.filter_h,
                        &g.filter_w, &g.stride_h, &g.stride_w, &g.out_h, &g.out_w, &g.act_min,
                        &g.act_max, &g.average)) {
    PyErr_Clear();
    PyErr_SetString(PyExc_ValueError, "pool geometry must be a tuple of 13 ints");
    return NULL;
  }
  if (g.batches <= 0 || g.in_h <= 0 || g.in_w <= 0 || g.c <= 0 || g.filter_h <= 0 ||
      g.filter_w <= 0 || g.stride_h <= 0 || g.stride_w <= 0 || g.out_h <= 0 || g.out_w <= 0 ||
      (int64_t)(g.out_h - 1) * g.stride_h + g.filter_h > g.in_h ||
      (int64_t)(g.out_w - 1) * g.stride_w + g.filter_w > g.in_w ||
      (int64_t)g.filter_h * g.filter_w > 65536 || g.act_min < -128 || g.act_max > 127 ||
      g.act_min > g.act_max || threads < 1) {
    PyErr_SetString(PyExc_ValueError, "pool geometry: a window outside the input or a bad size / clamp");
    return NULL;
  }
  memset(b, 0, sizeof(b));
  if (get_buffer(obj[0], &b[0], (Py_ssize_t)g.batches * g.in_h * g.in_w * g.c, 1, 0, 0, "x") < 0 ||
      get_buffer(obj[1], &b[1], (Py_ssize_t)g.batches * g.out_h * g.out_w * g.c, 1, 1, 0, "out") < 0 ||
      get_buffer(obj[2], &b[2], (Py_ssize_t)fast_pool_thread_scratch(&g) * (threads > 8 ? 8 : threads), 1, 1,
                 0, "scratch") < 0) {
    release(b, 3);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  fast_pool_int8(&g, data(&b[0]), data(&b[1]), data(&b[2]), threads);
  Py_END_ALLOW_THREADS
  release(b, 3);
  Py_RETURN_NONE;
}

static PyObject *py_simd_level(PyObject *self, PyObject *args) {
  return PyLong_FromLong(fast_simd_level());
}

static PyMethodDef fast_methods[] = {
    {"simd_level", py_simd_level, METH_NOARGS, "0: portable tiles, 1: AVX-512BW, 2: AVX-512 VNNI"},
    {"padded_depth", py_padded_depth, METH_VARARGS, "im2col depth rounded up to the tile alignment"},
    {"scratch_bytes", py_scratch_bytes, METH_VARARGS, "scratch bytes one thread needs"},
    {"skip_table", py_skip_table, METH_VARARGS, "per-weight skip bounds from the thresholds"},
    {"conv_int8", py_conv_int8, METH_VARARGS, "tiled int8 conv / fully connected"},
    {"lookup2_int8", py_lookup2_int8, METH_VARARGS, "element-wise int8 op of two tensors by table"},
    {"pool_int8", py_pool_int8, METH_VARARGS, "int8 max / average pool over in-bounds windows"},
    {"requantize_int8", py_requantize_int8, METH_VARARGS, "the tiles' requantisation (for its test)"},
    {"depthwise_int8", py_depthwise_int8, METH_VARARGS, "int8 depthwise conv"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef fast_module = {
    PyModuleDef_HEAD_INIT, "_fast",
    "Host-only fast int8 MAC kernels; use tflm_unit.runtime.fast instead.", -1,
    fast_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fast(void) {
  PyObject *module = PyModule_Create(&fast_module);
  if (module == NULL) return NULL;
  if (PyModule_AddIntConstant(module, "TILE", FAST_TILE) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  return module;
}
