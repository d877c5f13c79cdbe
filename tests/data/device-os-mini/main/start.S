    .syntax unified
    .cpu cortex-m3
    .thumb
    .section .vectors, "a"
    .word   0x20020000
    .word   reset_handler
    .text
    .thumb_func
    .global reset_handler
reset_handler:
    bl      setup
1:  bl      loop
    b       1b
