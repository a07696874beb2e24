/* C tests of the sorted fully connected layout (unit_fc_sorted.c), under
 * ASan/UBSan: the layout kernel against unit_fully_connected_int8 (outputs
 * and executed-MAC counts, per channel too) over random shapes, every
 * division mode, group sizes, thresholds from 0 to beyond every product,
 * both index widths, batches, weights with -128 and zeros; the dense kernel
 * at T = 0 / no thresholds; the layout checker's refusals. */
#include <stdlib.h>
#include <string.h>

#include "unit_core.h"
#include "unit_test.h"

#define MAX_IN 40
#define MAX_OUT 300
#define MAX_BATCH 3

static int8_t filter[MAX_OUT * MAX_IN];
static int8_t input[MAX_BATCH * MAX_IN];
static int32_t bias[MAX_OUT], mult[MAX_OUT], shift[MAX_OUT];
static int16_t thresholds[MAX_OUT];
static int8_t sorted_w[MAX_IN * (2 * MAX_OUT)];
static uint8_t index8[MAX_IN * (2 * MAX_OUT)];
static uint16_t index16[MAX_IN * (2 * MAX_OUT)];
static int8_t out_ref[MAX_BATCH * MAX_OUT], out_sorted[MAX_BATCH * MAX_OUT];
static int32_t scratch_ref[2 * MAX_OUT + 16 * MAX_OUT],
    scratch_sorted[2 * MAX_OUT + 16 * MAX_OUT];
static uint64_t chan_ref[MAX_OUT], chan_sorted[MAX_OUT];

static const int group_choices[] = {1, 2, 3, 5};

static int random_weight(int zero_share) {
  const long r = unit_test_rand(0, 99);
  if (r < zero_share) return 0;
  if (r < zero_share + 3) return -128;
  return (int)unit_test_rand(-127, 127);
}

static void test_matches_compare_kernel(void) {
  int trial, bad_out = 0, bad_count = 0, bad_status = 0, bad_check = 0;
  for (trial = 0; trial < 1500; ++trial) {
    const int in_depth = (int)unit_test_rand(1, MAX_IN);
    const int wide = unit_test_rand(0, 9) == 0; /* uint16 indices */
    int out_depth = wide ? (int)unit_test_rand(257, MAX_OUT)
                         : (int)unit_test_rand(1, 24);
    const int batches = (int)unit_test_rand(1, MAX_BATCH);
    const unit_division_t mode = (unit_division_t)unit_test_rand(0, 3);
    const int zero_share = (int)unit_test_rand(0, 60);
    const long t_max = unit_test_rand(0, 4) == 0 ? 32767 : 3000;
    int group_size, groups, i;
    unit_fc_params_t p;
    unit_requant_t rq;
    unit_skip_t skip;
    unit_fc_sorted_t layout;
    unit_stats_t s_ref = {0, 0, chan_ref}, s_sorted = {0, 0, chan_sorted};
    size_t need_ref, need_sorted;
    const int thresholds_on = unit_test_rand(0, 5) != 0;
    group_size = unit_test_rand(0, 2) == 0
                     ? out_depth
                     : group_choices[unit_test_rand(0, 3)];
    if (out_depth % group_size != 0) out_depth = group_size * (out_depth / group_size + 1);
    if (out_depth > MAX_OUT) group_size = out_depth = MAX_OUT;
    groups = out_depth / group_size;
    for (i = 0; i < out_depth * in_depth; ++i) filter[i] = (int8_t)random_weight(zero_share);
    for (i = 0; i < batches * in_depth; ++i) input[i] = (int8_t)unit_test_rand(-128, 127);
    for (i = 0; i < out_depth; ++i) {
      bias[i] = (int32_t)unit_test_rand(-20000, 20000);
      mult[i] = (int32_t)unit_test_rand(1 << 30, 0x7FFFFFFF);
      shift[i] = (int32_t)unit_test_rand(-12, -6);
    }
    for (i = 0; i < groups; ++i)
      thresholds[i] = (int16_t)(unit_test_rand(0, 4) == 0 ? 0 : unit_test_rand(0, t_max));
    p.input_offset = (int32_t)unit_test_rand(-127, 128);
    p.output_offset = (int32_t)unit_test_rand(-128, 127);
    p.act_min = -128, p.act_max = 127;
    rq.multiplier = mult, rq.shift = shift;
    skip.thresholds = thresholds_on ? thresholds : NULL;
    skip.group_size = group_size;
    skip.division = mode;
    layout.weights = sorted_w;
    layout.index8 = out_depth <= 256 ? index8 : NULL;
    layout.index16 = out_depth <= 256 ? NULL : index16;
    layout.group_size = group_size;
    if (unit_fc_sorted_build(filter, in_depth, out_depth, group_size, sorted_w,
                             out_depth <= 256 ? index8 : NULL,
                             out_depth <= 256 ? NULL : index16) != UNIT_OK ||
        unit_fc_sorted_check(&layout, in_depth, out_depth) != UNIT_OK ||
        unit_fc_sorted_check_filter(&layout, filter, in_depth, out_depth) !=
            UNIT_OK) {
      bad_check++;
      continue;
    }
    need_ref = unit_fc_scratch_bytes(out_depth, &skip);
    need_sorted = unit_fc_sorted_scratch_bytes(out_depth, &skip);
    if (need_sorted > sizeof(scratch_sorted) || need_ref > sizeof(scratch_ref)) {
      bad_status++;
      continue;
    }
    memset(chan_ref, 0, sizeof(chan_ref));
    memset(chan_sorted, 0, sizeof(chan_sorted));
    if (unit_fully_connected_int8(&p, &rq, batches, in_depth, out_depth, input,
                                  filter, bias, out_ref,
                                  thresholds_on ? &skip : NULL, scratch_ref,
                                  sizeof(scratch_ref), &s_ref) != UNIT_OK ||
        unit_fully_connected_sorted_int8(
            &p, &rq, batches, in_depth, out_depth, input, &layout, bias,
            out_sorted, thresholds_on ? &skip : NULL, scratch_sorted,
            need_sorted, &s_sorted) != UNIT_OK) {
      bad_status++;
      continue;
    }
    if (memcmp(out_ref, out_sorted, (size_t)(batches * out_depth)) != 0) bad_out++;
    if (s_ref.macs_total != s_sorted.macs_total) bad_count++;
    if (thresholds_on) { /* the dense kernel counts zero products too */
      if (s_ref.macs_executed != s_sorted.macs_executed ||
          memcmp(chan_ref, chan_sorted, sizeof(uint64_t) * (size_t)out_depth) != 0)
        bad_count++;
    }
  }
  CHECK(bad_check == 0);
  CHECK(bad_status == 0);
  CHECK(bad_out == 0);
  CHECK(bad_count == 0);
}

static void test_layout_contents(void) {
  /* 2 inputs, 4 outputs, groups of 2: filter [4][2]. */
  static const int8_t f[8] = {3, -7, -128, 0, 5, 7, -3, 1};
  static const int8_t want_w[12] = {-128, 3, 0, 5, -3, 0, /* d = 0 */
                                    -7, 0, 0, 7, 1, 0};   /* d = 1 */
  static const uint8_t want_i[12] = {1, 0, 0, 2, 3, 2, 0, 0, 0, 2, 3, 2};
  int8_t w[12];
  uint8_t idx[12];
  unit_fc_sorted_t layout;
  CHECK(unit_fc_sorted_entries(2, 4, 2) == 12u);
  CHECK(unit_fc_sorted_entries(2, 4, 3) == 0u);
  CHECK(unit_fc_sorted_entries(0, 4, 2) == 0u);
  CHECK(unit_fc_sorted_index_bytes(256) == 1 && unit_fc_sorted_index_bytes(257) == 2);
  CHECK(unit_fc_sorted_build(f, 2, 4, 2, w, idx, NULL) == UNIT_OK);
  /* Zero weights get the group's first index (only the sentinel run). */
  CHECK(memcmp(w, want_w, sizeof(w)) == 0);
  CHECK(memcmp(idx, want_i, sizeof(idx)) == 0);
  layout.weights = w, layout.index8 = idx, layout.index16 = NULL, layout.group_size = 2;
  CHECK(unit_fc_sorted_check(&layout, 2, 4) == UNIT_OK);
  /* Refusals of the builder and checker. */
  CHECK(unit_fc_sorted_build(f, 2, 4, 2, w, idx, index16) == UNIT_ERR_NULL);
  CHECK(unit_fc_sorted_build(f, 2, 4, 2, w, NULL, NULL) == UNIT_ERR_NULL);
  CHECK(unit_fc_sorted_build(f, 2, 4, 3, w, idx, NULL) == UNIT_ERR_GROUP);
  CHECK(unit_fc_sorted_build(f, 2, 300, 3, w, idx, NULL) == UNIT_ERR_ARG);
  layout.group_size = 3;
  CHECK(unit_fc_sorted_check(&layout, 2, 4) == UNIT_ERR_GROUP);
  layout.group_size = 2;
  idx[4] = 1; /* output 1 in group 1's segment */
  CHECK(unit_fc_sorted_check(&layout, 2, 4) == UNIT_ERR_SHAPE);
  idx[4] = 3;
  w[5] = 1; /* no sentinel */
  CHECK(unit_fc_sorted_check(&layout, 2, 4) == UNIT_ERR_SHAPE);
  w[5] = 0;
  w[0] = 2; /* not descending */
  CHECK(unit_fc_sorted_check(&layout, 2, 4) == UNIT_ERR_SHAPE);
  w[0] = -128;
  w[7] = 0, w[8] = 4; /* a non-zero after the zero run began */
  CHECK(unit_fc_sorted_check(&layout, 2, 4) == UNIT_ERR_SHAPE);
  w[8] = 0;
  CHECK(unit_fc_sorted_check(&layout, 2, 4) == UNIT_OK);
  /* The layout against its filter (format_version 3 files). */
  CHECK(unit_fc_sorted_check_filter(&layout, f, 2, 4) == UNIT_OK);
  CHECK(unit_fc_sorted_check_filter(&layout, NULL, 2, 4) == UNIT_ERR_NULL);
  w[3] = 6; /* output 2 of input 0 is 5 in the filter */
  CHECK(unit_fc_sorted_check_filter(&layout, f, 2, 4) == UNIT_ERR_SHAPE);
  w[3] = 5;
  w[4] = 0; /* output 3 of input 0 (-3) left out */
  CHECK(unit_fc_sorted_check(&layout, 2, 4) == UNIT_OK);
  CHECK(unit_fc_sorted_check_filter(&layout, f, 2, 4) == UNIT_ERR_SHAPE);
  w[4] = -3;
  idx[3] = 3, w[3] = -3; /* output 3 twice, output 2 left out */
  CHECK(unit_fc_sorted_check_filter(&layout, f, 2, 4) == UNIT_ERR_SHAPE);
  idx[3] = 2, w[3] = 5;
  idx[1] = 1; /* index 1 holds -128, not 3 */
  CHECK(unit_fc_sorted_check_filter(&layout, f, 2, 4) == UNIT_ERR_SHAPE);
  idx[1] = 0;
  idx[0] = 5; /* out of range: refused before the filter is read */
  CHECK(unit_fc_sorted_check_filter(&layout, f, 2, 4) == UNIT_ERR_SHAPE);
  idx[0] = 1;
  CHECK(unit_fc_sorted_check_filter(&layout, f, 2, 4) == UNIT_OK);
}

static void test_kernel_refusals(void) {
  static const int8_t f[8] = {3, -7, -128, 0, 5, 7, -3, 1};
  const int8_t in[2] = {5, -9};
  int8_t w[12], out[4];
  uint8_t idx[12];
  int32_t m[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30}, sh[4] = {0, 0, 0, 0};
  int32_t scratch[16];
  const int16_t t[2] = {10, 20};
  unit_fc_params_t p = {0, 0, -128, 127};
  unit_requant_t rq;
  unit_skip_t skip;
  unit_fc_sorted_t layout;
  rq.multiplier = m, rq.shift = sh;
  skip.thresholds = t, skip.group_size = 2, skip.division = UNIT_DIV_SHIFT;
  CHECK(unit_fc_sorted_build(f, 2, 4, 2, w, idx, NULL) == UNIT_OK);
  layout.weights = w, layout.index8 = idx, layout.index16 = NULL, layout.group_size = 2;
  CHECK(unit_fully_connected_sorted_int8(&p, &rq, 1, 2, 4, in, &layout, NULL, out, &skip,
                                         scratch, sizeof(scratch), NULL) == UNIT_OK);
  CHECK(unit_fully_connected_sorted_int8(&p, &rq, 1, 2, 4, in, &layout, NULL, out, &skip,
                                         scratch, 8, NULL) == UNIT_ERR_SCRATCH);
  CHECK(unit_fully_connected_sorted_int8(&p, &rq, 1, 2, 4, in, NULL, NULL, out, &skip,
                                         scratch, sizeof(scratch), NULL) == UNIT_ERR_NULL);
  skip.group_size = 4;
  CHECK(unit_fully_connected_sorted_int8(&p, &rq, 1, 2, 4, in, &layout, NULL, out, &skip,
                                         scratch, sizeof(scratch), NULL) == UNIT_ERR_GROUP);
  skip.group_size = 2;
  skip.division = (unit_division_t)7;
  CHECK(unit_fully_connected_sorted_int8(&p, &rq, 1, 2, 4, in, &layout, NULL, out, &skip,
                                         scratch, sizeof(scratch), NULL) == UNIT_ERR_DIVISION);
  skip.division = UNIT_DIV_EXACT;
  p.input_offset = 129;
  CHECK(unit_fully_connected_sorted_int8(&p, &rq, 1, 2, 4, in, &layout, NULL, out, &skip,
                                         scratch, sizeof(scratch), NULL) == UNIT_ERR_OFFSET);
  p.input_offset = 0;
  layout.index16 = index16;
  CHECK(unit_fully_connected_sorted_int8(&p, &rq, 1, 2, 4, in, &layout, NULL, out, &skip,
                                         scratch, sizeof(scratch), NULL) == UNIT_ERR_NULL);
  layout.index16 = NULL;
  CHECK(unit_fully_connected_sorted_int8(&p, &rq, 0, 2, 4, in, &layout, NULL, out, &skip,
                                         scratch, sizeof(scratch), NULL) == UNIT_ERR_ARG);
}

int main(void) {
  test_layout_contents();
  test_kernel_refusals();
  test_matches_compare_kernel();
  return unit_test_report("test_fc_sorted");
}
