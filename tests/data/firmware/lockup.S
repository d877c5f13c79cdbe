@ A minimal STM32F205 (netduino2) image that locks up the core: the reset handler calls
@ through a pointer into the no-execute 0xA0000000 region (MemManage, escalated to HardFault),
@ and the HardFault handler does the same again: a fault inside HardFault is a lock-up, which
@ QEMU reports as "qemu: fatal: Lockup" and a real core as DHCSR.S_LOCKUP (OpenOCD: "clearing
@ lockup after double fault"). Built by tests/photon with arm-none-eabi-gcc -nostdlib.
    .syntax unified
    .cpu cortex-m3
    .thumb

    .section .vectors, "a"
    .word   0x20008000          @ initial stack pointer
    .word   reset_handler       @ reset
    .word   hardfault_handler   @ NMI
    .word   hardfault_handler   @ HardFault

    .text
    .thumb_func
    .global reset_handler
reset_handler:
    movs    r4, #0x44
    movs    r5, #0x55
    ldr     r0, =0xA0000001     @ a "stale pointer" into a region that never executes
    blx     r0
    b       .

    .thumb_func
    .global hardfault_handler
hardfault_handler:
    ldr     r1, =0xA0000101
    bx      r1
    .pool
