/*
 * Bare-metal runtime of tflm-unit's MSP430 programs: memory initialisation,
 * the checkpoint the host times segments with, and the few C library
 * functions the compiler may call.  No C library is linked.
 */
#include "unit_msp430.h"

/* Linker-script symbols (unit_msp430_sections.ld). */
extern uint8_t __data_start[], __data_end[], __data_load_start[];
extern uint8_t __bss_start[], __bss_end[];
extern uint8_t __stack_bottom[];

volatile int16_t unit_msp430_exit_code;

void unit_msp430_init_memory(void) {
  uint8_t *dst = __data_start;
  const uint8_t *src = __data_load_start;
  while (dst != __data_end) {
    *dst++ = *src++;
  }
  for (dst = __bss_start; dst != __bss_end; dst++) {
    *dst = 0;
  }
  /* Paint the unused stack so the host can find how deep it grew: the
   * lowest byte that no longer holds the pattern.  We stop a little below
   * our own frame. */
  {
    uint8_t here;
    uintptr_t end = (uintptr_t)&here - 16u;
    for (dst = __stack_bottom; (uintptr_t)dst < end; dst++) {
      *dst = UNIT_MSP430_STACK_PAINT;
    }
  }
}

void __attribute__((noinline)) unit_msp430_checkpoint(uint16_t id) {
  /* The empty asm keeps the call (and so the breakpoint address) from
   * being optimised away; `id` stays visible in R12 for a debugger. */
  __asm__ volatile("" : : "r"(id) : "memory");
}

void *memcpy(void *dst, const void *src, size_t n) {
  uint8_t *d = (uint8_t *)dst;
  const uint8_t *s = (const uint8_t *)src;
  while (n--) {
    *d++ = *s++;
  }
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  uint8_t *d = (uint8_t *)dst;
  const uint8_t *s = (const uint8_t *)src;
  if (d < s) {
    while (n--) {
      *d++ = *s++;
    }
  } else {
    d += n;
    s += n;
    while (n--) {
      *--d = *--s;
    }
  }
  return dst;
}

void *memset(void *dst, int value, size_t n) {
  uint8_t *d = (uint8_t *)dst;
  while (n--) {
    *d++ = (uint8_t)value;
  }
  return dst;
}
