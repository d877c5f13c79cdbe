@ A minimal STM32F205 (netduino2) image whose fault handler only vector catch can catch: the
@ reset handler copies a vector table to RAM with its own HardFault handler (ram_hardfault, in
@ no table of the ELF), points VTOR at it, runs a while, then calls through a pointer into the
@ no-execute 0xA0000000 region (MemManage, escalated to HardFault). A debugger that armed the
@ handlers of the ELF's table at reset never hears of ram_hardfault; a probe's vector catch
@ (DEMCR.VC_HARDERR) halts in it. ram_hardfault spins, as Device OS's handler does while it
@ blinks SOS. Built by tests/photon with arm-none-eabi-gcc -nostdlib (lockup.ld).
    .syntax unified
    .cpu cortex-m3
    .thumb

    .section .vectors, "a"
    .word   0x20008000          @ initial stack pointer
    .word   reset_handler       @ reset
    .word   flash_hardfault     @ NMI
    .word   flash_hardfault     @ HardFault

    .text
    .thumb_func
    .global reset_handler
reset_handler:
    ldr     r0, =0x20000000     @ the RAM table (VTOR needs 128-byte alignment)
    ldr     r1, =0x20008000
    str     r1, [r0, #0]
    ldr     r1, =reset_handler
    str     r1, [r0, #4]
    ldr     r1, =ram_hardfault
    movs    r2, #2
fill:
    str     r1, [r0, r2, lsl #2] @ NMI, HardFault, MemManage, BusFault, UsageFault
    adds    r2, #1
    cmp     r2, #7
    bne     fill
    ldr     r3, =0xE000ED08     @ SCB->VTOR
    str     r0, [r3]
    dsb
    ldr     r4, =3000000        @ run a while (the app's start) before the fault
wait:
    subs    r4, #1
    bne     wait
    movs    r5, #0x55
    ldr     r0, =0xA0000001     @ a "stale pointer" into a region that never executes
    blx     r0
    b       .

    .thumb_func
    .global flash_hardfault
flash_hardfault:
    b       flash_hardfault

    .thumb_func
    .global ram_hardfault
ram_hardfault:
    b       ram_hardfault
    .pool
