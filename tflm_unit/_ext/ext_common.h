/* Shared helpers of the CPython extension tflm_unit._core: buffer checks so
 * that a wrong size from Python is a ValueError, never a read past a buffer.
 * The typed, shape-checked API is in tflm_unit/core (Python); this layer only
 * moves buffers into the C core. */
#ifndef TFLM_UNIT_EXT_COMMON_H_
#define TFLM_UNIT_EXT_COMMON_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "unit_core.h"

/* Raise ValueError unless buf holds at least `count` items of `item_size`
 * bytes; returns 0 on success, -1 with an exception set. */
static inline int ext_check_buffer(const Py_buffer *buf, Py_ssize_t count,
                                   Py_ssize_t item_size, const char *name) {
  if (count < 0 || buf->len < count * item_size) {
    PyErr_Format(PyExc_ValueError,
                 "buffer '%s' holds %zd bytes, %zd needed", name, buf->len,
                 count * item_size);
    return -1;
  }
  return 0;
}

/* Raise the Python exception matching a core status; returns NULL. */
static inline PyObject *ext_status_error(unit_status_t status, const char *op) {
  const char *why = "unknown error";
  switch (status) {
    case UNIT_OK: why = "ok"; break;
    case UNIT_ERR_ARG: why = "invalid argument"; break;
    case UNIT_ERR_GROUP: why = "group size does not divide the channel count"; break;
    case UNIT_ERR_SCRATCH: why = "scratch buffer too small"; break;
    case UNIT_ERR_DIVISION: why = "unknown division mode"; break;
    case UNIT_ERR_SHAPE: why = "inconsistent shapes"; break;
  }
  PyErr_Format(PyExc_ValueError, "%s: %s", op, why);
  return NULL;
}

/* Method tables contributed by each binding file. */
extern PyMethodDef ext_kernel_methods[];
extern PyMethodDef ext_ops_methods[];
extern PyMethodDef ext_layout_methods[];

#endif
