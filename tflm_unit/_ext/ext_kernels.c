/* Bindings of the UnIT kernels (conv, depthwise, fully connected). */
#include "ext_common.h"

PyMethodDef ext_kernel_methods[] = {
    {NULL, NULL, 0, NULL}};
