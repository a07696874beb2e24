/*
 * Exercises the __mspabi_* helpers for tests and timing: for each helper,
 * a checkpoint and then one call per operand pair (operands and results in
 * generated arrays, see tflm_unit.msp430.helpers).  Calling through
 * volatile operands forces real helper calls.
 */
#include <stdint.h>

#include "unit_core.h"
#include "unit_msp430.h"

uint32_t __mspabi_mpyul(uint16_t a, uint16_t b);

#define HELPER_CHECK_PAIRS 24

/* Operands written by the host before the run (not cleared at reset). */
UNIT_MSP430_NOINIT volatile uint16_t check_a16[HELPER_CHECK_PAIRS];
UNIT_MSP430_NOINIT volatile uint16_t check_b16[HELPER_CHECK_PAIRS];
UNIT_MSP430_NOINIT volatile uint32_t check_a32[HELPER_CHECK_PAIRS];
UNIT_MSP430_NOINIT volatile uint32_t check_b32[HELPER_CHECK_PAIRS];
UNIT_MSP430_NOINIT volatile uint64_t check_a64[HELPER_CHECK_PAIRS];
UNIT_MSP430_NOINIT volatile uint64_t check_b64[HELPER_CHECK_PAIRS];

/* One result row per operation, in the order of the loops in main(). */
uint16_t result16[6][HELPER_CHECK_PAIRS];
uint32_t result32[11][HELPER_CHECK_PAIRS];
uint64_t result64[1][HELPER_CHECK_PAIRS];

int main(void) {
  int16_t i;
  /* 16-bit: multiply, signed and unsigned divide and remainder; shift. */
  unit_msp430_checkpoint(0);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result16[0][i] = (uint16_t)((int16_t)check_a16[i] * (int16_t)check_b16[i]);
  unit_msp430_checkpoint(1);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result16[1][i] = (uint16_t)((int16_t)check_a16[i] / (int16_t)check_b16[i]);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result16[2][i] = (uint16_t)((int16_t)check_a16[i] % (int16_t)check_b16[i]);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result16[3][i] = (uint16_t)(check_a16[i] / check_b16[i]);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result16[4][i] = (uint16_t)(check_a16[i] % check_b16[i]);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result16[5][i] = (uint16_t)(check_a16[i] >> (check_b16[i] & 15u));
  /* 32-bit: multiply (general and int16 operands), divide, remainder,
   * shifts. */
  unit_msp430_checkpoint(2);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[0][i] = check_a32[i] * check_b32[i];
  unit_msp430_checkpoint(3);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[1][i] = (uint32_t)((int32_t)(int16_t)check_a16[i] *
                                (int32_t)(int16_t)check_b16[i]);
  unit_msp430_checkpoint(4);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[2][i] = (uint32_t)((int32_t)check_a32[i] / (int32_t)check_b32[i]);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[3][i] = (uint32_t)((int32_t)check_a32[i] % (int32_t)check_b32[i]);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[4][i] = check_a32[i] / check_b32[i];
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[5][i] = check_a32[i] % check_b32[i];
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[6][i] = check_a32[i] << (check_b16[i] & 31u);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[7][i] = check_a32[i] >> (check_b16[i] & 31u);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[8][i] = (uint32_t)((int32_t)check_a32[i] >> (check_b16[i] & 31u));
  /* The widening 16 x 16 -> 32 unsigned multiply clang never emits itself
   * (the core's requantisation calls it by name). */
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[9][i] = __mspabi_mpyul(check_a16[i], check_b16[i]);
  /* Requantisation (the port's assembly in the MSP430 build), shifts in
   * [-24, 7]. */
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result32[10][i] = (uint32_t)unit_multiply_by_quantized_multiplier(
        (int32_t)check_a32[i], (int32_t)check_b32[i],
        (int32_t)(check_a16[i] & 31u) - 24);
  /* 64-bit multiply. */
  unit_msp430_checkpoint(5);
  for (i = 0; i < HELPER_CHECK_PAIRS; i++)
    result64[0][i] = check_a64[i] * check_b64[i];
  unit_msp430_checkpoint(6);
  return 0;
}
