// tflm-unit: runs a whole UnIT .tflite model through TFLM's MicroInterpreter
// and compares its outputs with those tflm_unit.runtime computed.  Host-only
// (reads files), not part of the shipped sources.
//
// Usage: unit_model_test MODEL.tflite SAMPLES_FILE
// SAMPLES_FILE (written by gen_model_cases.py):
//   samples N
//   input COUNT v...     (int8 values, or hex floats for a float32 input)
//   output COUNT v...    (expected, same encoding)     -- N times
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tflm/unit_ops.h"

namespace {

constexpr size_t kMaxModelBytes = 4 << 20;
constexpr size_t kArenaBytes = 1 << 20;
constexpr int kMaxValues = 1 << 16;

alignas(16) unsigned char g_model[kMaxModelBytes];
alignas(16) unsigned char g_arena[kArenaBytes];
float g_values[kMaxValues];  // parsed numbers (exact for int8 and float32)

bool ReadNumbers(FILE* f, const char* tag, int* count) {
  char word[64];
  if (fscanf(f, "%63s %d", word, count) != 2 || strcmp(word, tag) != 0 ||
      *count > kMaxValues) {
    return false;
  }
  for (int i = 0; i < *count; ++i) {
    if (fscanf(f, "%63s", word) != 1) return false;
    g_values[i] = strtof(word, nullptr);
  }
  return true;
}

// The builtin ops a small converted CNN uses, plus the three UnIT ops.
using Resolver = tflite::MicroMutableOpResolver<28>;

TfLiteStatus AddOps(Resolver& r) {
  TF_LITE_ENSURE_STATUS(r.AddConv2D());
  TF_LITE_ENSURE_STATUS(r.AddDepthwiseConv2D());
  TF_LITE_ENSURE_STATUS(r.AddFullyConnected());
  TF_LITE_ENSURE_STATUS(r.AddMaxPool2D());
  TF_LITE_ENSURE_STATUS(r.AddAveragePool2D());
  TF_LITE_ENSURE_STATUS(r.AddReshape());
  TF_LITE_ENSURE_STATUS(r.AddSoftmax());
  TF_LITE_ENSURE_STATUS(r.AddQuantize());
  TF_LITE_ENSURE_STATUS(r.AddDequantize());
  TF_LITE_ENSURE_STATUS(r.AddAdd());
  TF_LITE_ENSURE_STATUS(r.AddMean());
  TF_LITE_ENSURE_STATUS(r.AddPad());
  TF_LITE_ENSURE_STATUS(r.AddPadV2());
  TF_LITE_ENSURE_STATUS(r.AddConcatenation());
  TF_LITE_ENSURE_STATUS(r.AddRelu());
  TF_LITE_ENSURE_STATUS(r.AddRelu6());
  TF_LITE_ENSURE_STATUS(r.AddLogistic());
  TF_LITE_ENSURE_STATUS(r.AddMul());
  TF_LITE_ENSURE_STATUS(r.AddSqueeze());
  TF_LITE_ENSURE_STATUS(r.AddExpandDims());
  TF_LITE_ENSURE_STATUS(r.AddShape());
  TF_LITE_ENSURE_STATUS(r.AddStridedSlice());
  return tflm_unit::AddUnitOps(r);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.tflite SAMPLES_FILE\n", argv[0]);
    return 2;
  }
  FILE* mf = fopen(argv[1], "rb");
  if (mf == nullptr) {
    fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }
  const size_t model_bytes = fread(g_model, 1, kMaxModelBytes, mf);
  fclose(mf);

  const tflite::Model* model = tflite::GetModel(g_model);
  static Resolver resolver;
  if (AddOps(resolver) != kTfLiteOk) return 2;
  tflite::MicroInterpreter interpreter(model, resolver, g_arena, kArenaBytes);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("AllocateTensors failed\n~~~SOME TESTS FAILED~~~\n");
    return 1;
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  const bool float_in = input->type == kTfLiteFloat32;
  const bool float_out = output->type == kTfLiteFloat32;
  printf("model %s: %zu bytes, arena used %zu bytes\n", argv[1], model_bytes,
         interpreter.arena_used_bytes());

  FILE* sf = fopen(argv[2], "r");
  int samples = 0;
  if (sf == nullptr || fscanf(sf, "samples %d", &samples) != 1) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 2;
  }
  int failures = 0, differing_values = 0;
  for (int s = 0; s < samples; ++s) {
    int count = 0;
    if (!ReadNumbers(sf, "input", &count) ||
        (size_t)count * (float_in ? 4 : 1) != input->bytes) {
      fprintf(stderr, "sample %d: bad input\n", s);
      return 2;
    }
    for (int i = 0; i < count; ++i) {
      if (float_in) {
        input->data.f[i] = g_values[i];
      } else {
        input->data.int8[i] = static_cast<int8_t>(g_values[i]);
      }
    }
    if (interpreter.Invoke() != kTfLiteOk) {
      printf("sample %d: Invoke failed\n", s);
      ++failures;
      continue;
    }
    if (!ReadNumbers(sf, "output", &count) ||
        (size_t)count * (float_out ? 4 : 1) != output->bytes) {
      fprintf(stderr, "sample %d: bad expected output\n", s);
      return 2;
    }
    int diffs = 0;
    for (int i = 0; i < count; ++i) {
      const bool same = float_out ? output->data.f[i] == g_values[i]
                                  : output->data.int8[i] ==
                                        static_cast<int8_t>(g_values[i]);
      if (!same) ++diffs;
    }
    differing_values += diffs;
    if (diffs != 0) ++failures;
  }
  fclose(sf);
  printf("%d samples, %d with outputs different from tflm_unit.runtime "
         "(%d values)\n", samples, failures, differing_values);
  if (failures == 0 && samples > 0) {
    printf("~~~ALL TESTS PASSED~~~\n");
    return 0;
  }
  printf("~~~SOME TESTS FAILED~~~\n");
  return 1;
}
