// tflm-unit example firmware: runs a converted UnIT model (.tflite with
// UNIT_CONV_2D / UNIT_DEPTHWISE_CONV_2D / UNIT_FULLY_CONNECTED custom ops)
// with TensorFlow Lite Micro.  See README.md in this directory for the build.
//
// model_data.h / model_data.cc come from model_to_cc.py (this directory):
// the model as an aligned C array and, optionally, one input sample.
#include <stdint.h>

#include "model_data.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tflm/unit_ops.h"

namespace {

// Size the arena for your model: the program prints what it really used.
constexpr int kArenaBytes = 32 * 1024;
alignas(16) uint8_t g_arena[kArenaBytes];

// The builtin ops the model still has, plus 3 entries for the UnIT ops.
// (A model converted by tflm-unit keeps every op other than conv, depthwise
// conv and fully connected builtin; list yours: `tflm-unit inspect`.)
constexpr unsigned int kNumOps = 8 + 3;
using Resolver = tflite::MicroMutableOpResolver<kNumOps>;

TfLiteStatus RegisterOps(Resolver& resolver) {
  TF_LITE_ENSURE_STATUS(resolver.AddMaxPool2D());
  TF_LITE_ENSURE_STATUS(resolver.AddAveragePool2D());
  TF_LITE_ENSURE_STATUS(resolver.AddReshape());
  TF_LITE_ENSURE_STATUS(resolver.AddSoftmax());
  TF_LITE_ENSURE_STATUS(resolver.AddQuantize());
  TF_LITE_ENSURE_STATUS(resolver.AddDequantize());
  TF_LITE_ENSURE_STATUS(resolver.AddAdd());
  TF_LITE_ENSURE_STATUS(resolver.AddMean());
  // UNIT_CONV_2D, UNIT_DEPTHWISE_CONV_2D, UNIT_FULLY_CONNECTED.
  return tflm_unit::AddUnitOps(resolver);
}

}  // namespace

int main() {
  tflite::InitializeTarget();

  const tflite::Model* model = tflite::GetModel(g_unit_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    MicroPrintf("model schema version %d, expected %d",
                static_cast<int>(model->version()), TFLITE_SCHEMA_VERSION);
    return 1;
  }
  static Resolver resolver;
  if (RegisterOps(resolver) != kTfLiteOk) return 1;

  static tflite::MicroInterpreter interpreter(model, resolver, g_arena,
                                              kArenaBytes);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    MicroPrintf("AllocateTensors failed (arena too small or an op missing)");
    return 1;
  }
  MicroPrintf("arena used: %d of %d bytes",
              static_cast<int>(interpreter.arena_used_bytes()), kArenaBytes);

  // Input: the embedded sample if model_to_cc.py got one, else the input
  // tensor's zero point (a real 0.0).  Replace with your sensor data.
  TfLiteTensor* input = interpreter.input(0);
  if (input->type != kTfLiteInt8) {
    MicroPrintf("this example feeds int8 inputs; the model's is type %d",
                static_cast<int>(input->type));
    return 1;
  }
  for (size_t i = 0; i < input->bytes; ++i) {
    input->data.int8[i] = i < g_unit_sample_len
                              ? g_unit_sample[i]
                              : static_cast<int8_t>(input->params.zero_point);
  }

  if (interpreter.Invoke() != kTfLiteOk) {
    MicroPrintf("Invoke failed");
    return 1;
  }

  // Output: print every value and the arg max (the class of a classifier).
  TfLiteTensor* output = interpreter.output(0);
  if (output->type != kTfLiteInt8) {
    MicroPrintf("this example prints int8 outputs; the model's is type %d",
                static_cast<int>(output->type));
    return 1;
  }
  int best = 0;
  for (size_t i = 0; i < output->bytes; ++i) {
    MicroPrintf("output[%d] = %d", static_cast<int>(i), output->data.int8[i]);
    if (output->data.int8[i] > output->data.int8[best]) best = static_cast<int>(i);
  }
  MicroPrintf("arg max: %d", best);
  return 0;
}
