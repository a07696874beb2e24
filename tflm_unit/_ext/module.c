/* tflm_unit._core: the C kernel core (custom_ops/core) as a CPython module. */
#include "ext_common.h"

PyObject *ext_argument_error = NULL;

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "_core",
    "tflm-unit C kernel core (custom_ops/core); use tflm_unit.core instead.",
    -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__core(void) {
  PyObject *module, *errors;
  errors = PyImport_ImportModule("tflm_unit.errors");
  if (errors == NULL) return NULL;
  Py_XDECREF(ext_argument_error);
  ext_argument_error = PyObject_GetAttrString(errors, "KernelArgumentError");
  Py_DECREF(errors);
  if (ext_argument_error == NULL) return NULL;
  module = PyModule_Create(&core_module);
  if (module == NULL) return NULL;
  if (PyModule_AddFunctions(module, ext_kernel_methods) < 0 ||
      PyModule_AddFunctions(module, ext_ops_methods) < 0 ||
      PyModule_AddFunctions(module, ext_layout_methods) < 0 ||
      PyModule_AddFunctions(module, ext_activation_methods) < 0 ||
      PyModule_AddIntConstant(module, "FORMAT_VERSION", UNIT_FORMAT_VERSION) < 0 ||
      PyModule_AddIntConstant(module, "LAYOUT_FORMAT_VERSION", UNIT_LAYOUT_FORMAT_VERSION) < 0 ||
      PyModule_AddIntConstant(module, "LAYOUT_TENSORS_FORMAT_VERSION", UNIT_LAYOUT_TENSORS_FORMAT_VERSION) < 0 ||
      PyModule_AddIntConstant(module, "COUNTERS", UNIT_COUNTERS) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  return module;
}
