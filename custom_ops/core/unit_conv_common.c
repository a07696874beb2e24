/* The weight-stationary inner loop shared by CONV_2D and DEPTHWISE_CONV_2D.
 *
 * One weight w (kernel tap ky, kx of one input channel) is applied to every
 * output position of the channel at once: acc[oy][ox] += x'(oy, ox) * w over
 * the rectangle of positions where the tap reads inside the input (padding
 * taps contribute nothing, as in TFLM), so the loop has no bounds checks, the
 * weight and its quotient stay in registers, and a weight whose quotient
 * covers every possible |x'| is not visited at all. */
#include "unit_internal.h"

/* First output index whose input coordinate o*stride - pad + k*dilation is
 * >= 0, and one past the last one that is < in_size. */
static void valid_range(ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t offset,
                        ptrdiff_t in_size, ptrdiff_t out_size, ptrdiff_t *lo,
                        ptrdiff_t *hi) {
  const ptrdiff_t first = pad - offset;      /* need o * stride >= first */
  const ptrdiff_t last = in_size - 1 + pad - offset; /* o * stride <= last */
  *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  *hi = last < 0 ? 0 : last / stride + 1;
  if (*hi > out_size) *hi = out_size;
  if (*lo > *hi) *lo = *hi;
}

uint64_t unit_accumulate_tap(const unit_conv_geometry_t *g,
                             const int8_t *image, ptrdiff_t ky, ptrdiff_t kx,
                             ptrdiff_t channel, int8_t w, int16_t tau,
                             int16_t input_offset, int32_t *acc) {
  ptrdiff_t oy_lo, oy_hi, ox_lo, ox_hi, oy;
  const ptrdiff_t x_step = g->stride_w * g->in_c;
  const ptrdiff_t row_step = g->stride_h * g->in_row;
  /* Skip test on the raw input: |x + offset| <= tau  <=>
   * (uint16_t)(x + offset + tau) <= 2 * tau  (see unit_tap_skipped). */
  const uint16_t shifted = (uint16_t)((uint16_t)input_offset + (uint16_t)tau);
  const uint16_t span = (uint16_t)((uint16_t)tau << 1);
  uint64_t executed = 0;
  const int8_t *x_row;
  int32_t *acc_row;
  valid_range(g->stride_h, g->pad_h, ky * g->dilation_h, g->in_h, g->out_h,
              &oy_lo, &oy_hi);
  valid_range(g->stride_w, g->pad_w, kx * g->dilation_w, g->in_w, g->out_w,
              &ox_lo, &ox_hi);
  if (oy_lo == oy_hi || ox_lo == ox_hi) return 0;
  x_row = image +
          (oy_lo * g->stride_h - g->pad_h + ky * g->dilation_h) * g->in_row +
          (ox_lo * g->stride_w - g->pad_w + kx * g->dilation_w) * g->in_c +
          channel;
  acc_row = acc + oy_lo * g->out_w + ox_lo;
  for (oy = oy_lo; oy < oy_hi; ++oy, x_row += row_step, acc_row += g->out_w) {
    const int8_t *x = x_row;
    int32_t *a = acc_row;
    size_t n = (size_t)(ox_hi - ox_lo);
    if (tau < 0) { /* dense: every tap multiplies, as the builtin kernel */
      for (; n != 0u; --n, x += x_step, ++a)
        *a += (int16_t)((int16_t)(*x + input_offset) * w);
      UNIT_COUNT_ADD(executed, ox_hi - ox_lo);
    } else {
      for (; n != 0u; --n, x += x_step, ++a) {
        if ((uint16_t)((uint16_t)*x + shifted) <= span) continue; /* skip */
        *a += (int16_t)((int16_t)(*x + input_offset) * w);
        UNIT_COUNT_ADD(executed, 1);
      }
    }
  }
  return executed;
}
