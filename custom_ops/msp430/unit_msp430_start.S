/*
 * Reset entry of tflm-unit's MSP430 programs.
 *
 * The reset vector (the word at 0xFFFE, section .vectors.reset, placed by
 * the linker script) points here.  We stop the watchdog, set the stack
 * pointer to the top of RAM, initialise .data/.bss, call main(), store its
 * return value and then spin in unit_msp430_halt forever: the host driver
 * puts a breakpoint on that loop to know the program has finished.
 */

/* WDTCTL of the MSP430FR5994 (0x015C); the watchdog is stopped by writing
 * the password 0x5A with WDTHOLD (0x0080).  On the simulator this address
 * is plain memory, so the write is harmless. */
#ifndef UNIT_MSP430_WDTCTL
#define UNIT_MSP430_WDTCTL 0x015C
#endif
#define WDTPW_WDTHOLD 0x5A80

    .section .text.unit_msp430_reset,"ax",@progbits
    .global unit_msp430_reset
    .type unit_msp430_reset,@function
unit_msp430_reset:
    mov     #WDTPW_WDTHOLD, &UNIT_MSP430_WDTCTL
    mov     #__stack_top, r1
    call    #unit_msp430_init_memory
    call    #main
    mov     r12, &unit_msp430_exit_code

    .global unit_msp430_halt
    .type unit_msp430_halt,@function
unit_msp430_halt:
    jmp     unit_msp430_halt

    .section .vectors.reset,"a",@progbits
    .word   unit_msp430_reset
