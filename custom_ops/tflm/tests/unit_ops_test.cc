// tflm-unit: KernelRunner test of the UnIT TFLM adapters against a real TFLM
// build.  Host-only (reads a text file), not part of the shipped sources.
//
// The cases file is written by gen_cases.py (same directory): every case
// holds the op, its flexbuffer custom_options, the tensors and the output
// tflm_unit.core.kernels (the Python API over the same C core) computed.
// For each case this program
//   1. runs the UnIT op through tflite::micro::KernelRunner (Init with the
//      custom_options, Prepare, Invoke) and requires the output to equal the
//      expected one bit for bit;
//      A sorted fully connected case of format_version 3 also has the
//      layout's two constant tensors (inputs 4 and 5 of the op);
//   2. when every threshold is 0 (int8 models), also runs TFLM's builtin
//      CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED reference kernel on the
//      same tensors and requires the same bytes (UnIT at T = 0 == builtin).
//
// Usage: unit_ops_test CASES_FILE   (or UNIT_TEST_CASES=CASES_FILE)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/lite/c/builtin_op_data.h"
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/kernels/conv.h"
#include "tensorflow/lite/micro/kernels/depthwise_conv.h"
#include "tensorflow/lite/micro/kernels/fully_connected.h"
#include "tensorflow/lite/micro/kernels/kernel_runner.h"
#include "tensorflow/lite/micro/test_helpers.h"
#include "tflm/unit_ops.h"

namespace {

constexpr int kMaxDims = 6;
constexpr int kMaxChannels = 512;
constexpr int kMaxBytes = 1 << 16;
constexpr int kMaxOptions = 1024;

// Tensor roles, in the order of the cases file and of the tensor array; the
// sorted layout's tensors are "tensor none" except in format_version-3 cases.
enum Role {
  kInput = 0,
  kFilter,
  kBias,
  kThresholds,
  kOutput,
  kSortedWeights,
  kSortedIndex,
  kNumRoles
};

struct TensorSpec {
  bool present;
  TfLiteType type;
  int dims[1 + kMaxDims];          // [size, d0, d1, ...]
  float scales[1 + kMaxChannels];  // [size, s0, ...] as read
  // FloatArrayFromFloats rewrites element 0 in place (float size -> int), so
  // every run gets a fresh copy of `scales`.
  float scale_array[1 + kMaxChannels];
  int zero_points[1 + kMaxChannels];
  int quantized_dimension;
  int count;
  alignas(16) unsigned char data[kMaxBytes];
  TfLiteAffineQuantization quant;
};

struct Case {
  char name[128];
  char op[32];
  char dtype[16];
  int builtin[7];  // padding stride_w stride_h dil_w dil_h act depth_mult
  int options_len;
  char options[kMaxOptions];
  TensorSpec tensors[kNumRoles];  // kOutput holds the expected output
};

Case g_case;
alignas(16) unsigned char g_output[kMaxBytes];
alignas(16) unsigned char g_unit_output[kMaxBytes];

bool ReadWord(FILE* f, char* buf, size_t size) {
  char fmt[16];
  snprintf(fmt, sizeof(fmt), "%%%ds", (int)size - 1);
  return fscanf(f, fmt, buf) == 1;
}

long ReadInt(FILE* f) {
  char word[64];
  if (!ReadWord(f, word, sizeof(word))) {
    fprintf(stderr, "unexpected end of file\n");
    exit(2);
  }
  return strtol(word, nullptr, 10);
}

float ReadFloat(FILE* f) {
  char word[64];
  if (!ReadWord(f, word, sizeof(word))) {
    fprintf(stderr, "unexpected end of file\n");
    exit(2);
  }
  return strtof(word, nullptr);  // hex floats (%a) round-trip exactly
}

TfLiteType TypeFromName(const char* name) {
  if (strcmp(name, "int8") == 0) return kTfLiteInt8;
  if (strcmp(name, "uint8") == 0) return kTfLiteUInt8;
  if (strcmp(name, "uint16") == 0) return kTfLiteUInt16;
  if (strcmp(name, "int16") == 0) return kTfLiteInt16;
  if (strcmp(name, "int32") == 0) return kTfLiteInt32;
  if (strcmp(name, "float32") == 0) return kTfLiteFloat32;
  return kTfLiteNoType;
}

// "tensor TYPE NDIMS d.. NSCALES s.. NZP z.. QDIM COUNT v.." or "tensor none"
void ReadTensor(FILE* f, TensorSpec* t) {
  char word[64];
  ReadWord(f, word, sizeof(word));  // "tensor"
  ReadWord(f, word, sizeof(word));
  t->present = strcmp(word, "none") != 0;
  if (!t->present) return;
  t->type = TypeFromName(word);
  t->dims[0] = (int)ReadInt(f);
  for (int i = 0; i < t->dims[0]; ++i) t->dims[1 + i] = (int)ReadInt(f);
  const int num_scales = (int)ReadInt(f);
  t->scales[0] = (float)num_scales;
  for (int i = 0; i < num_scales; ++i) t->scales[1 + i] = ReadFloat(f);
  t->zero_points[0] = (int)ReadInt(f);
  for (int i = 0; i < t->zero_points[0]; ++i) {
    t->zero_points[1 + i] = (int)ReadInt(f);
  }
  t->quantized_dimension = (int)ReadInt(f);
  t->count = (int)ReadInt(f);
  for (int i = 0; i < t->count; ++i) {
    switch (t->type) {
      case kTfLiteInt8:
        reinterpret_cast<int8_t*>(t->data)[i] = (int8_t)ReadInt(f);
        break;
      case kTfLiteUInt8:
        reinterpret_cast<uint8_t*>(t->data)[i] = (uint8_t)ReadInt(f);
        break;
      case kTfLiteInt16:
        reinterpret_cast<int16_t*>(t->data)[i] = (int16_t)ReadInt(f);
        break;
      case kTfLiteUInt16:
        reinterpret_cast<uint16_t*>(t->data)[i] = (uint16_t)ReadInt(f);
        break;
      case kTfLiteInt32:
        reinterpret_cast<int32_t*>(t->data)[i] = (int32_t)ReadInt(f);
        break;
      default:
        reinterpret_cast<float*>(t->data)[i] = ReadFloat(f);
        break;
    }
  }
}

// Returns false at end of file.
bool ReadCase(FILE* f, Case* c) {
  char word[64];
  if (!ReadWord(f, word, sizeof(word))) return false;  // "case"
  ReadWord(f, c->name, sizeof(c->name));
  ReadWord(f, c->op, sizeof(c->op));
  ReadWord(f, c->dtype, sizeof(c->dtype));
  ReadWord(f, word, sizeof(word));  // "builtin"
  for (int i = 0; i < 7; ++i) c->builtin[i] = (int)ReadInt(f);
  ReadWord(f, word, sizeof(word));  // "options"
  c->options_len = (int)ReadInt(f);
  for (int i = 0; i < c->options_len; ++i) c->options[i] = (char)ReadInt(f);
  for (int r = 0; r < kNumRoles; ++r) ReadTensor(f, &c->tensors[r]);
  ReadWord(f, word, sizeof(word));  // "end"
  return true;
}

TfLiteTensor MakeTensor(TensorSpec* t, void* data) {
  TfLiteIntArray* dims = tflite::testing::IntArrayFromInts(t->dims);
  TfLiteTensor result;
  switch (t->type) {
    case kTfLiteInt8:
      result = tflite::testing::CreateTensor(static_cast<int8_t*>(data), dims);
      break;
    case kTfLiteUInt8:
      result = tflite::testing::CreateTensor(static_cast<uint8_t*>(data), dims);
      break;
    case kTfLiteInt16:
      result = tflite::testing::CreateTensor(static_cast<int16_t*>(data), dims);
      break;
    case kTfLiteUInt16:
      result = tflite::testing::CreateTensor(static_cast<uint16_t*>(data), dims);
      break;
    case kTfLiteInt32:
      result = tflite::testing::CreateTensor(static_cast<int32_t*>(data), dims);
      break;
    default:
      result = tflite::testing::CreateTensor(static_cast<float*>(data), dims);
      break;
  }
  if (t->scales[0] > 0) {
    result.params.scale = t->scales[1];
    result.params.zero_point = t->zero_points[0] > 0 ? t->zero_points[1] : 0;
    memcpy(t->scale_array, t->scales, sizeof(t->scales));
    t->quant.scale = tflite::testing::FloatArrayFromFloats(t->scale_array);
    t->quant.zero_point = tflite::testing::IntArrayFromInts(t->zero_points);
    t->quant.quantized_dimension = t->quantized_dimension;
    result.quantization = {kTfLiteAffineQuantization, &t->quant};
  }
  return result;
}

int ElementBytes(TfLiteType type) {
  return (type == kTfLiteInt8 || type == kTfLiteUInt8)    ? 1
         : (type == kTfLiteInt16 || type == kTfLiteUInt16) ? 2
                                                           : 4;
}

// Builds the tensors (output into `output`) and runs one registration.
TfLiteStatus Run(Case* c, const TFLMRegistration& registration,
                 bool with_thresholds, const void* builtin_data,
                 const char* init_data, size_t init_len, void* output) {
  TfLiteTensor tensors[kNumRoles];
  for (int r = 0; r < kNumRoles; ++r) {
    TensorSpec* t = &c->tensors[r];
    if (!t->present) {
      // Placeholder for an absent bias; never referenced (index -1).
      tensors[r] = tensors[kInput];
      continue;
    }
    tensors[r] = MakeTensor(t, r == kOutput ? output : t->data);
  }
  // FakeMicroContext / real models give constant tensors a read-only
  // allocation; the thresholds check relies on data being present.
  tensors[kThresholds].allocation_type = kTfLiteMmapRo;
  tensors[kFilter].allocation_type = kTfLiteMmapRo;
  tensors[kSortedWeights].allocation_type = kTfLiteMmapRo;
  tensors[kSortedIndex].allocation_type = kTfLiteMmapRo;
  const int bias = c->tensors[kBias].present ? kBias : -1;
  const bool layout_tensors = c->tensors[kSortedWeights].present;
  int unit_inputs[] = {layout_tensors ? 6 : 4, kInput,         kFilter,
                       bias,                   kThresholds,    kSortedWeights,
                       kSortedIndex};
  int builtin_inputs[] = {3, kInput, kFilter, bias};
  int outputs[] = {1, kOutput};
  tflite::micro::KernelRunner runner(
      registration, tensors, kNumRoles,
      tflite::testing::IntArrayFromInts(with_thresholds ? unit_inputs
                                                        : builtin_inputs),
      tflite::testing::IntArrayFromInts(outputs), builtin_data);
  TfLiteStatus status = runner.InitAndPrepare(init_data, init_len);
  if (status != kTfLiteOk) return status;
  return runner.Invoke();
}

bool AllZero(const TensorSpec& t) {
  for (int i = 0; i < t.count; ++i) {
    if (t.type == kTfLiteInt16 && reinterpret_cast<const int16_t*>(t.data)[i])
      return false;
    if (t.type == kTfLiteFloat32 && reinterpret_cast<const float*>(t.data)[i])
      return false;
  }
  return true;
}

int CountDiffs(const void* a, const void* b, const TensorSpec& expected) {
  const int bytes = ElementBytes(expected.type);
  int diffs = 0;
  for (int i = 0; i < expected.count; ++i) {
    if (memcmp(static_cast<const char*>(a) + i * bytes,
               static_cast<const char*>(b) + i * bytes, bytes) != 0) {
      ++diffs;
    }
  }
  return diffs;
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : getenv("UNIT_TEST_CASES");
  if (path == nullptr) {
    fprintf(stderr, "usage: %s CASES_FILE (or set UNIT_TEST_CASES)\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(path, "r");
  if (f == nullptr) {
    fprintf(stderr, "cannot open %s\n", path);
    return 2;
  }
  int cases = 0, failures = 0, builtin_checked = 0;
  while (ReadCase(f, &g_case)) {
    Case* c = &g_case;
    ++cases;
    const bool is_float = strcmp(c->dtype, "float32") == 0;
    const TFLMRegistration* unit = nullptr;
    TFLMRegistration builtin = {};
    TfLiteConvParams conv = {};
    TfLiteDepthwiseConvParams dw = {};
    TfLiteFullyConnectedParams fc = {};
    const void* builtin_data = nullptr;
    // tflite::Padding (0 SAME, 1 VALID) -> TfLitePadding.
    const TfLitePadding padding =
        c->builtin[0] == 0 ? kTfLitePaddingSame : kTfLitePaddingValid;
    const TfLiteFusedActivation act =
        static_cast<TfLiteFusedActivation>(c->builtin[5]);
    if (strcmp(c->op, "conv") == 0) {
      unit = tflm_unit::Register_UNIT_CONV_2D();
      builtin = tflite::Register_CONV_2D();
      conv.padding = padding;
      conv.stride_width = c->builtin[1];
      conv.stride_height = c->builtin[2];
      conv.dilation_width_factor = c->builtin[3];
      conv.dilation_height_factor = c->builtin[4];
      conv.activation = act;
      builtin_data = &conv;
    } else if (strcmp(c->op, "depthwise") == 0) {
      unit = tflm_unit::Register_UNIT_DEPTHWISE_CONV_2D();
      builtin = tflite::Register_DEPTHWISE_CONV_2D();
      dw.padding = padding;
      dw.stride_width = c->builtin[1];
      dw.stride_height = c->builtin[2];
      dw.dilation_width_factor = c->builtin[3];
      dw.dilation_height_factor = c->builtin[4];
      dw.activation = act;
      dw.depth_multiplier = c->builtin[6];
      builtin_data = &dw;
    } else {
      unit = tflm_unit::Register_UNIT_FULLY_CONNECTED();
      builtin = tflite::Register_FULLY_CONNECTED();
      fc.activation = act;
      builtin_data = &fc;
    }
    const TensorSpec& expected = c->tensors[kOutput];
    memset(g_unit_output, 0x5a, sizeof(g_unit_output));
    TfLiteStatus status = Run(c, *unit, true, nullptr, c->options,
                              c->options_len, g_unit_output);
    int diffs = status == kTfLiteOk
                    ? CountDiffs(g_unit_output, expected.data, expected)
                    : -1;
    const bool expect_error = strncmp(c->name, "reject_", 7) == 0;
    bool ok = expect_error ? status != kTfLiteOk : diffs == 0;
    int builtin_diffs = 0;
    if (ok && !expect_error && !is_float && AllZero(c->tensors[kThresholds])) {
      memset(g_output, 0xa5, sizeof(g_output));
      status = Run(c, builtin, false, builtin_data, nullptr, 0, g_output);
      builtin_diffs = status == kTfLiteOk
                          ? CountDiffs(g_output, g_unit_output, expected)
                          : -1;
      ++builtin_checked;
      ok = builtin_diffs == 0;
    }
    printf("%-44s %-9s %-7s %s (unit vs python: %d diffs of %d; builtin: %d)\n",
           c->name, c->op, c->dtype, ok ? "ok" : "FAILED", diffs,
           expected.count, builtin_diffs);
    if (!ok) ++failures;
  }
  fclose(f);
  printf("%d cases, %d compared with TFLM builtin kernels, %d failures\n",
         cases, builtin_checked, failures);
  if (failures == 0 && cases > 0) {
    printf("~~~ALL TESTS PASSED~~~\n");
    return 0;
  }
  printf("~~~SOME TESTS FAILED~~~\n");
  return 1;
}
