/* Minimal assertion helpers for the kernel core's C tests (no framework:
 * the tests must build anywhere the core builds). */
#ifndef TFLM_UNIT_TEST_H_
#define TFLM_UNIT_TEST_H_

#include <stdio.h>

static int unit_test_passed = 0;
static int unit_test_failed = 0;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (cond) {                                                           \
      unit_test_passed++;                                                 \
    } else {                                                              \
      unit_test_failed++;                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                     \
  } while (0)

/* Prints the closing line and returns the process exit code. */
static int unit_test_report(const char *name) {
  printf("%s: %d passed, %d failed\n", name, unit_test_passed, unit_test_failed);
  return unit_test_failed == 0 ? 0 : 1;
}

/* Deterministic xorshift PRNG so failures reproduce. */
static unsigned long unit_test_rng_state = 2463534242UL;
#if defined(__GNUC__)
__attribute__((unused))
#endif
static long unit_test_rand(long lo, long hi) { /* inclusive */
  unit_test_rng_state ^= (unit_test_rng_state << 13) & 0xFFFFFFFFUL;
  unit_test_rng_state ^= unit_test_rng_state >> 17;
  unit_test_rng_state ^= (unit_test_rng_state << 5) & 0xFFFFFFFFUL;
  unit_test_rng_state &= 0xFFFFFFFFUL;
  return lo + (long)(unit_test_rng_state % (unsigned long)(hi - lo + 1));
}

#endif
