"""OpenOCD command lines (pure; tested exactly): a debug session's ``-f``/``-c`` pairs and a
one-shot ``program``.

Both servers are bound to 127.0.0.1 (Tcl disabled), the probe interface (Particle Debugger =
CMSIS-DAP, or ST-Link) and ``target/stm32f2x.cfg`` are loaded, optional RTOS awareness, and
vector catch on every fault is set *before* anything resets the core, so the first fault halts
the CPU instead of escalating into a lock-up.
"""

from __future__ import annotations

from pathlib import Path

from photondbg.errors import UsageError
from photondbg.photon import board
from photondbg.ports import LOOPBACK

RTOS_CHOICES = ("FreeRTOS", "auto")


def vector_catch_command() -> str:
    return "cortex_m vector_catch " + " ".join(name for name, _ in board.VECTOR_CATCH)


def session_argv(
    openocd: str | list[str],
    *,
    interface: str,
    gdb_port: int,
    telnet_port: int,
    target_cfg: str = board.TARGET_CFG,
    rtos: str | None = None,
    vector_catch: bool = True,
    search: list[str] | tuple = (),
    extra_commands: list[str] | tuple = (),
) -> list[str]:
    """The full OpenOCD command line of a debug session (pure; tested exactly)."""
    if interface not in board.INTERFACES:
        raise UsageError(
            f"unknown probe interface {interface!r} (choose from {', '.join(board.INTERFACES)})"
        )
    if rtos is not None and rtos not in RTOS_CHOICES:
        raise UsageError(f"unknown RTOS {rtos!r} (choose from {', '.join(RTOS_CHOICES)})")
    argv = list(openocd) if isinstance(openocd, (list, tuple)) else [openocd]
    for d in search:
        argv += ["-s", str(d)]
    argv += ["-f", board.INTERFACES[interface][0], "-f", target_cfg]
    argv += [
        "-c",
        f"bindto {LOOPBACK}",
        "-c",
        f"gdb_port {gdb_port}",
        "-c",
        f"telnet_port {telnet_port}",
        "-c",
        "tcl_port disabled",
    ]
    if rtos:
        argv += ["-c", f"$_TARGETNAME configure -rtos {rtos}"]
    argv += ["-c", "init"]
    if vector_catch:
        argv += ["-c", vector_catch_command()]
    for cmd in extra_commands:
        argv += ["-c", cmd]
    return argv


def program_argv(
    openocd: str | list[str],
    image: Path | str,
    *,
    interface: str,
    target_cfg: str = board.TARGET_CFG,
    address: int | None = None,
) -> list[str]:
    """One-shot flash: ``program FILE [ADDR] verify reset exit`` (an ELF carries its address;
    a .bin needs one). No servers are opened."""
    if interface not in board.INTERFACES:
        raise UsageError(
            f"unknown probe interface {interface!r} (choose from {', '.join(board.INTERFACES)})"
        )
    argv = list(openocd) if isinstance(openocd, (list, tuple)) else [openocd]
    argv += [
        "-f",
        board.INTERFACES[interface][0],
        "-f",
        target_cfg,
        "-c",
        "gdb_port disabled",
        "-c",
        "telnet_port disabled",
        "-c",
        "tcl_port disabled",
    ]
    where = f" 0x{address:08x}" if address is not None else ""
    argv += ["-c", f"program {{{Path(image)}}}{where} verify reset exit"]
    return argv
