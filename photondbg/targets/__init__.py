"""Targets: the boards photondbg drives. ``sim`` (QEMU) and ``photon`` (real board via OpenOCD)
offer the same surface: a GDB endpoint, a console, and lock-up evidence."""
