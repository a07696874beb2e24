/*
 * The 32-bit variable shifts clang-16 calls (__mspabi_slll, __mspabi_srll,
 * __mspabi_sral): value in R13:R12 (high:low), count in R14, result in
 * R13:R12.  The MSP430 has no barrel shifter, so each is a loop of one-bit
 * shifts through the carry: 2 instructions per bit.  Written in assembly
 * because clang-16 compiles a one-bit 32-bit shift written in C to about
 * 14 instructions.  A count of 16 or more first moves whole words.
 * Only R12-R14 are used (caller-saved).
 */
    .section .text.__mspabi_slll,"ax",@progbits
    .global __mspabi_slll
    .type __mspabi_slll,@function
__mspabi_slll:                 /* logical left */
    and     #31, r14
    cmp     #16, r14
    jlo     2f
    mov     r12, r13           /* shift by 16: the low word moves up */
    clr     r12
    sub     #16, r14
2:  tst     r14
    jz      3f
1:  rla     r12
    rlc     r13
    dec     r14
    jnz     1b
3:  ret

    .section .text.__mspabi_srll,"ax",@progbits
    .global __mspabi_srll
    .type __mspabi_srll,@function
__mspabi_srll:                 /* logical right */
    and     #31, r14
    cmp     #16, r14
    jlo     2f
    mov     r13, r12           /* shift by 16: the high word moves down */
    clr     r13
    sub     #16, r14
2:  tst     r14
    jz      3f
1:  clrc
    rrc     r13
    rrc     r12
    dec     r14
    jnz     1b
3:  ret

    .section .text.__mspabi_sral,"ax",@progbits
    .global __mspabi_sral
    .type __mspabi_sral,@function
__mspabi_sral:                 /* arithmetic right */
    and     #31, r14
    cmp     #16, r14
    jlo     2f
    mov     r13, r12           /* shift by 16: the high word moves down, */
    bit     #0x8000, r13       /* the sign fills the high word */
    mov     #0, r13
    jz      4f
    mov     #-1, r13
4:  sub     #16, r14
2:  tst     r14
    jz      3f
1:  rra     r13
    rrc     r12
    dec     r14
    jnz     1b
3:  ret
