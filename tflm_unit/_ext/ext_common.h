/* Shared helpers of the CPython extension tflm_unit._core: buffer checks so
 * that a wrong size from Python is a KernelArgumentError, never a read past
 * a buffer.
 * The typed, shape-checked API is in tflm_unit/core (Python); this layer only
 * moves buffers into the C core. */
#ifndef TFLM_UNIT_EXT_COMMON_H_
#define TFLM_UNIT_EXT_COMMON_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "unit_core.h"

/* tflm_unit.errors.KernelArgumentError (a ValueError), looked up once at
 * module init: every bad argument this layer or the core detects raises it. */
extern PyObject *ext_argument_error;

/* A sequence of Python ints into `out` (at most max_count, each in int32);
 * the count, or -1 with ext_argument_error set (ext_ops.c). */
Py_ssize_t ext_int32_sequence(PyObject *obj, int32_t *out, Py_ssize_t max_count,
                              const char *name);

/* Exactly `count` ints into `out` (0), else -1 with the error set; a tuple
 * of ints; the product of positive dims (-1 with the error set).  ext_ops.c. */
int ext_int32_exact(PyObject *obj, int32_t *out, Py_ssize_t count,
                    const char *name);
PyObject *ext_int32_tuple(const int32_t *values, Py_ssize_t count);
Py_ssize_t ext_element_count(const int32_t *dims, Py_ssize_t num_dims,
                             const char *name);

/* Raise KernelArgumentError unless buf holds at least `count` items of
 * `item_size` bytes; returns 0 on success, -1 with an exception set. */
static inline int ext_check_buffer(const Py_buffer *buf, Py_ssize_t count,
                                   Py_ssize_t item_size, const char *name) {
  if (count < 0 || (item_size > 0 && count > PY_SSIZE_T_MAX / item_size) ||
      buf->len < count * item_size) {
    PyErr_Format(ext_argument_error,
                 "buffer '%s' holds %zd bytes, %zd items of %zd bytes needed",
                 name, buf->len, count, item_size);
    return -1;
  }
  return 0;
}

/* Raise KernelArgumentError for a non-zero core status, with the status'
 * name and description in the message and as the exception's `status`
 * (int) and `status_name` attributes; returns NULL. */
static inline PyObject *ext_status_error(unit_status_t status, const char *op) {
  PyObject *type, *value, *traceback, *code, *name;
  PyErr_Format(ext_argument_error, "%s: the kernel core refused the call: %s (%s)",
               op, unit_status_name(status), unit_status_message(status));
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (value != NULL) {
    code = PyLong_FromLong((long)status);
    name = PyUnicode_FromString(unit_status_name(status));
    if (code != NULL) PyObject_SetAttrString(value, "status", code);
    if (name != NULL) PyObject_SetAttrString(value, "status_name", name);
    Py_XDECREF(code);
    Py_XDECREF(name);
    PyErr_Clear();
  }
  PyErr_Restore(type, value, traceback);
  return NULL;
}

/* Method tables contributed by each binding file. */
extern PyMethodDef ext_kernel_methods[];
extern PyMethodDef ext_ops_methods[];
extern PyMethodDef ext_layout_methods[];
extern PyMethodDef ext_activation_methods[];

#endif
