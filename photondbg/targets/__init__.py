"""Targets: the boards photondbg drives. ``sim`` (QEMU) and ``photon`` (real board via OpenOCD)
offer the same surface, the :class:`photondbg.targets.base.Target` contract: a GDB endpoint, a
console, a reset, the memory map, lock-up evidence and the exact MSP/PSP."""
