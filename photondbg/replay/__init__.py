"""Replay a capture in any GDB: a GDB remote-serial-protocol server on 127.0.0.1 that serves the
registers at the fault, the captured memory and the firmware's flash from its ELF.

Layers, one file each: :mod:`packets` (RSP framing), :mod:`registers` (the Cortex-M register
table and target.xml), :mod:`image` (what a capture directory holds, as a memory map),
:mod:`server` (the protocol)."""
