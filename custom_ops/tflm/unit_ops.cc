// tflm-unit: TFLM adapters for UNIT_CONV_2D, UNIT_DEPTHWISE_CONV_2D and
// UNIT_FULLY_CONNECTED.
//
// Init  parses the flexbuffer custom_options into a persistent OpData
//       (format_version 1; 2 with a `layout` option: DESIGN.md section 9;
//       3 for a sorted fully connected op that carries its layout).
// Prepare validates every input (types, shapes, quantisation, thresholds),
//       computes the per-channel requantisation with the core's
//       unit_quantize_multiplier and requests the core's scratch buffer.  A
//       fully connected op with the `sorted` layout reads it from the file's
//       two constant layout tensors (format_version 3: in flash, checked
//       against the filter by unit_fc_sorted_check_filter, no arena), or,
//       for a format_version-2 file (the option only), builds it from the
//       filter (unit_fc_sorted_build) into persistent arena buffers.
// Eval  calls the kernel core (custom_ops/core/unit_core.h): the layout's
//       kernel (unit_fully_connected_sorted_int8, unit_conv_2d_bucketed_int8)
//       or the compare-per-MAC one.
//
// Only documented TFLM helpers are used (MicroContext, kernel_util's
// GetEvalInput/GetEvalOutput/GetTensorData) so the file builds across TFLM
// versions; no dynamic allocation.
#include "unit_ops.h"

#include <stdint.h>
#include <string.h>

#include <limits>

#include "../core/unit_core.h"
#include "flatbuffers/flexbuffers.h"
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/kernels/kernel_util.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/micro_context.h"
#include "tensorflow/lite/micro/micro_log.h"

// Define UNIT_TFLM_SMALL_SCRATCH=1 to size the int8 conv / depthwise scratch
// buffers for one output row instead of a whole image: a smaller arena for
// more passes over the weights (the outputs are the same).
#ifndef UNIT_TFLM_SMALL_SCRATCH
#define UNIT_TFLM_SMALL_SCRATCH 0
#endif

namespace tflm_unit {
namespace {

// Tensor positions (the builtin op's inputs, then the thresholds).
constexpr int kInputTensor = 0;
constexpr int kFilterTensor = 1;
constexpr int kBiasTensor = 2;  // optional: index -1 in the model
constexpr int kThresholdsTensor = 3;
// format_version 3, sorted fully connected: the layout's arrays
// (unit_fc_sorted_t), each [depth, groups, group_size + 1].
constexpr int kSortedWeightsTensor = 4;  // int8
constexpr int kSortedIndexTensor = 5;    // uint8 (C_out <= 256) or uint16
constexpr int kOutputTensor = 0;
constexpr int kNumInputs = 4;
constexpr int kNumInputsWithLayout = 6;

enum class OpKind { kConv, kDepthwise, kFullyConnected };

// The `layout` option (DESIGN.md section 9 "Zero-cost skipping"): compare
// (the default, every op), sorted (UNIT_FULLY_CONNECTED), bucketed
// (UNIT_CONV_2D).  The zero-cost layouts exist for int8 ops only.
enum Layout : int32_t { kLayoutCompare = 0, kLayoutSorted, kLayoutBucketed };

// tflite::ActivationFunctionType values the kernels support.
constexpr int kActNone = 0;
constexpr int kActRelu = 1;
constexpr int kActReluN1To1 = 2;
constexpr int kActRelu6 = 3;

struct OpData {
  // ---- custom_options (Init) ----
  // First problem found while parsing, reported by Prepare (Init cannot fail
  // with a message of its own).
  const char* options_error;
  const char* options_key;  // the option it concerns (a string literal)
  int32_t padding;  // tflite::Padding: 0 SAME, 1 VALID
  int32_t stride_w, stride_h;
  int32_t dilation_w, dilation_h;
  int32_t depth_multiplier;  // depthwise only; 0 = not given
  int32_t activation;        // tflite::ActivationFunctionType
  int32_t weights_format;    // fully connected: must be 0 (DEFAULT)
  bool asymmetric_quantize_inputs;
  int32_t group_size;
  int32_t format_version;
  char division[8];  // "exact", "shift", "tree", "clz", "bitmask"
  int32_t layout;    // Layout

  // ---- Prepare ----
  bool is_float;
  unit_division_t division_int8;
  unit_float_division_t division_float;
  unit_conv_params_t conv;             // int8 conv / depthwise
  unit_conv_float_params_t conv_float; // float conv / depthwise
  unit_fc_params_t fc;                 // int8 fully connected
  float float_act_min, float_act_max;  // float fully connected
  int32_t* multiplier;  // [C_out], persistent
  int32_t* shift;       // [C_out], persistent
  int scratch_index;    // -1: no scratch needed
  size_t scratch_bytes;
  // kLayoutSorted, format_version 2: the arrays in persistent buffers
  // (version 3 reads them from the layout tensors at every Eval).
  unit_fc_sorted_t sorted;
};

// ---------------------------------------------------------------- Init ----

int32_t ReadInt(const flexbuffers::Map& m, const char* key, int32_t fallback,
                bool required, OpData* data) {
  const flexbuffers::Reference value = m[key];
  if (value.IsNull()) {
    if (required && data->options_error == nullptr) {
      data->options_error = "a required custom option is missing";
      data->options_key = key;
    }
    return fallback;
  }
  return value.AsInt32();
}

void* InitCommon(TfLiteContext* context, const char* buffer, size_t length,
                 OpKind kind) {
  TFLITE_DCHECK(context->AllocatePersistentBuffer != nullptr);
  OpData* data = static_cast<OpData*>(
      context->AllocatePersistentBuffer(context, sizeof(OpData)));
  if (data == nullptr) return nullptr;
  memset(data, 0, sizeof(OpData));
  data->scratch_index = -1;
  if (buffer == nullptr || length == 0) {
    data->options_error = "custom_options are missing";
    data->options_key = "";
    return data;
  }
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(buffer);
  const flexbuffers::Map m = flexbuffers::GetRoot(bytes, length).AsMap();

  if (kind == OpKind::kFullyConnected) {
    data->weights_format = ReadInt(m, "weights_format", 0, false, data);
    data->asymmetric_quantize_inputs =
        m["asymmetric_quantize_inputs"].AsBool();
  } else {
    data->padding = ReadInt(m, "padding", 0, true, data);
    data->stride_w = ReadInt(m, "stride_w", 1, true, data);
    data->stride_h = ReadInt(m, "stride_h", 1, true, data);
    data->dilation_w = ReadInt(m, "dilation_w_factor", 1, false, data);
    data->dilation_h = ReadInt(m, "dilation_h_factor", 1, false, data);
    if (kind == OpKind::kDepthwise) {
      data->depth_multiplier = ReadInt(m, "depth_multiplier", 0, false, data);
    }
  }
  data->activation = ReadInt(m, "fused_activation_function", kActNone, false,
                             data);
  data->group_size = ReadInt(m, "group_size", 0, true, data);
  data->format_version = ReadInt(m, "format_version", 0, true, data);

  const flexbuffers::Reference division = m["division"];
  if (!division.IsString()) {
    if (data->options_error == nullptr) {
      data->options_error = "a required custom option is missing";
      data->options_key = "division";
    }
  } else {
    const flexbuffers::String text = division.AsString();
    if (text.length() >= sizeof(data->division)) {
      data->options_error = "unknown division";
      data->options_key = "division";
    } else {
      memcpy(data->division, text.c_str(), text.length() + 1);
    }
  }

  // Absent = compare.  Which op kinds take which layout, and the version,
  // are checked in Prepare (CheckOptions).
  const flexbuffers::Reference layout = m["layout"];
  data->layout = kLayoutCompare;
  if (!layout.IsNull()) {
    const char* name = layout.IsString() ? layout.AsString().c_str() : "";
    if (strcmp(name, "compare") == 0) {
      data->layout = kLayoutCompare;
    } else if (strcmp(name, "sorted") == 0) {
      data->layout = kLayoutSorted;
    } else if (strcmp(name, "bucketed") == 0) {
      data->layout = kLayoutBucketed;
    } else if (data->options_error == nullptr) {
      data->options_error = "unknown layout (expected compare, sorted or "
                            "bucketed)";
      data->options_key = "layout";
    }
    if (data->options_error == nullptr &&
        data->format_version < UNIT_LAYOUT_FORMAT_VERSION) {
      data->options_error = "the layout option needs format_version 2";
      data->options_key = "layout";
    }
  }
  return data;
}

void* InitConv(TfLiteContext* context, const char* buffer, size_t length) {
  return InitCommon(context, buffer, length, OpKind::kConv);
}
void* InitDepthwise(TfLiteContext* context, const char* buffer,
                    size_t length) {
  return InitCommon(context, buffer, length, OpKind::kDepthwise);
}
void* InitFullyConnected(TfLiteContext* context, const char* buffer,
                         size_t length) {
  return InitCommon(context, buffer, length, OpKind::kFullyConnected);
}

// ------------------------------------------------------------- Prepare ----

// The options that do not depend on tensors.
TfLiteStatus CheckOptions(TfLiteContext* context, OpData* data, OpKind kind) {
  if (data->options_error != nullptr) {
    MicroPrintf("UnIT op: %s: '%s'", data->options_error, data->options_key);
    return kTfLiteError;
  }
  TF_LITE_ENSURE_MSG(
      context,
      data->format_version >= UNIT_FORMAT_VERSION &&
          data->format_version <= UNIT_LAYOUT_TENSORS_FORMAT_VERSION,
      "UnIT op: unsupported format_version");
  TF_LITE_ENSURE_MSG(context,
                     data->format_version < UNIT_LAYOUT_TENSORS_FORMAT_VERSION ||
                         (kind == OpKind::kFullyConnected &&
                          data->layout == kLayoutSorted),
                     "UnIT op: format_version 3 is for a UNIT_FULLY_CONNECTED "
                     "with the sorted layout");
  if (kind == OpKind::kFullyConnected) {
    TF_LITE_ENSURE_MSG(context, data->layout != kLayoutBucketed,
                       "UnIT op: UNIT_FULLY_CONNECTED layouts are compare, "
                       "sorted (not bucketed)");
  } else if (kind == OpKind::kConv) {
    TF_LITE_ENSURE_MSG(context, data->layout != kLayoutSorted,
                       "UnIT op: UNIT_CONV_2D layouts are compare, bucketed "
                       "(not sorted)");
  } else {
    TF_LITE_ENSURE_MSG(context, data->layout == kLayoutCompare,
                       "UnIT op: UNIT_DEPTHWISE_CONV_2D has no layouts");
  }
  TF_LITE_ENSURE_MSG(context, data->group_size > 0,
                     "UnIT op: group_size must be positive");
  TF_LITE_ENSURE_MSG(context,
                     data->activation == kActNone ||
                         data->activation == kActRelu ||
                         data->activation == kActReluN1To1 ||
                         data->activation == kActRelu6,
                     "UnIT op: unsupported fused activation");
  if (kind == OpKind::kFullyConnected) {
    TF_LITE_ENSURE_MSG(context, data->weights_format == 0,
                       "UnIT op: only DEFAULT weights_format is supported");
    TF_LITE_ENSURE_MSG(context, !data->asymmetric_quantize_inputs,
                       "UnIT op: hybrid (asymmetric inputs) not supported");
  } else {
    TF_LITE_ENSURE(context, data->padding == UNIT_PADDING_SAME ||
                                data->padding == UNIT_PADDING_VALID);
    TF_LITE_ENSURE(context, data->stride_w > 0 && data->stride_h > 0);
    TF_LITE_ENSURE(context, data->dilation_w > 0 && data->dilation_h > 0);
  }
  return kTfLiteOk;
}

// Maps the division name to the core's enum for the model's data type.
TfLiteStatus ParseDivision(TfLiteContext* context, OpData* data) {
  const char* d = data->division;
  if (data->is_float) {
    if (strcmp(d, "exact") == 0) {
      data->division_float = UNIT_FDIV_EXACT;
    } else if (strcmp(d, "bitmask") == 0) {
      data->division_float = UNIT_FDIV_BITMASK;
    } else {
      TF_LITE_KERNEL_LOG(context, "UnIT op: division '%s' is not one of "
                         "exact, bitmask (float32 model)", d);
      return kTfLiteError;
    }
    return kTfLiteOk;
  }
  if (strcmp(d, "exact") == 0) {
    data->division_int8 = UNIT_DIV_EXACT;
  } else if (strcmp(d, "shift") == 0) {
    data->division_int8 = UNIT_DIV_SHIFT;
  } else if (strcmp(d, "tree") == 0) {
    data->division_int8 = UNIT_DIV_TREE;
  } else if (strcmp(d, "clz") == 0) {
    data->division_int8 = UNIT_DIV_CLZ;
  } else {
    TF_LITE_KERNEL_LOG(context, "UnIT op: division '%s' is not one of "
                       "exact, shift, tree, clz (int8 model)", d);
    return kTfLiteError;
  }
  return kTfLiteOk;
}

// Float activation clamp, as TFLite's CalculateActivationRange.
void FloatActivationRange(int32_t activation, float* act_min, float* act_max) {
  *act_min = std::numeric_limits<float>::lowest();
  *act_max = std::numeric_limits<float>::max();
  if (activation == kActRelu) {
    *act_min = 0.0f;
  } else if (activation == kActReluN1To1) {
    *act_min = -1.0f;
    *act_max = 1.0f;
  } else if (activation == kActRelu6) {
    *act_min = 0.0f;
    *act_max = 6.0f;
  }
}

// Checks the tensor types of an int8 or float32 UnIT op.
TfLiteStatus CheckTypes(TfLiteContext* context, OpData* data,
                        const TfLiteTensor* input, const TfLiteTensor* filter,
                        const TfLiteTensor* bias,
                        const TfLiteTensor* thresholds,
                        const TfLiteTensor* output) {
  TF_LITE_ENSURE_MSG(context,
                     input->type == kTfLiteInt8 || input->type == kTfLiteFloat32,
                     "UnIT op: input must be int8 or float32 (int16 "
                     "activations are not supported)");
  data->is_float = input->type == kTfLiteFloat32;
  TF_LITE_ENSURE_TYPES_EQ(context, output->type, input->type);
  TF_LITE_ENSURE_TYPES_EQ(context, filter->type, input->type);
  if (data->is_float) {
    if (bias != nullptr) TF_LITE_ENSURE_TYPES_EQ(context, bias->type,
                                                 kTfLiteFloat32);
    TF_LITE_ENSURE_TYPES_EQ(context, thresholds->type, kTfLiteFloat32);
    TF_LITE_ENSURE_MSG(context, data->layout == kLayoutCompare,
                       "UnIT op: the sorted / bucketed layouts exist for int8 "
                       "ops only");
  } else {
    if (bias != nullptr) TF_LITE_ENSURE_TYPES_EQ(context, bias->type,
                                                 kTfLiteInt32);
    TF_LITE_ENSURE_TYPES_EQ(context, thresholds->type, kTfLiteInt16);
  }
  return kTfLiteOk;
}

// Checks bias and thresholds sizes against the output channel count.
TfLiteStatus CheckBiasAndThresholds(TfLiteContext* context, OpData* data,
                                    const TfLiteTensor* bias,
                                    const TfLiteTensor* thresholds,
                                    int32_t out_channels) {
  if (bias != nullptr) {
    TF_LITE_ENSURE_EQ(context, tflite::NumElements(bias), out_channels);
  }
  TF_LITE_ENSURE_MSG(context, out_channels % data->group_size == 0,
                     "UnIT op: group_size must divide the output channels");
  TF_LITE_ENSURE_EQ(context, tflite::NumDimensions(thresholds), 1);
  TF_LITE_ENSURE_EQ(context, thresholds->dims->data[0],
                    out_channels / data->group_size);
  // The scratch size needs the thresholds, and the kernels read them at every
  // invoke: they must be a constant (weight) tensor.
  TF_LITE_ENSURE_MSG(context, thresholds->data.raw != nullptr,
                     "UnIT op: thresholds must be a constant tensor");
  return kTfLiteOk;
}

// Requantisation of an int8 op: input/output per-tensor, filter per-tensor
// or per output channel (symmetric).  Fills data->multiplier/shift
// [out_channels] with the same float->double casts as TFLM's Prepare.
// A kernel-core status as a TfLiteStatus, logging the status' name.
TfLiteStatus ToTfLiteStatus(TfLiteContext* context, unit_status_t status) {
  if (status != UNIT_OK) {
    TF_LITE_KERNEL_LOG(context, "UnIT kernel core refused the call: %s (%s)",
                       unit_status_name(status), unit_status_message(status));
    return kTfLiteError;
  }
  return kTfLiteOk;
}

TfLiteStatus PrepareRequant(TfLiteContext* context, OpData* data,
                            const TfLiteTensor* input,
                            const TfLiteTensor* filter,
                            const TfLiteTensor* output, int32_t out_channels,
                            int32_t channel_dim, OpKind kind) {
  TF_LITE_ENSURE_EQ(context, input->quantization.type,
                    kTfLiteAffineQuantization);
  TF_LITE_ENSURE_EQ(context, output->quantization.type,
                    kTfLiteAffineQuantization);
  TF_LITE_ENSURE_EQ(context, filter->quantization.type,
                    kTfLiteAffineQuantization);
  const auto* filter_q = static_cast<const TfLiteAffineQuantization*>(
      filter->quantization.params);
  TF_LITE_ENSURE(context, filter_q != nullptr && filter_q->scale != nullptr);
  const int num_scales = filter_q->scale->size;
  const bool per_channel = num_scales > 1;
  if (per_channel) {
    TF_LITE_ENSURE_EQ(context, num_scales, out_channels);
    TF_LITE_ENSURE_EQ(context, filter_q->quantized_dimension, channel_dim);
  } else {
    TF_LITE_ENSURE_EQ(context, num_scales, 1);
  }
  // Weights are symmetric: every zero point is 0.
  if (filter_q->zero_point != nullptr) {
    for (int i = 0; i < filter_q->zero_point->size; ++i) {
      TF_LITE_ENSURE_EQ(context, filter_q->zero_point->data[i], 0);
    }
  }
  TF_LITE_ENSURE(context, input->params.scale > 0.0f);
  TF_LITE_ENSURE(context, output->params.scale > 0.0f);
  TF_LITE_ENSURE(context, input->params.zero_point >= -128 &&
                              input->params.zero_point <= 127);
  TF_LITE_ENSURE(context, output->params.zero_point >= -128 &&
                              output->params.zero_point <= 127);

  data->multiplier = static_cast<int32_t*>(context->AllocatePersistentBuffer(
      context, out_channels * sizeof(int32_t)));
  data->shift = static_cast<int32_t*>(context->AllocatePersistentBuffer(
      context, out_channels * sizeof(int32_t)));
  TF_LITE_ENSURE(context, data->multiplier != nullptr && data->shift != nullptr);

  const float input_scale = input->params.scale;
  const float output_scale = output->params.scale;
  for (int32_t c = 0; c < out_channels; ++c) {
    const float filter_scale = filter_q->scale->data[per_channel ? c : 0];
    TF_LITE_ENSURE(context, filter_scale > 0.0f);
    double real_multiplier;
    if (kind == OpKind::kFullyConnected && !per_channel) {
      // TFLM's per-tensor fully connected multiplies the scales as floats
      // first (GetQuantizedConvolutionMultipler).
      real_multiplier = static_cast<double>(input_scale * filter_scale) /
                        static_cast<double>(output_scale);
    } else {
      real_multiplier = static_cast<double>(input_scale) *
                        static_cast<double>(filter_scale) /
                        static_cast<double>(output_scale);
    }
    TF_LITE_ENSURE_STATUS(ToTfLiteStatus(
        context, unit_quantize_multiplier(real_multiplier,
                                          &data->multiplier[c],
                                          &data->shift[c])));
    // The kernels accept TFLM's range: multiplier >= 0, shift in [-31, 30].
    TF_LITE_ENSURE(context, data->shift[c] >= -31 && data->shift[c] <= 30);
  }
  return kTfLiteOk;
}

// The kernels read weights, bias, thresholds and layout tensors in place:
// TFLM's tensor compression (USE_TFLM_COMPRESSION builds) is not supported
// for them.
TfLiteStatus CheckNotCompressed(TfLiteContext* context, TfLiteNode* node) {
#ifdef USE_TFLM_COMPRESSION
  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);
  bool compressed = false;
  for (int i = kFilterTensor; i < node->inputs->size; ++i) {
    compressed = compressed || micro_context->IsTensorCompressed(node, i);
  }
  TF_LITE_ENSURE_MSG(context, !compressed,
                     "UnIT op: compressed weights are not supported");
#else
  (void)context;
  (void)node;
#endif
  return kTfLiteOk;
}

TfLiteStatus RequestScratch(TfLiteContext* context, OpData* data,
                            size_t bytes) {
  data->scratch_bytes = bytes;
  data->scratch_index = -1;
  if (bytes > 0) {
    TF_LITE_ENSURE_STATUS(context->RequestScratchBufferInArena(
        context, bytes, &data->scratch_index));
  }
  return kTfLiteOk;
}

// The sorted fully connected layout (unit_fc_sorted_t) of the constant
// filter [out_c, depth], built once into persistent buffers:
// depth * (out_c + groups) int8 weights and as many uint8 (out_c <= 256) or
// uint16 output indices.  Built by the core, so it passes
// unit_fc_sorted_check by construction.
TfLiteStatus PrepareSortedLayout(TfLiteContext* context, OpData* data,
                                 const TfLiteTensor* filter, int32_t depth,
                                 int32_t out_c) {
  TF_LITE_ENSURE_MSG(context,
                     tflite::IsConstantTensor(filter) &&
                         filter->data.raw != nullptr,
                     "UnIT op: the sorted layout needs a constant filter");
  const size_t entries =
      unit_fc_sorted_entries(depth, out_c, data->group_size);
  TF_LITE_ENSURE_MSG(context, entries > 0 && out_c <= 65536,
                     "UnIT op: no sorted layout for this filter size");
  const size_t index_bytes =
      static_cast<size_t>(unit_fc_sorted_index_bytes(out_c));
  int8_t* weights = static_cast<int8_t*>(
      context->AllocatePersistentBuffer(context, entries));
  void* index =
      context->AllocatePersistentBuffer(context, entries * index_bytes);
  TF_LITE_ENSURE(context, weights != nullptr && index != nullptr);
  data->sorted.weights = weights;
  data->sorted.index8 =
      index_bytes == 1 ? static_cast<const uint8_t*>(index) : nullptr;
  data->sorted.index16 =
      index_bytes == 1 ? nullptr : static_cast<const uint16_t*>(index);
  data->sorted.group_size = data->group_size;
  return ToTfLiteStatus(
      context,
      unit_fc_sorted_build(filter->data.int8, depth, out_c, data->group_size,
                           weights,
                           index_bytes == 1 ? static_cast<uint8_t*>(index)
                                            : nullptr,
                           index_bytes == 1 ? nullptr
                                            : static_cast<uint16_t*>(index)));
}

// format_version 3: the sorted layout's two constant tensors, read in place
// (flash) at every Eval: int8 weights and uint8 (out_c <= 256) / uint16
// output indices, each [depth, groups, group_size + 1], that must be the
// filter's layout (unit_fc_sorted_check_filter: indices inside their group,
// exactly the filter's non-zero weights) before the kernel walks them.
TfLiteStatus CheckSortedLayoutTensors(TfLiteContext* context,
                                      TfLiteNode* node, const OpData* data,
                                      const TfLiteTensor* filter,
                                      int32_t depth, int32_t out_c) {
  TF_LITE_ENSURE_MSG(context,
                     tflite::IsConstantTensor(filter) &&
                         filter->data.raw != nullptr,
                     "UnIT op: the sorted layout needs a constant filter");
  TF_LITE_ENSURE_MSG(context,
                     unit_fc_sorted_entries(depth, out_c, data->group_size) > 0 &&
                         out_c <= 65536,
                     "UnIT op: no sorted layout for this filter size");
  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);
  TfLiteTensor* weights =
      micro_context->AllocateTempInputTensor(node, kSortedWeightsTensor);
  TfLiteTensor* index =
      micro_context->AllocateTempInputTensor(node, kSortedIndexTensor);
  TF_LITE_ENSURE_MSG(context, weights != nullptr && index != nullptr,
                     "UnIT op: format_version 3 needs the sorted layout "
                     "tensors (inputs 4 and 5)");
  const bool narrow = unit_fc_sorted_index_bytes(out_c) == 1;
  TF_LITE_ENSURE_TYPES_EQ(context, weights->type, kTfLiteInt8);
  TF_LITE_ENSURE_TYPES_EQ(context, index->type,
                          narrow ? kTfLiteUInt8 : kTfLiteUInt16);
  const int32_t shape[3] = {depth, out_c / data->group_size,
                            data->group_size + 1};
  const TfLiteTensor* const layout_tensors[2] = {weights, index};
  for (const TfLiteTensor* t : layout_tensors) {
    TF_LITE_ENSURE_MSG(context,
                       tflite::IsConstantTensor(t) && t->data.raw != nullptr,
                       "UnIT op: the sorted layout tensors must be constant");
    TF_LITE_ENSURE_EQ(context, tflite::NumDimensions(t), 3);
    for (int i = 0; i < 3; ++i) {
      TF_LITE_ENSURE_EQ(context, t->dims->data[i], shape[i]);
    }
  }
  unit_fc_sorted_t layout;
  layout.weights = weights->data.int8;
  layout.index8 = narrow ? index->data.uint8 : nullptr;
  layout.index16 =
      narrow ? nullptr : reinterpret_cast<const uint16_t*>(index->data.raw);
  layout.group_size = data->group_size;
  const unit_status_t status = unit_fc_sorted_check_filter(
      &layout, filter->data.int8, depth, out_c);
  micro_context->DeallocateTempTfLiteTensor(weights);
  micro_context->DeallocateTempTfLiteTensor(index);
  if (status != UNIT_OK) {
    MicroPrintf("UnIT op: the sorted layout tensors are not the filter's");
  }
  return ToTfLiteStatus(context, status);
}

// Conv and depthwise: NHWC input/output, filter [C_out, kh, kw, C_in] (conv)
// or [1, kh, kw, C_out] (depthwise).
TfLiteStatus PrepareConvLike(TfLiteContext* context, TfLiteNode* node,
                             OpKind kind) {
  TFLITE_DCHECK(node->user_data != nullptr);
  OpData* data = static_cast<OpData*>(node->user_data);
  TF_LITE_ENSURE_STATUS(CheckOptions(context, data, kind));
  TF_LITE_ENSURE_EQ(context, node->inputs->size, kNumInputs);
  TF_LITE_ENSURE_EQ(context, node->outputs->size, 1);
  TF_LITE_ENSURE_STATUS(CheckNotCompressed(context, node));

  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);
  TfLiteTensor* input =
      micro_context->AllocateTempInputTensor(node, kInputTensor);
  TfLiteTensor* filter =
      micro_context->AllocateTempInputTensor(node, kFilterTensor);
  TfLiteTensor* bias =
      micro_context->AllocateTempInputTensor(node, kBiasTensor);  // may be null
  TfLiteTensor* thresholds =
      micro_context->AllocateTempInputTensor(node, kThresholdsTensor);
  TfLiteTensor* output =
      micro_context->AllocateTempOutputTensor(node, kOutputTensor);
  TF_LITE_ENSURE(context, input != nullptr && filter != nullptr &&
                              thresholds != nullptr && output != nullptr);

  TF_LITE_ENSURE_STATUS(
      CheckTypes(context, data, input, filter, bias, thresholds, output));
  TF_LITE_ENSURE_STATUS(ParseDivision(context, data));
  TF_LITE_ENSURE_EQ(context, tflite::NumDimensions(input), 4);
  TF_LITE_ENSURE_EQ(context, tflite::NumDimensions(filter), 4);
  TF_LITE_ENSURE_EQ(context, tflite::NumDimensions(output), 4);

  const int32_t batches = input->dims->data[0];
  const int32_t in_h = input->dims->data[1];
  const int32_t in_w = input->dims->data[2];
  const int32_t in_c = input->dims->data[3];
  const int32_t k_h = filter->dims->data[1];
  const int32_t k_w = filter->dims->data[2];
  const int32_t out_c = output->dims->data[3];
  TF_LITE_ENSURE_EQ(context, output->dims->data[0], batches);
  if (kind == OpKind::kConv) {
    TF_LITE_ENSURE_EQ(context, filter->dims->data[0], out_c);
    TF_LITE_ENSURE_EQ(context, filter->dims->data[3], in_c);
  } else {
    TF_LITE_ENSURE_EQ(context, filter->dims->data[0], 1);
    TF_LITE_ENSURE_EQ(context, filter->dims->data[3], out_c);
    TF_LITE_ENSURE(context, in_c > 0 && out_c % in_c == 0);
    const int32_t multiplier = out_c / in_c;
    // The option must agree with the shapes (0 = not given: take the shapes').
    TF_LITE_ENSURE(context, data->depth_multiplier == 0 ||
                                data->depth_multiplier == multiplier);
    data->depth_multiplier = multiplier;
  }
  const unit_padding_t padding = static_cast<unit_padding_t>(data->padding);
  const int32_t out_h = unit_compute_out_size(padding, in_h, k_h,
                                              data->stride_h, data->dilation_h);
  const int32_t out_w = unit_compute_out_size(padding, in_w, k_w,
                                              data->stride_w, data->dilation_w);
  TF_LITE_ENSURE_EQ(context, output->dims->data[1], out_h);
  TF_LITE_ENSURE_EQ(context, output->dims->data[2], out_w);
  TF_LITE_ENSURE_STATUS(
      CheckBiasAndThresholds(context, data, bias, thresholds, out_c));

  const int32_t pad_h = unit_compute_padding(data->stride_h, data->dilation_h,
                                             in_h, k_h, out_h);
  const int32_t pad_w = unit_compute_padding(data->stride_w, data->dilation_w,
                                             in_w, k_w, out_w);
  unit_shape_t filter_shape;
  filter_shape.n = filter->dims->data[0];
  filter_shape.h = k_h;
  filter_shape.w = k_w;
  filter_shape.c = filter->dims->data[3];
  unit_shape_t output_shape;
  output_shape.n = output->dims->data[0];
  output_shape.h = out_h;
  output_shape.w = out_w;
  output_shape.c = out_c;

  size_t scratch_bytes = 0;
  if (data->is_float) {
    unit_conv_float_params_t& p = data->conv_float;
    p.stride_h = data->stride_h;
    p.stride_w = data->stride_w;
    p.dilation_h = data->dilation_h;
    p.dilation_w = data->dilation_w;
    p.pad_h = pad_h;
    p.pad_w = pad_w;
    p.depth_multiplier = data->depth_multiplier;
    FloatActivationRange(data->activation, &p.act_min, &p.act_max);
    unit_float_skip_t skip;
    skip.thresholds = thresholds->data.f;
    skip.group_size = data->group_size;
    skip.division = data->division_float;
    scratch_bytes = kind == OpKind::kConv
                        ? unit_conv_float_scratch_bytes(&filter_shape, &skip)
                        : unit_depthwise_float_scratch_bytes(&filter_shape,
                                                             &skip);
  } else {
    // Conv filters carry per-channel scales on dimension 0, depthwise on 3.
    const int32_t channel_dim = kind == OpKind::kConv ? 0 : 3;
    TF_LITE_ENSURE_STATUS(PrepareRequant(context, data, input, filter, output,
                                         out_c, channel_dim, kind));
    unit_conv_params_t& p = data->conv;
    p.stride_h = data->stride_h;
    p.stride_w = data->stride_w;
    p.dilation_h = data->dilation_h;
    p.dilation_w = data->dilation_w;
    p.pad_h = pad_h;
    p.pad_w = pad_w;
    p.depth_multiplier = data->depth_multiplier;
    p.input_offset = -input->params.zero_point;
    p.output_offset = output->params.zero_point;
    TF_LITE_ENSURE_STATUS(ToTfLiteStatus(
        context, unit_activation_range_int8(data->activation,
                                            output->params.scale,
                                            output->params.zero_point,
                                            &p.act_min, &p.act_max)));
    unit_skip_t skip;
    skip.thresholds = thresholds->data.i16;
    skip.group_size = data->group_size;
    skip.division = data->division_int8;
    if (data->layout == kLayoutBucketed) {
      unit_shape_t input_shape;
      input_shape.n = batches;
      input_shape.h = in_h;
      input_shape.w = in_w;
      input_shape.c = in_c;
      // Whole image, or one output row (the kernel sorts and walks in row
      // blocks of whatever fits).  0 = a geometry the kernel cannot take.
      scratch_bytes =
          UNIT_TFLM_SMALL_SCRATCH
              ? unit_conv_bucketed_min_scratch_bytes(&p, &input_shape,
                                                     &filter_shape,
                                                     &output_shape, &skip)
              : unit_conv_bucketed_scratch_bytes(&p, &input_shape,
                                                 &filter_shape, &output_shape,
                                                 &skip);
      TF_LITE_ENSURE_MSG(context, scratch_bytes > 0,
                         "UnIT op: the bucketed layout cannot take this "
                         "geometry (input rows too wide for its byte column "
                         "indices)");
    } else if (UNIT_TFLM_SMALL_SCRATCH) {
      // One output row of accumulators: the core works in row blocks.
      scratch_bytes =
          kind == OpKind::kConv
              ? unit_conv_min_scratch_bytes(&filter_shape, &output_shape,
                                            &skip)
              : unit_depthwise_min_scratch_bytes(&filter_shape, &output_shape,
                                                 &skip);
    } else {
      // A whole image of accumulators: the fastest.
      scratch_bytes =
          kind == OpKind::kConv
              ? unit_conv_scratch_bytes(&filter_shape, &output_shape, &skip)
              : unit_depthwise_scratch_bytes(&filter_shape, &output_shape,
                                             &skip);
    }
  }
  TF_LITE_ENSURE_STATUS(RequestScratch(context, data, scratch_bytes));

  micro_context->DeallocateTempTfLiteTensor(input);
  micro_context->DeallocateTempTfLiteTensor(filter);
  if (bias != nullptr) micro_context->DeallocateTempTfLiteTensor(bias);
  micro_context->DeallocateTempTfLiteTensor(thresholds);
  micro_context->DeallocateTempTfLiteTensor(output);
  return kTfLiteOk;
}

TfLiteStatus PrepareConv(TfLiteContext* context, TfLiteNode* node) {
  return PrepareConvLike(context, node, OpKind::kConv);
}
TfLiteStatus PrepareDepthwise(TfLiteContext* context, TfLiteNode* node) {
  return PrepareConvLike(context, node, OpKind::kDepthwise);
}

// Fully connected: filter [C_out, depth], input [..., depth] flattened to
// [batches, depth], output [..., C_out].
TfLiteStatus PrepareFullyConnected(TfLiteContext* context, TfLiteNode* node) {
  TFLITE_DCHECK(node->user_data != nullptr);
  OpData* data = static_cast<OpData*>(node->user_data);
  TF_LITE_ENSURE_STATUS(
      CheckOptions(context, data, OpKind::kFullyConnected));
  const bool layout_tensors =
      data->format_version >= UNIT_LAYOUT_TENSORS_FORMAT_VERSION;
  TF_LITE_ENSURE_EQ(context, node->inputs->size,
                    layout_tensors ? kNumInputsWithLayout : kNumInputs);
  TF_LITE_ENSURE_EQ(context, node->outputs->size, 1);
  TF_LITE_ENSURE_STATUS(CheckNotCompressed(context, node));

  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);
  TfLiteTensor* input =
      micro_context->AllocateTempInputTensor(node, kInputTensor);
  TfLiteTensor* filter =
      micro_context->AllocateTempInputTensor(node, kFilterTensor);
  TfLiteTensor* bias =
      micro_context->AllocateTempInputTensor(node, kBiasTensor);  // may be null
  TfLiteTensor* thresholds =
      micro_context->AllocateTempInputTensor(node, kThresholdsTensor);
  TfLiteTensor* output =
      micro_context->AllocateTempOutputTensor(node, kOutputTensor);
  TF_LITE_ENSURE(context, input != nullptr && filter != nullptr &&
                              thresholds != nullptr && output != nullptr);

  TF_LITE_ENSURE_STATUS(
      CheckTypes(context, data, input, filter, bias, thresholds, output));
  TF_LITE_ENSURE_STATUS(ParseDivision(context, data));
  TF_LITE_ENSURE_EQ(context, tflite::NumDimensions(filter), 2);
  const int32_t out_c = filter->dims->data[0];
  const int32_t depth = filter->dims->data[1];
  const int out_dims = tflite::NumDimensions(output);
  TF_LITE_ENSURE(context, out_dims >= 1 && depth > 0);
  TF_LITE_ENSURE_EQ(context, output->dims->data[out_dims - 1], out_c);
  const int32_t batches = tflite::NumElements(output) / out_c;
  TF_LITE_ENSURE_EQ(context, tflite::NumElements(input), batches * depth);
  TF_LITE_ENSURE_STATUS(
      CheckBiasAndThresholds(context, data, bias, thresholds, out_c));

  size_t scratch_bytes = 0;
  if (data->is_float) {
    FloatActivationRange(data->activation, &data->float_act_min,
                         &data->float_act_max);
    unit_float_skip_t skip;
    skip.thresholds = thresholds->data.f;
    skip.group_size = data->group_size;
    skip.division = data->division_float;
    scratch_bytes = unit_fc_float_scratch_bytes(out_c, &skip);
  } else {
    TF_LITE_ENSURE_STATUS(PrepareRequant(context, data, input, filter, output,
                                         out_c, 0, OpKind::kFullyConnected));
    data->fc.input_offset = -input->params.zero_point;
    data->fc.output_offset = output->params.zero_point;
    TF_LITE_ENSURE_STATUS(ToTfLiteStatus(
        context, unit_activation_range_int8(data->activation,
                                            output->params.scale,
                                            output->params.zero_point,
                                            &data->fc.act_min,
                                            &data->fc.act_max)));
    unit_skip_t skip;
    skip.thresholds = thresholds->data.i16;
    skip.group_size = data->group_size;
    skip.division = data->division_int8;
    if (data->layout == kLayoutSorted) {
      TF_LITE_ENSURE_STATUS(
          layout_tensors
              ? CheckSortedLayoutTensors(context, node, data, filter, depth,
                                         out_c)
              : PrepareSortedLayout(context, data, filter, depth, out_c));
      scratch_bytes = unit_fc_sorted_scratch_bytes(out_c, &skip);
    } else {
      scratch_bytes = unit_fc_scratch_bytes(out_c, &skip);
    }
  }
  TF_LITE_ENSURE_STATUS(RequestScratch(context, data, scratch_bytes));

  micro_context->DeallocateTempTfLiteTensor(input);
  micro_context->DeallocateTempTfLiteTensor(filter);
  if (bias != nullptr) micro_context->DeallocateTempTfLiteTensor(bias);
  micro_context->DeallocateTempTfLiteTensor(thresholds);
  micro_context->DeallocateTempTfLiteTensor(output);
  return kTfLiteOk;
}

// ---------------------------------------------------------------- Eval ----

unit_shape_t ShapeOf(const TfLiteEvalTensor* t) {
  unit_shape_t s;
  s.n = t->dims->data[0];
  s.h = t->dims->data[1];
  s.w = t->dims->data[2];
  s.c = t->dims->data[3];
  return s;
}

void* Scratch(TfLiteContext* context, const OpData* data) {
  if (data->scratch_index < 0) return nullptr;
  return context->GetScratchBuffer(context, data->scratch_index);
}

TfLiteStatus EvalConvLike(TfLiteContext* context, TfLiteNode* node,
                          OpKind kind) {
  const OpData* data = static_cast<const OpData*>(node->user_data);
  const TfLiteEvalTensor* input =
      tflite::micro::GetEvalInput(context, node, kInputTensor);
  const TfLiteEvalTensor* filter =
      tflite::micro::GetEvalInput(context, node, kFilterTensor);
  const TfLiteEvalTensor* bias =
      tflite::micro::GetEvalInput(context, node, kBiasTensor);  // may be null
  const TfLiteEvalTensor* thresholds =
      tflite::micro::GetEvalInput(context, node, kThresholdsTensor);
  TfLiteEvalTensor* output =
      tflite::micro::GetEvalOutput(context, node, kOutputTensor);

  const unit_shape_t input_shape = ShapeOf(input);
  const unit_shape_t filter_shape = ShapeOf(filter);
  const unit_shape_t output_shape = ShapeOf(output);
  void* scratch = Scratch(context, data);
  unit_status_t status;
  if (data->is_float) {
    unit_float_skip_t skip;
    skip.thresholds = tflite::micro::GetTensorData<float>(thresholds);
    skip.group_size = data->group_size;
    skip.division = data->division_float;
    const float* bias_data = tflite::micro::GetOptionalTensorData<float>(bias);
    if (kind == OpKind::kConv) {
      status = unit_conv_2d_float(
          &data->conv_float, &input_shape,
          tflite::micro::GetTensorData<float>(input), &filter_shape,
          tflite::micro::GetTensorData<float>(filter), bias_data,
          &output_shape, tflite::micro::GetTensorData<float>(output), &skip,
          scratch, data->scratch_bytes, nullptr);
    } else {
      status = unit_depthwise_conv_2d_float(
          &data->conv_float, &input_shape,
          tflite::micro::GetTensorData<float>(input), &filter_shape,
          tflite::micro::GetTensorData<float>(filter), bias_data,
          &output_shape, tflite::micro::GetTensorData<float>(output), &skip,
          scratch, data->scratch_bytes, nullptr);
    }
  } else {
    unit_skip_t skip;
    skip.thresholds = tflite::micro::GetTensorData<int16_t>(thresholds);
    skip.group_size = data->group_size;
    skip.division = data->division_int8;
    unit_requant_t requant;
    requant.multiplier = data->multiplier;
    requant.shift = data->shift;
    const int32_t* bias_data =
        tflite::micro::GetOptionalTensorData<int32_t>(bias);
    if (data->layout == kLayoutBucketed) {
      status = unit_conv_2d_bucketed_int8(
          &data->conv, &requant, &input_shape,
          tflite::micro::GetTensorData<int8_t>(input), &filter_shape,
          tflite::micro::GetTensorData<int8_t>(filter), bias_data,
          &output_shape, tflite::micro::GetTensorData<int8_t>(output), &skip,
          scratch, data->scratch_bytes, nullptr);
    } else if (kind == OpKind::kConv) {
      status = unit_conv_2d_int8(
          &data->conv, &requant, &input_shape,
          tflite::micro::GetTensorData<int8_t>(input), &filter_shape,
          tflite::micro::GetTensorData<int8_t>(filter), bias_data,
          &output_shape, tflite::micro::GetTensorData<int8_t>(output), &skip,
          scratch, data->scratch_bytes, nullptr);
    } else {
      status = unit_depthwise_conv_2d_int8(
          &data->conv, &requant, &input_shape,
          tflite::micro::GetTensorData<int8_t>(input), &filter_shape,
          tflite::micro::GetTensorData<int8_t>(filter), bias_data,
          &output_shape, tflite::micro::GetTensorData<int8_t>(output), &skip,
          scratch, data->scratch_bytes, nullptr);
    }
  }
  return ToTfLiteStatus(context, status);
}

TfLiteStatus EvalConv(TfLiteContext* context, TfLiteNode* node) {
  return EvalConvLike(context, node, OpKind::kConv);
}
TfLiteStatus EvalDepthwise(TfLiteContext* context, TfLiteNode* node) {
  return EvalConvLike(context, node, OpKind::kDepthwise);
}

TfLiteStatus EvalFullyConnected(TfLiteContext* context, TfLiteNode* node) {
  const OpData* data = static_cast<const OpData*>(node->user_data);
  const TfLiteEvalTensor* input =
      tflite::micro::GetEvalInput(context, node, kInputTensor);
  const TfLiteEvalTensor* filter =
      tflite::micro::GetEvalInput(context, node, kFilterTensor);
  const TfLiteEvalTensor* bias =
      tflite::micro::GetEvalInput(context, node, kBiasTensor);  // may be null
  const TfLiteEvalTensor* thresholds =
      tflite::micro::GetEvalInput(context, node, kThresholdsTensor);
  TfLiteEvalTensor* output =
      tflite::micro::GetEvalOutput(context, node, kOutputTensor);

  const int32_t out_c = filter->dims->data[0];
  const int32_t depth = filter->dims->data[1];
  int32_t output_size = 1;
  for (int i = 0; i < output->dims->size; ++i) {
    output_size *= output->dims->data[i];
  }
  const int32_t batches = output_size / out_c;
  void* scratch = Scratch(context, data);
  unit_status_t status;
  if (data->is_float) {
    unit_float_skip_t skip;
    skip.thresholds = tflite::micro::GetTensorData<float>(thresholds);
    skip.group_size = data->group_size;
    skip.division = data->division_float;
    status = unit_fully_connected_float(
        data->float_act_min, data->float_act_max, batches, depth, out_c,
        tflite::micro::GetTensorData<float>(input),
        tflite::micro::GetTensorData<float>(filter),
        tflite::micro::GetOptionalTensorData<float>(bias),
        tflite::micro::GetTensorData<float>(output), &skip, scratch,
        data->scratch_bytes, nullptr);
  } else {
    unit_skip_t skip;
    skip.thresholds = tflite::micro::GetTensorData<int16_t>(thresholds);
    skip.group_size = data->group_size;
    skip.division = data->division_int8;
    unit_requant_t requant;
    requant.multiplier = data->multiplier;
    requant.shift = data->shift;
    if (data->layout == kLayoutSorted) {
      unit_fc_sorted_t layout = data->sorted;  // format_version 2
      if (data->format_version >= UNIT_LAYOUT_TENSORS_FORMAT_VERSION) {
        const TfLiteEvalTensor* weights =
            tflite::micro::GetEvalInput(context, node, kSortedWeightsTensor);
        const TfLiteEvalTensor* index =
            tflite::micro::GetEvalInput(context, node, kSortedIndexTensor);
        const bool narrow = index->type == kTfLiteUInt8;
        layout.weights = tflite::micro::GetTensorData<int8_t>(weights);
        layout.index8 =
            narrow ? tflite::micro::GetTensorData<uint8_t>(index) : nullptr;
        layout.index16 =
            narrow ? nullptr : tflite::micro::GetTensorData<uint16_t>(index);
        layout.group_size = data->group_size;
      }
      status = unit_fully_connected_sorted_int8(
          &data->fc, &requant, batches, depth, out_c,
          tflite::micro::GetTensorData<int8_t>(input), &layout,
          tflite::micro::GetOptionalTensorData<int32_t>(bias),
          tflite::micro::GetTensorData<int8_t>(output), &skip, scratch,
          data->scratch_bytes, nullptr);
    } else {
      status = unit_fully_connected_int8(
          &data->fc, &requant, batches, depth, out_c,
          tflite::micro::GetTensorData<int8_t>(input),
          tflite::micro::GetTensorData<int8_t>(filter),
          tflite::micro::GetOptionalTensorData<int32_t>(bias),
          tflite::micro::GetTensorData<int8_t>(output), &skip, scratch,
          data->scratch_bytes, nullptr);
    }
  }
  return ToTfLiteStatus(context, status);
}

}  // namespace

TFLMRegistration* Register_UNIT_CONV_2D() {
  static TFLMRegistration r =
      tflite::micro::RegisterOp(InitConv, PrepareConv, EvalConv);
  return &r;
}

TFLMRegistration* Register_UNIT_DEPTHWISE_CONV_2D() {
  static TFLMRegistration r =
      tflite::micro::RegisterOp(InitDepthwise, PrepareDepthwise, EvalDepthwise);
  return &r;
}

TFLMRegistration* Register_UNIT_FULLY_CONNECTED() {
  static TFLMRegistration r = tflite::micro::RegisterOp(
      InitFullyConnected, PrepareFullyConnected, EvalFullyConnected);
  return &r;
}

}  // namespace tflm_unit
