/* Replays kernel-call records (benchmarks/fuzz_kernels.py writes them)
 * against the kernel core, built with ASan + UBSan (make replay).
 *
 * One record per line, whitespace-separated integers after an op letter:
 *   C | D | F (int8 conv, depthwise conv, fully connected)
 *   valid (1: the call is valid and must return UNIT_OK; 0: it must not)
 *   input_shape[4] filter_shape[4] output_shape[4]   (F: batches = input n,
 *                  input_depth = input c, output_depth = output c)
 *   stride_h stride_w dilation_h dilation_w pad_h pad_w depth_multiplier
 *   input_offset output_offset act_min act_max
 *   group_size division
 *   then seven arrays, each as its length and values: input, filter, bias,
 *   multiplier, shift, thresholds, expected output (length 0: bias /
 *   thresholds NULL, output not compared).
 * Every buffer is allocated at exactly its recorded length, so a read or
 * write past what the record holds is an ASan report.  The output buffer
 * holds the expected output's length, or the output shape's element count
 * (at most 1 << 16) when nothing is compared.
 *
 * Prints one line of counts; exits non-zero on any wrong status or wrong
 * output (sanitizer reports abort the run by themselves). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_core.h"

#define MAX_BUFFER (1L << 16)

typedef struct {
  long length;
  long *values;
} array_t;

static int read_long(FILE *f, long *v) { return fscanf(f, "%ld", v) == 1; }

static int read_array(FILE *f, array_t *a) {
  long i;
  if (!read_long(f, &a->length) || a->length < 0 || a->length > MAX_BUFFER)
    return 0;
  a->values = (long *)malloc((size_t)(a->length ? a->length : 1) * sizeof(long));
  if (!a->values) return 0;
  for (i = 0; i < a->length; ++i)
    if (!read_long(f, &a->values[i])) return 0;
  return 1;
}

/* A buffer of exactly `length` elements of `size` bytes (NULL for 0 when
 * `nullable`), filled from the array. */
static void *make_buffer(const array_t *a, size_t size, int nullable) {
  long i;
  unsigned char *p;
  if (a->length == 0 && nullable) return NULL;
  p = (unsigned char *)malloc((size_t)(a->length ? a->length : 1) * size);
  if (!p) return NULL;
  for (i = 0; i < a->length; ++i) {
    if (size == 1) ((int8_t *)p)[i] = (int8_t)a->values[i];
    if (size == 2) ((int16_t *)p)[i] = (int16_t)a->values[i];
    if (size == 4) ((int32_t *)p)[i] = (int32_t)a->values[i];
  }
  return p;
}

static long shape_elements(const unit_shape_t *s) {
  long long n = (long long)s->n * s->h * s->w * s->c;
  if (s->n <= 0 || s->h <= 0 || s->w <= 0 || s->c <= 0 || n > MAX_BUFFER) return 0;
  return (long)n;
}

int main(int argc, char **argv) {
  FILE *f = argc > 1 ? fopen(argv[1], "r") : stdin;
  long records = 0, valid_ok = 0, invalid_refused = 0, compared = 0;
  long wrong_status = 0, wrong_output = 0;
  long status_counts[16] = {0};
  char op[4];
  if (!f) {
    fprintf(stderr, "replay_calls: cannot open %s\n", argv[1]);
    return 2;
  }
  while (fscanf(f, "%3s", op) == 1) {
    long v[26], i, out_len;
    array_t arr[7];
    unit_shape_t is, fs, os;
    unit_conv_params_t p;
    unit_fc_params_t fp;
    unit_requant_t rq;
    unit_skip_t skip;
    unit_stats_t stats = {0, 0, NULL};
    unit_status_t status;
    int8_t *input, *filter, *output;
    int32_t *bias;
    int16_t *thr;
    void *scratch;
    size_t scratch_bytes;
    for (i = 0; i < 26; ++i)
      if (!read_long(f, &v[i])) goto bad;
    for (i = 0; i < 7; ++i)
      if (!read_array(f, &arr[i])) goto bad;
    is.n = (int32_t)v[1], is.h = (int32_t)v[2], is.w = (int32_t)v[3], is.c = (int32_t)v[4];
    fs.n = (int32_t)v[5], fs.h = (int32_t)v[6], fs.w = (int32_t)v[7], fs.c = (int32_t)v[8];
    os.n = (int32_t)v[9], os.h = (int32_t)v[10], os.w = (int32_t)v[11], os.c = (int32_t)v[12];
    p.stride_h = (int32_t)v[13], p.stride_w = (int32_t)v[14];
    p.dilation_h = (int32_t)v[15], p.dilation_w = (int32_t)v[16];
    p.pad_h = (int32_t)v[17], p.pad_w = (int32_t)v[18];
    p.depth_multiplier = (int32_t)v[19];
    p.input_offset = (int32_t)v[20], p.output_offset = (int32_t)v[21];
    p.act_min = (int32_t)v[22], p.act_max = (int32_t)v[23];
    fp.input_offset = p.input_offset, fp.output_offset = p.output_offset;
    fp.act_min = p.act_min, fp.act_max = p.act_max;
    input = (int8_t *)make_buffer(&arr[0], 1, 0);
    filter = (int8_t *)make_buffer(&arr[1], 1, 0);
    bias = (int32_t *)make_buffer(&arr[2], 4, 1);
    rq.multiplier = (const int32_t *)make_buffer(&arr[3], 4, 0);
    rq.shift = (const int32_t *)make_buffer(&arr[4], 4, 0);
    thr = (int16_t *)make_buffer(&arr[5], 2, 1);
    skip.thresholds = thr;
    skip.group_size = (int32_t)v[24];
    skip.division = (unit_division_t)v[25];
    out_len = arr[6].length ? arr[6].length : shape_elements(&os);
    if (op[0] == 'F') {
      long long fc = (long long)is.n * os.c;
      out_len = arr[6].length ? arr[6].length : (fc > 0 && fc <= MAX_BUFFER ? (long)fc : 0);
    }
    output = (int8_t *)malloc((size_t)(out_len ? out_len : 1));
    if (op[0] == 'C')
      scratch_bytes = unit_conv_scratch_bytes(&fs, &os, &skip);
    else if (op[0] == 'D')
      scratch_bytes = unit_depthwise_scratch_bytes(&fs, &os, &skip);
    else
      scratch_bytes = unit_fc_scratch_bytes(os.c, &skip);
    if (scratch_bytes > (size_t)MAX_BUFFER * 8u) scratch_bytes = 0; /* claimed, too big to hold */
    scratch = malloc(scratch_bytes ? scratch_bytes : 1);
    if (op[0] == 'C')
      status = unit_conv_2d_int8(&p, &rq, &is, input, &fs, filter, bias, &os, output,
                                 &skip, scratch, scratch_bytes, &stats);
    else if (op[0] == 'D')
      status = unit_depthwise_conv_2d_int8(&p, &rq, &is, input, &fs, filter, bias, &os,
                                           output, &skip, scratch, scratch_bytes, &stats);
    else
      status = unit_fully_connected_int8(&fp, &rq, is.n, is.c, os.c, input, filter, bias,
                                         output, &skip, scratch, scratch_bytes, &stats);
    records++;
    status_counts[(unsigned)status < 16u ? (unsigned)status : 15u]++;
    if (v[0] == 1) {
      if (status != UNIT_OK) {
        wrong_status++;
        fprintf(stderr, "record %ld (%s): valid call refused with %s\n", records, op,
                unit_status_name(status));
      } else {
        valid_ok++;
        if (arr[6].length) {
          compared++;
          for (i = 0; i < arr[6].length; ++i)
            if (output[i] != (int8_t)arr[6].values[i]) break;
          if (i < arr[6].length) {
            wrong_output++;
            fprintf(stderr, "record %ld (%s): output %ld is %d, expected %ld\n", records,
                    op, i, output[i], arr[6].values[i]);
          }
        }
      }
    } else if (status == UNIT_OK) {
      wrong_status++;
      fprintf(stderr, "record %ld (%s): invalid call accepted\n", records, op);
    } else {
      invalid_refused++;
    }
    free(input), free(filter), free(bias), free((void *)rq.multiplier);
    free((void *)rq.shift), free(thr), free(output), free(scratch);
    for (i = 0; i < 7; ++i) free(arr[i].values);
  }
  if (!feof(f)) goto bad;
  printf("replay_calls: %ld records, %ld valid ok (%ld outputs compared), %ld invalid "
         "refused, %ld wrong statuses, %ld wrong outputs; statuses:",
         records, valid_ok, compared, invalid_refused, wrong_status, wrong_output);
  for (op[0] = 0; op[0] < 11; ++op[0])
    printf(" %s=%ld", unit_status_name((unit_status_t)op[0]), status_counts[(int)op[0]]);
  printf("\n");
  return wrong_status || wrong_output ? 1 : 0;
bad:
  fprintf(stderr, "replay_calls: malformed record %ld\n", records + 1);
  return 2;
}
