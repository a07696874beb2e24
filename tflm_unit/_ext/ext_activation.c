/* Bindings of the activation / element-wise ops of
 * custom_ops/core/unit_activation.h.  Parameter structs travel as tuples of
 * their int32 fields in declaration order (the typed wrappers are in
 * tflm_unit/core/activation_ops.py); buffers are checked against the
 * element counts their shapes imply before the core runs. */
#include "ext_common.h"
#include "unit_activation.h"

#define ACT_UNARY_FIELDS 11
#define ACT_BINARY_FIELDS 15

/* Both structs hold int32_t fields only, so they are int32 arrays. */
typedef char act_unary_size_check[sizeof(unit_unary_params_t) ==
                                          ACT_UNARY_FIELDS * sizeof(int32_t)
                                      ? 1
                                      : -1];
typedef char act_binary_size_check[sizeof(unit_binary_params_t) ==
                                           ACT_BINARY_FIELDS * sizeof(int32_t)
                                       ? 1
                                       : -1];

/* Which prepare: the op names of tflm_unit.core.activation_ops. */
enum { ACT_LOGISTIC = 0, ACT_TANH, ACT_HARD_SWISH, ACT_LEAKY_RELU, ACT_RELU };

/* unary_prepare(op, input_scale, input_zp, output_scale, output_zp, alpha,
 *   activation) -> params tuple */
static PyObject *act_unary_prepare(PyObject *self, PyObject *args) {
  int op, izp, ozp, activation;
  float is, os, alpha;
  unit_unary_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "ififif" "i", &op, &is, &izp, &os, &ozp, &alpha,
                        &activation))
    return NULL;
  switch (op) {
    case ACT_LOGISTIC:
      status = unit_logistic_prepare_int8(is, izp, ozp, &p);
      break;
    case ACT_TANH:
      status = unit_tanh_prepare_int8(is, izp, &p);
      break;
    case ACT_HARD_SWISH:
      status = unit_hard_swish_prepare_int8(is, izp, os, ozp, &p);
      break;
    case ACT_LEAKY_RELU:
      status = unit_leaky_relu_prepare_int8(is, izp, alpha, os, ozp, &p);
      break;
    case ACT_RELU:
      status = unit_relu_prepare_int8(activation, is, izp, os, ozp, &p);
      break;
    default:
      PyErr_Format(ext_argument_error, "unary_prepare: unknown op %d", op);
      return NULL;
  }
  if (status != UNIT_OK) return ext_status_error(status, "unary_prepare_int8");
  return ext_int32_tuple((const int32_t *)&p, ACT_UNARY_FIELDS);
}

static int act_unary_params(PyObject *obj, unit_unary_params_t *p) {
  return ext_int32_exact(obj, (int32_t *)p, ACT_UNARY_FIELDS, "params");
}

/* unary_table(params) -> bytes of 256 int8 */
static PyObject *act_unary_table(PyObject *self, PyObject *args) {
  PyObject *params_obj;
  unit_unary_params_t p;
  int8_t table[256];
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "O", &params_obj)) return NULL;
  if (act_unary_params(params_obj, &p) < 0) return NULL;
  status = unit_unary_table_int8(&p, table);
  if (status != UNIT_OK) return ext_status_error(status, "unary_table_int8");
  return PyBytes_FromStringAndSize((const char *)table, 256);
}

/* unary_int8(params, input, output) */
static PyObject *act_unary_int8(PyObject *self, PyObject *args) {
  PyObject *params_obj;
  Py_buffer in, out;
  unit_unary_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "Oy*w*", &params_obj, &in, &out)) return NULL;
  if (act_unary_params(params_obj, &p) < 0 ||
      ext_check_buffer(&out, in.len, 1, "output") < 0 || in.len > INT32_MAX) {
    if (!PyErr_Occurred())
      PyErr_SetString(ext_argument_error, "unary_int8: input too large");
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  status = unit_unary_int8(&p, (int32_t)in.len, (const int8_t *)in.buf,
                           (int8_t *)out.buf);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (status != UNIT_OK) return ext_status_error(status, "unary_int8");
  Py_RETURN_NONE;
}

/* lut_int8(table, input, output) */
static PyObject *act_lut_int8(PyObject *self, PyObject *args) {
  Py_buffer table, in, out;
  unit_status_t status = UNIT_OK;
  if (!PyArg_ParseTuple(args, "y*y*w*", &table, &in, &out)) return NULL;
  if (ext_check_buffer(&table, 256, 1, "table") < 0 ||
      ext_check_buffer(&out, in.len, 1, "output") < 0 || in.len > INT32_MAX) {
    if (!PyErr_Occurred())
      PyErr_SetString(ext_argument_error, "lut_int8: input too large");
  } else {
    Py_BEGIN_ALLOW_THREADS
    status = unit_lut_int8((const int8_t *)table.buf, (int32_t)in.len,
                           (const int8_t *)in.buf, (int8_t *)out.buf);
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&table);
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (PyErr_Occurred()) return NULL;
  if (status != UNIT_OK) return ext_status_error(status, "lut_int8");
  Py_RETURN_NONE;
}

/* unary_float(kind, alpha, lo, hi, input, output) */
static PyObject *act_unary_float(PyObject *self, PyObject *args) {
  int kind;
  float alpha, lo, hi;
  Py_buffer in, out;
  Py_ssize_t n;
  unit_status_t status = UNIT_OK;
  if (!PyArg_ParseTuple(args, "ifffy*w*", &kind, &alpha, &lo, &hi, &in, &out))
    return NULL;
  n = in.len / (Py_ssize_t)sizeof(float);
  if (ext_check_buffer(&out, n, sizeof(float), "output") < 0 || n > INT32_MAX) {
    if (!PyErr_Occurred())
      PyErr_SetString(ext_argument_error, "unary_float: input too large");
  } else {
    Py_BEGIN_ALLOW_THREADS
    status = unit_unary_float(kind, alpha, lo, hi, (int32_t)n,
                              (const float *)in.buf, (float *)out.buf);
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&in);
  PyBuffer_Release(&out);
  if (PyErr_Occurred()) return NULL;
  if (status != UNIT_OK) return ext_status_error(status, "unary_float");
  Py_RETURN_NONE;
}

/* binary_prepare(kind, s1, zp1, s2, zp2, so, zpo, activation) -> tuple */
static PyObject *act_binary_prepare(PyObject *self, PyObject *args) {
  int kind, z1, z2, zo, activation;
  float s1, s2, so;
  unit_binary_params_t p;
  unit_status_t status;
  if (!PyArg_ParseTuple(args, "ififif" "ii", &kind, &s1, &z1, &s2, &z2, &so, &zo,
                        &activation))
    return NULL;
  status = unit_binary_prepare_int8(kind, s1, z1, s2, z2, so, zo, activation,
                                    &p);
  if (status != UNIT_OK) return ext_status_error(status, "binary_prepare_int8");
  return ext_int32_tuple((const int32_t *)&p, ACT_BINARY_FIELDS);
}

/* The three shapes (same rank 1..6) and element counts of a binary call. */
static int act_binary_shapes(PyObject *d1, PyObject *d2, PyObject *d3,
                             int32_t *dims1, int32_t *dims2, int32_t *dims_out,
                             Py_ssize_t *n, Py_ssize_t counts[3]) {
  Py_ssize_t n1, n2, no;
  if ((n1 = ext_int32_sequence(d1, dims1, UNIT_MAX_DIMS, "input1_dims")) < 0 ||
      (n2 = ext_int32_sequence(d2, dims2, UNIT_MAX_DIMS, "input2_dims")) < 0 ||
      (no = ext_int32_sequence(d3, dims_out, UNIT_MAX_DIMS, "output_dims")) < 0)
    return -1;
  if (n1 != no || n2 != no || no < 1) {
    PyErr_SetString(ext_argument_error,
                    "input1_dims, input2_dims and output_dims need the same "
                    "number (1..6) of dims");
    return -1;
  }
  *n = no;
  if ((counts[0] = ext_element_count(dims1, n1, "input1_dims")) < 0 ||
      (counts[1] = ext_element_count(dims2, n2, "input2_dims")) < 0 ||
      (counts[2] = ext_element_count(dims_out, no, "output_dims")) < 0)
    return -1;
  return 0;
}

/* binary_int8(params, dims1, in1, dims2, in2, dims_out, out) */
static PyObject *act_binary_int8(PyObject *self, PyObject *args) {
  PyObject *params_obj, *d1, *d2, *d3;
  Py_buffer in1, in2, out;
  int32_t dims1[UNIT_MAX_DIMS], dims2[UNIT_MAX_DIMS], dims_out[UNIT_MAX_DIMS];
  Py_ssize_t n, counts[3];
  unit_binary_params_t p;
  unit_status_t status = UNIT_OK;
  if (!PyArg_ParseTuple(args, "OOy*Oy*Ow*", &params_obj, &d1, &in1, &d2, &in2,
                        &d3, &out))
    return NULL;
  if (ext_int32_exact(params_obj, (int32_t *)&p, ACT_BINARY_FIELDS,
                      "params") == 0 &&
      act_binary_shapes(d1, d2, d3, dims1, dims2, dims_out, &n, counts) == 0 &&
      ext_check_buffer(&in1, counts[0], 1, "input1") == 0 &&
      ext_check_buffer(&in2, counts[1], 1, "input2") == 0 &&
      ext_check_buffer(&out, counts[2], 1, "output") == 0) {
    Py_BEGIN_ALLOW_THREADS
    status = unit_binary_int8(&p, (int32_t)n, dims1, (const int8_t *)in1.buf,
                              dims2, (const int8_t *)in2.buf, dims_out,
                              (int8_t *)out.buf);
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&in1);
  PyBuffer_Release(&in2);
  PyBuffer_Release(&out);
  if (PyErr_Occurred()) return NULL;
  if (status != UNIT_OK) return ext_status_error(status, "binary_int8");
  Py_RETURN_NONE;
}

/* binary_float(kind, act_min, act_max, dims1, in1, dims2, in2, dims_out, out) */
static PyObject *act_binary_float(PyObject *self, PyObject *args) {
  PyObject *d1, *d2, *d3;
  Py_buffer in1, in2, out;
  int kind;
  float lo, hi;
  int32_t dims1[UNIT_MAX_DIMS], dims2[UNIT_MAX_DIMS], dims_out[UNIT_MAX_DIMS];
  Py_ssize_t n, counts[3];
  unit_status_t status = UNIT_OK;
  if (!PyArg_ParseTuple(args, "iffOy*Oy*Ow*", &kind, &lo, &hi, &d1, &in1, &d2,
                        &in2, &d3, &out))
    return NULL;
  if (act_binary_shapes(d1, d2, d3, dims1, dims2, dims_out, &n, counts) == 0 &&
      ext_check_buffer(&in1, counts[0], sizeof(float), "input1") == 0 &&
      ext_check_buffer(&in2, counts[1], sizeof(float), "input2") == 0 &&
      ext_check_buffer(&out, counts[2], sizeof(float), "output") == 0) {
    Py_BEGIN_ALLOW_THREADS
    status = unit_binary_float(kind, lo, hi, (int32_t)n, dims1,
                               (const float *)in1.buf, dims2,
                               (const float *)in2.buf, dims_out,
                               (float *)out.buf);
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&in1);
  PyBuffer_Release(&in2);
  PyBuffer_Release(&out);
  if (PyErr_Occurred()) return NULL;
  if (status != UNIT_OK) return ext_status_error(status, "binary_float");
  Py_RETURN_NONE;
}

PyMethodDef ext_activation_methods[] = {
    {"unary_prepare", act_unary_prepare, METH_VARARGS,
     "unary_prepare(op, input_scale, input_zp, output_scale, output_zp, alpha, "
     "activation) -> params"},
    {"unary_table", act_unary_table, METH_VARARGS,
     "unary_table(params) -> 256 bytes"},
    {"unary_int8", act_unary_int8, METH_VARARGS,
     "unary_int8(params, input, output)"},
    {"lut_int8", act_lut_int8, METH_VARARGS, "lut_int8(table, input, output)"},
    {"unary_float", act_unary_float, METH_VARARGS,
     "unary_float(kind, alpha, lo, hi, input, output)"},
    {"binary_prepare", act_binary_prepare, METH_VARARGS,
     "binary_prepare(kind, s1, zp1, s2, zp2, so, zpo, activation) -> params"},
    {"binary_int8", act_binary_int8, METH_VARARGS,
     "binary_int8(params, dims1, in1, dims2, in2, dims_out, out)"},
    {"binary_float", act_binary_float, METH_VARARGS,
     "binary_float(kind, act_min, act_max, dims1, in1, dims2, in2, dims_out, "
     "out)"},
    {NULL, NULL, 0, NULL}};
