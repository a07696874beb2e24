/* Bindings of the non-UnIT int8 ops (pooling, add, softmax, ...). */
#include "ext_common.h"

PyMethodDef ext_ops_methods[] = {
    {NULL, NULL, 0, NULL}};
