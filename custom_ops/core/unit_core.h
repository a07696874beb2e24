/*
 * tflm-unit kernel core: the one C implementation of the UnIT kernels and of
 * the int8 ops a small MCU CNN needs.  Portable C99: no dynamic allocation,
 * fixed-width integer types, safe where `int` is 16 bits (MSP430).
 *
 * Called by three front ends: the CPython extension (host runtime), the TFLM
 * adapters (custom_ops/tflm) and the MSP430 graph runner (custom_ops/msp430).
 *
 * Conventions (those of TFLite's int8 scheme, as TFLM's reference kernels
 * compute it):
 *   - activations are int8 NHWC with a zero point; kernels take
 *     input_offset = -input_zero_point and output_offset = output_zero_point;
 *   - weights are symmetric int8 (zero point 0), per output channel or per
 *     tensor (the caller repeats the per-tensor value per channel);
 *   - the accumulator is int32; requantisation uses a Q31 multiplier and a
 *     power-of-two shift per output channel (unit_quantize_multiplier).
 *
 * UnIT skipping: a MAC x'*w is skipped when |x'*w| <= T_q (integer threshold
 * per group of output channels), decided without forming the product:
 * conv / depthwise divide T_q by |w| once per weight (scratch reused at every
 * output position), fully connected divides T_q by |x'| once per input and
 * group (input-stationary).  See DESIGN.md section 3.
 */
#ifndef TFLM_UNIT_CORE_H_
#define TFLM_UNIT_CORE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Host builds count MACs; MCU builds define UNIT_COUNTERS=0 to compile the
 * counting out. */
#ifndef UNIT_COUNTERS
#define UNIT_COUNTERS 1
#endif

#define UNIT_FORMAT_VERSION 1
/* The custom-options version of ops that carry a `layout` option
 * (DESIGN.md §9): a bucketed conv, and a sorted fully connected op as files
 * written before version 3 carry it (readers build its arrays). */
#define UNIT_LAYOUT_FORMAT_VERSION 2
/* The custom-options version of a `sorted` UNIT_FULLY_CONNECTED whose file
 * carries the layout as two constant inputs after the thresholds (weights
 * int8, indices uint8 / uint16, each [input_depth, groups, group_size + 1],
 * unit_fc_sorted_t's arrays as they are); version-2 ops carry the option
 * only.  The newest version readers accept. */
#define UNIT_LAYOUT_TENSORS_FORMAT_VERSION 3

/* What every public function of the core returns (or, for the size and
 * geometry queries, signals by returning 0).  Arguments are validated once
 * per call, before any work: an invalid call returns a non-zero status and
 * touches no output, never undefined behaviour. */
typedef enum {
  UNIT_OK = 0,
  UNIT_ERR_ARG = 1,        /* a bad scalar: non-positive dim, stride or
                              dilation, unknown padding / activation, a
                              scale that is not positive and finite */
  UNIT_ERR_GROUP = 2,      /* group size does not divide the channel count */
  UNIT_ERR_SCRATCH = 3,    /* scratch buffer missing or too small */
  UNIT_ERR_DIVISION = 4,   /* unknown division mode */
  UNIT_ERR_SHAPE = 5,      /* inconsistent shapes or geometry (e.g. an output
                              the input, filter, stride and padding cannot
                              produce) */
  UNIT_ERR_NULL = 6,       /* a required pointer is NULL */
  UNIT_ERR_REQUANT = 7,    /* a requantisation multiplier < 0 or a shift
                              outside the range the op allows (TFLM's
                              MultiplyByQuantizedMultiplier: [-31, 30]) */
  UNIT_ERR_ACTIVATION = 8, /* act_min > act_max, a bound outside int8 or,
                              for float kernels, a NaN bound */
  UNIT_ERR_OFFSET = 9,     /* a zero point / offset outside int8's range */
  UNIT_ERR_OVERFLOW = 10   /* sizes or geometry beyond the core's index range
                              (int32, and ptrdiff_t / size_t of the target) */
} unit_status_t;

/* "UNIT_OK", "UNIT_ERR_ARG", ...; "UNIT_ERR_UNKNOWN" for other values. */
const char *unit_status_name(unit_status_t status);
/* A one-line English description of the status. */
const char *unit_status_message(unit_status_t status);

/* How T_q / d is computed.  All four agree on the skip decision's meaning:
 * skip when the compared magnitude <= quotient. */
typedef enum {
  UNIT_DIV_EXACT = 0, /* floor(T_q / d) */
  UNIT_DIV_SHIFT = 1, /* T_q >> floor(log2 d), exponent by shifting d right */
  UNIT_DIV_TREE = 2,  /* same value; exponent by a fixed binary search and
                         a per-group table of T_q >> e */
  UNIT_DIV_CLZ = 3    /* same value; exponent from count-leading-zeros */
} unit_division_t;

/* Float models: exact T / |d| or the IEEE-754 exponent of |d|. */
typedef enum {
  UNIT_FDIV_EXACT = 0,
  UNIT_FDIV_BITMASK = 1
} unit_float_division_t;

typedef enum {
  UNIT_PADDING_SAME = 0, /* values of tflite::Padding */
  UNIT_PADDING_VALID = 1
} unit_padding_t;

/* MAC counters (host builds).  macs_total counts every connection of the
 * layer (kernel taps over padding included, the usual "MACs" figure);
 * macs_executed counts the multiplications really performed. */
typedef struct {
  uint64_t macs_total;
  uint64_t macs_executed;
  /* optional, may be NULL: multiplications executed per output channel,
   * length = output channels; accumulated into (+=), not reset. */
  uint64_t *channel_executed;
} unit_stats_t;

/* UnIT skipping parameters.  thresholds == NULL selects the plain dense
 * kernel (the builtin op).  thresholds has num_groups = channels /
 * group_size entries, T_q >= 0 (negative values act as 0). */
typedef struct {
  const int16_t *thresholds;
  int32_t group_size;
  unit_division_t division;
} unit_skip_t;

typedef struct {
  const float *thresholds; /* NULL = dense */
  int32_t group_size;
  unit_float_division_t division;
} unit_float_skip_t;

/* NHWC tensor shape (fully connected uses n = batches, c = depth). */
typedef struct {
  int32_t n, h, w, c;
} unit_shape_t;

/* Requantisation: per output channel Q31 multiplier and shift (positive =
 * left).  Per-tensor quantisation repeats the same value per channel. */
typedef struct {
  const int32_t *multiplier;
  const int32_t *shift;
} unit_requant_t;

typedef struct {
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;          /* top / left padding (unit_compute_padding) */
  int32_t depth_multiplier;      /* depthwise only */
  int32_t input_offset;          /* -input zero point */
  int32_t output_offset;         /* output zero point */
  int32_t act_min, act_max;      /* fused activation clamp, quantised */
} unit_conv_params_t;

typedef struct {
  int32_t input_offset;
  int32_t output_offset;
  int32_t act_min, act_max;
} unit_fc_params_t;

typedef struct {
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;
  int32_t depth_multiplier;
  float act_min, act_max;
} unit_conv_float_params_t;

/* ---- fixed-point helpers (unit_quant.c), as TFLite computes them ---- */

/* double -> (Q31 multiplier, shift), like tflite::QuantizeMultiplier:
 * multiplier in [2^30, 2^31) (0 for 0 and for values below 2^-32), any
 * shift (kernels check theirs).  UNIT_ERR_NULL / UNIT_ERR_ARG (negative,
 * NaN or infinite real multiplier; outputs then set to 0). */
unit_status_t unit_quantize_multiplier(double real_multiplier,
                                       int32_t *multiplier, int32_t *shift);
/* Total functions (defined for every int32): a shift outside [-31, 30] or an
 * exponent outside [0, 31] is clamped into range (kernels reject such
 * values before they get here); wrapping, never signed overflow. */
int32_t unit_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier,
                                              int32_t shift);
int32_t unit_saturating_rounding_doubling_high_mul(int32_t a, int32_t b);
int32_t unit_rounding_divide_by_pot(int32_t x, int32_t exponent);
/* Output size and top/left padding for one spatial dimension, as TFLite's
 * ComputeOutSize / ComputePaddingHeightWidth, computed in 64 bits.  Out
 * size is 0 for invalid arguments (a size, stride or dilation <= 0, an
 * unknown padding, an effective filter taller than the input with VALID
 * padding, anything beyond int32); padding is 0 for invalid arguments and
 * saturates at INT32_MAX. */
int32_t unit_compute_out_size(unit_padding_t padding, int32_t in_size,
                              int32_t filter_size, int32_t stride,
                              int32_t dilation);
int32_t unit_compute_padding(int32_t stride, int32_t dilation, int32_t in_size,
                             int32_t filter_size, int32_t out_size);
/* Clamp range for a fused activation (tflite::ActivationFunctionType value
 * NONE, RELU, RELU_N1_TO_1 or RELU6) of an int8 tensor with the given scale
 * and zero point.  UNIT_ERR_NULL, UNIT_ERR_ARG (another activation, a scale
 * not positive and finite), UNIT_ERR_OFFSET (zero point outside int8); the
 * outputs are then set to [-128, 127]. */
unit_status_t unit_activation_range_int8(int32_t fused_activation, float scale,
                                         int32_t zero_point, int32_t *act_min,
                                         int32_t *act_max);

/* ---- division approximations (unit_division.c) ---- */

/* T_q / d for T_q in [0, 32767], d in [1, 255] with the given mode. */
int16_t unit_divide(int16_t t_q, uint8_t d, unit_division_t mode);
/* floor(log2 d) for d in [1, 255] by binary search over powers of two. */
uint8_t unit_tree_exponent(uint8_t d);
/* table[e] = t_q >> e for e = 0..7 (the `tree` mode's per-group table);
 * a NULL table is ignored. */
void unit_shift_table(int16_t t_q, int16_t table[8]);
float unit_divide_float(float t, float d, unit_float_division_t mode);

/* ---- int8 UnIT kernels (unit_conv.c, unit_depthwise.c, unit_fc.c) ---- */

/* Scratch bytes a kernel needs.  Conv and depthwise are weight-stationary:
 * they need the int16 quotients of one channel when skipping, plus int32
 * accumulators for a block of output rows.  *_scratch_bytes gives room for
 * a whole image (fastest); *_min_scratch_bytes for one row (any size in
 * between works: the kernels process as many rows per block as fit).  Fully
 * connected needs scratch only when skipping.  Every query returns 0 for
 * invalid arguments (a NULL or non-positive shape, a group size that does
 * not divide the channels, a size that does not fit size_t): the kernels
 * then refuse the call with the matching status. */
size_t unit_conv_scratch_bytes(const unit_shape_t *filter,
                               const unit_shape_t *output,
                               const unit_skip_t *skip);
size_t unit_conv_min_scratch_bytes(const unit_shape_t *filter,
                                   const unit_shape_t *output,
                                   const unit_skip_t *skip);
size_t unit_depthwise_scratch_bytes(const unit_shape_t *filter,
                                    const unit_shape_t *output,
                                    const unit_skip_t *skip);
size_t unit_depthwise_min_scratch_bytes(const unit_shape_t *filter,
                                        const unit_shape_t *output,
                                        const unit_skip_t *skip);
size_t unit_fc_scratch_bytes(int32_t output_depth, const unit_skip_t *skip);

/* filter is [out_c, kh, kw, in_c] (shape given as n=out_c, h=kh, w=kw,
 * c=in_c); bias int32 [out_c] or NULL; output [n, out_h, out_w, out_c].
 *
 * Checked before any work (conv and depthwise alike): pointers
 * (UNIT_ERR_NULL); positive sizes, strides, dilations, pad >= 0
 * (UNIT_ERR_ARG); input_offset in [-127, 128], output_offset in [-128, 127]
 * (UNIT_ERR_OFFSET); -128 <= act_min <= act_max <= 127
 * (UNIT_ERR_ACTIVATION); per channel multiplier >= 0 and shift in [-31, 30]
 * (UNIT_ERR_REQUANT); filter / output channels and batches consistent, and
 * per spatial dim 0 <= pad < effective filter size, (out - 1) * stride -
 * pad < in and (out - 1) * stride + effective - in <= 2 * pad + 1, which
 * every TFLite SAME / VALID geometry satisfies
 * (UNIT_ERR_SHAPE); every element count and index within the target's
 * range (UNIT_ERR_OVERFLOW); skip (UNIT_ERR_GROUP / UNIT_ERR_DIVISION);
 * scratch (UNIT_ERR_SCRATCH).  Accumulation wraps like TFLM's int32 on
 * real hardware (e.g. with an extreme bias), never signed overflow. */
unit_status_t unit_conv_2d_int8(const unit_conv_params_t *params,
                                const unit_requant_t *requant,
                                const unit_shape_t *input_shape,
                                const int8_t *input,
                                const unit_shape_t *filter_shape,
                                const int8_t *filter, const int32_t *bias,
                                const unit_shape_t *output_shape,
                                int8_t *output, const unit_skip_t *skip,
                                void *scratch, size_t scratch_bytes,
                                unit_stats_t *stats);

/* ---- conv, bucketed inputs (unit_conv_bucketed.c) ----
 * DESIGN.md §9 "Zero-cost skipping": unit_conv_2d_int8 with the same
 * arguments, outputs and executed-MAC counts, for every skip setting; each
 * row block's input is sorted once per call into per-row lists of
 * descending |x'|, so a weight walks only the inputs it multiplies.  Without
 * thresholds it is unit_conv_2d_int8 (same scratch).  Scratch: the
 * quotients of one channel, int32 accumulators for a block of output rows
 * with guard columns, and two bytes per input element of the rows the
 * block reads (plus one sentinel per row, channel and column phase);
 * *_scratch_bytes for the whole image (fastest), *_min_ for one output row.
 * Both return 0 for invalid arguments, and for rows too wide for byte
 * column indices (input width + padding over the stride, plus guards, above
 * 256): the kernel then refuses with UNIT_ERR_OVERFLOW. */
size_t unit_conv_bucketed_scratch_bytes(const unit_conv_params_t *params,
                                        const unit_shape_t *input,
                                        const unit_shape_t *filter,
                                        const unit_shape_t *output,
                                        const unit_skip_t *skip);
size_t unit_conv_bucketed_min_scratch_bytes(const unit_conv_params_t *params,
                                            const unit_shape_t *input,
                                            const unit_shape_t *filter,
                                            const unit_shape_t *output,
                                            const unit_skip_t *skip);
unit_status_t unit_conv_2d_bucketed_int8(
    const unit_conv_params_t *params, const unit_requant_t *requant,
    const unit_shape_t *input_shape, const int8_t *input,
    const unit_shape_t *filter_shape, const int8_t *filter,
    const int32_t *bias, const unit_shape_t *output_shape, int8_t *output,
    const unit_skip_t *skip, void *scratch, size_t scratch_bytes,
    unit_stats_t *stats);

/* filter is [1, kh, kw, in_c * depth_multiplier]. */
unit_status_t unit_depthwise_conv_2d_int8(
    const unit_conv_params_t *params, const unit_requant_t *requant,
    const unit_shape_t *input_shape, const int8_t *input,
    const unit_shape_t *filter_shape, const int8_t *filter,
    const int32_t *bias, const unit_shape_t *output_shape, int8_t *output,
    const unit_skip_t *skip, void *scratch, size_t scratch_bytes,
    unit_stats_t *stats);

/* input [batches, input_depth], filter [output_depth, input_depth],
 * output [batches, output_depth]; requant per output channel (or the same
 * value repeated for per-tensor weights).  Checks as conv (no geometry). */
unit_status_t unit_fully_connected_int8(
    const unit_fc_params_t *params, const unit_requant_t *requant,
    int32_t batches, int32_t input_depth, int32_t output_depth,
    const int8_t *input, const int8_t *filter, const int32_t *bias,
    int8_t *output, const unit_skip_t *skip, void *scratch,
    size_t scratch_bytes, unit_stats_t *stats);

/* ---- fully connected, sorted layout (unit_fc_sorted.c) ----
 * DESIGN.md §9 "Zero-cost skipping".  Per input d and threshold group g a
 * segment of group_size + 1 entries: the group's non-zero weights of input d
 * in descending |w| (ascending output among equals), then zero weights up to
 * the last slot, which is always 0 (the sentinel that ends every walk).
 * Each entry has its output index (absolute, in [g * group_size,
 * (g + 1) * group_size)): index8 when output_depth <= 256, else index16
 * (exactly one of them is non-NULL).  Segments are stored input-major:
 * entry (d, g, k) at (d * groups + g) * (group_size + 1) + k. */
typedef struct {
  const int8_t *weights;
  const uint8_t *index8;
  const uint16_t *index16;
  int32_t group_size; /* the layout's segment size; = skip->group_size */
} unit_fc_sorted_t;

/* Entries of each array: input_depth * (output_depth + groups); 0 for
 * invalid sizes (non-positive, a group size that does not divide the
 * outputs, beyond the index range). */
size_t unit_fc_sorted_entries(int32_t input_depth, int32_t output_depth,
                              int32_t group_size);
/* 1 (uint8 indices) for output_depth <= 256, else 2. */
int32_t unit_fc_sorted_index_bytes(int32_t output_depth);
/* Builds the layout of filter [output_depth, input_depth] into weights and
 * index8 / index16 (unit_fc_sorted_entries each).  Host / converter code. */
unit_status_t unit_fc_sorted_build(const int8_t *filter, int32_t input_depth,
                                   int32_t output_depth, int32_t group_size,
                                   int8_t *weights, uint8_t *index8,
                                   uint16_t *index16);
/* Validates a layout's contents (indices inside their group, descending
 * magnitudes, a zero run ending every segment): UNIT_OK or
 * UNIT_ERR_NULL / ARG / GROUP / SHAPE / OVERFLOW.  A front end that takes
 * a layout from outside calls it before the kernel (the host binding does
 * on every call); layouts from unit_fc_sorted_build (export-c's MSP430
 * graph) pass by construction.  The kernel itself does not re-read the
 * layout, which would cost as much as the walk. */
unit_status_t unit_fc_sorted_check(const unit_fc_sorted_t *layout,
                                   int32_t input_depth, int32_t output_depth);
/* unit_fc_sorted_check, and the layout is the one unit_fc_sorted_build
 * writes for `filter` [output_depth, input_depth]: per segment exactly the
 * filter's non-zero weights of that input and group, each at its output
 * index, equal magnitudes in ascending output order (UNIT_ERR_SHAPE
 * otherwise).  No allocation, one pass over the layout and the filter: for
 * a front end that reads the layout from a file next to its filter (the
 * TFLM adapter, format_version 3), so the sorted kernel computes what the
 * filter does. */
unit_status_t unit_fc_sorted_check_filter(const unit_fc_sorted_t *layout,
                                          const int8_t *filter,
                                          int32_t input_depth,
                                          int32_t output_depth);
/* int32 accumulators and the groups' divisors; 0 for invalid arguments. */
size_t unit_fc_sorted_scratch_bytes(int32_t output_depth,
                                    const unit_skip_t *skip);
/* unit_fully_connected_int8 on a layout that passed unit_fc_sorted_check:
 * the same outputs bit for bit, and the same executed-MAC counts, for every
 * skip setting.  skip->group_size must equal layout->group_size
 * (UNIT_ERR_GROUP).  Without thresholds it runs at T = 0 (skipping only
 * zero products, so macs_executed counts non-zero products only: the dense
 * result).  Checks as unit_fully_connected_int8. */
unit_status_t unit_fully_connected_sorted_int8(
    const unit_fc_params_t *params, const unit_requant_t *requant,
    int32_t batches, int32_t input_depth, int32_t output_depth,
    const int8_t *input, const unit_fc_sorted_t *layout, const int32_t *bias,
    int8_t *output, const unit_skip_t *skip, void *scratch,
    size_t scratch_bytes, unit_stats_t *stats);

/* ---- float32 UnIT kernels (unit_float.c) ----
 * Same layouts as int8; the UnIT path divides like the int8 kernels (once per
 * weight for conv/depthwise, once per input and group for fully connected)
 * and keeps quotients / accumulators in scratch.  Argument checks as the
 * int8 kernels' (no offsets / requantisation); the clamp needs
 * act_min <= act_max, neither NaN (UNIT_ERR_ACTIVATION). */

size_t unit_conv_float_scratch_bytes(const unit_shape_t *filter,
                                     const unit_float_skip_t *skip);
size_t unit_depthwise_float_scratch_bytes(const unit_shape_t *filter,
                                          const unit_float_skip_t *skip);
size_t unit_fc_float_scratch_bytes(int32_t output_depth,
                                   const unit_float_skip_t *skip);

unit_status_t unit_conv_2d_float(const unit_conv_float_params_t *params,
                                 const unit_shape_t *input_shape,
                                 const float *input,
                                 const unit_shape_t *filter_shape,
                                 const float *filter, const float *bias,
                                 const unit_shape_t *output_shape,
                                 float *output, const unit_float_skip_t *skip,
                                 void *scratch, size_t scratch_bytes,
                                 unit_stats_t *stats);
unit_status_t unit_depthwise_conv_2d_float(
    const unit_conv_float_params_t *params, const unit_shape_t *input_shape,
    const float *input, const unit_shape_t *filter_shape, const float *filter,
    const float *bias, const unit_shape_t *output_shape, float *output,
    const unit_float_skip_t *skip, void *scratch, size_t scratch_bytes,
    unit_stats_t *stats);
unit_status_t unit_fully_connected_float(
    float act_min, float act_max, int32_t batches, int32_t input_depth,
    int32_t output_depth, const float *input, const float *filter,
    const float *bias, float *output, const unit_float_skip_t *skip,
    void *scratch, size_t scratch_bytes, unit_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif /* TFLM_UNIT_CORE_H_ */
