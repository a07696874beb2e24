// tflm-unit: TensorFlow Lite Micro registrations of the UnIT custom ops.
//
//   UNIT_CONV_2D, UNIT_DEPTHWISE_CONV_2D, UNIT_FULLY_CONNECTED
//
// Each op takes the builtin op's inputs (input, filter, optional bias) plus a
// constant thresholds tensor [C_out / group_size] (int16 T_q for int8 models,
// float32 T for float32 models) and skips every MAC with |x * w| <= T.  The
// options (padding, strides, ..., division, group_size) come from the
// flexbuffer `custom_options` the tflm-unit converter writes.  All arithmetic
// is in custom_ops/core (C99); these adapters only validate and dispatch.
//
// Usage in firmware:
//
//   #include "tflm/unit_ops.h"   // include root: the custom_ops directory
//   static tflite::MicroMutableOpResolver<8> resolver;
//   resolver.AddMaxPool2D();  ...                    // the builtin ops
//   tflm_unit::AddUnitOps(resolver);                 // adds 3 entries
//
// Count 3 extra entries in the resolver's template size for the UnIT ops.
#ifndef TFLM_UNIT_TFLM_UNIT_OPS_H_
#define TFLM_UNIT_TFLM_UNIT_OPS_H_

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

namespace tflm_unit {

// Custom op names, as written by the converter into the .tflite file.
constexpr const char kUnitConv2DName[] = "UNIT_CONV_2D";
constexpr const char kUnitDepthwiseConv2DName[] = "UNIT_DEPTHWISE_CONV_2D";
constexpr const char kUnitFullyConnectedName[] = "UNIT_FULLY_CONNECTED";

// Registrations to pass to MicroMutableOpResolver::AddCustom (static
// objects: the pointers stay valid for the life of the program).
TFLMRegistration* Register_UNIT_CONV_2D();
TFLMRegistration* Register_UNIT_DEPTHWISE_CONV_2D();
TFLMRegistration* Register_UNIT_FULLY_CONNECTED();

// Adds the three UnIT ops to a resolver (uses 3 of its tOpCount entries).
template <unsigned int tOpCount>
TfLiteStatus AddUnitOps(tflite::MicroMutableOpResolver<tOpCount>& resolver) {
  TF_LITE_ENSURE_STATUS(
      resolver.AddCustom(kUnitConv2DName, Register_UNIT_CONV_2D()));
  TF_LITE_ENSURE_STATUS(resolver.AddCustom(kUnitDepthwiseConv2DName,
                                           Register_UNIT_DEPTHWISE_CONV_2D()));
  TF_LITE_ENSURE_STATUS(resolver.AddCustom(kUnitFullyConnectedName,
                                           Register_UNIT_FULLY_CONNECTED()));
  return kTfLiteOk;
}

}  // namespace tflm_unit

#endif  // TFLM_UNIT_TFLM_UNIT_OPS_H_
