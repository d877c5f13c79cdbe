"""Build the simulated Photon's firmware: one app, one variant, one output directory.

    from photondbg import firmware
    elf = firmware.build("multi-server", "none")
    # -> build/multi-server-none/multi-server.elf

``make`` does the work (``firmware/Makefile``), so repeated builds are incremental and builds of
different app/variant pairs can run in parallel (distinct output directories).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

from photondbg import paths, procs
from photondbg.errors import ToolFailure, ToolMissing, UsageError

#: app name -> the TCP port its server listens on (on the device)
APPS = {"simple-server": 80, "multi-server": 7123}
#: none = Device OS 0.6.4; clients = + PR #1250 (clear clients[] slot); all = + PR #1500 (0.8.0)
VARIANTS = ("none", "clients", "all")
#: what each variant compiles in (documentation; the Makefile holds the same table)
VARIANT_DEFINES = {
    "none": (),
    "clients": ("FIX_CLIENTS",),
    "all": (
        "FIX_CLIENTS",
        "FIX_CLOSE_ALL",
        "FIX_SERVER_STOP",
        "FIX_WLAN_KEEPS_SOCKETS",
        "FIX_SOCKET_LOCK",
    ),
}

COMPILER = "arm-none-eabi-gcc"
_ERROR_RE = re.compile(r"(^.*\berror\b.*$)", re.MULTILINE)


def output_dir(
    app: str,
    variant: str,
    *,
    debug: bool = False,
    build_dir: Path | None = None,
    heap_trace: bool = False,
) -> Path:
    base = Path(build_dir) if build_dir is not None else paths.build_dir()
    return base / f"{app}-{variant}{'-debug' if debug else ''}{'-htrace' if heap_trace else ''}"


def elf_path(
    app: str = "multi-server",
    variant: str = "none",
    *,
    debug: bool = False,
    build_dir: Path | None = None,
) -> Path:
    return output_dir(app, variant, debug=debug, build_dir=build_dir) / f"{app}.elf"


def app_dir(app: str) -> Path:
    """The app's sources, shared by the sim build and a Device OS build: firmware/apps/<app>/."""
    return paths.FIRMWARE / "apps" / app


def app_port(app: str) -> int:
    """The TCP port ``app`` serves on, on the device (UsageError for an unknown app)."""
    if app not in APPS:
        raise UsageError(f"unknown app {app!r} (choose from {', '.join(APPS)})")
    return APPS[app]


def check(app: str, variant: str) -> None:
    if app not in APPS:
        raise UsageError(f"unknown app {app!r} (choose from {', '.join(APPS)})")
    if variant not in VARIANTS:
        raise UsageError(f"unknown variant {variant!r} (choose from {', '.join(VARIANTS)})")


def build(
    app: str = "multi-server",
    variant: str = "none",
    *,
    debug: bool = False,
    build_dir: Path | None = None,
    appdir: Path | None = None,
    jobs: int | None = None,
    timeout: float = 600.0,
    heap_trace: bool = False,
) -> Path:
    """Build (incrementally) and return the ELF.

    UsageError for an unknown app/variant, ToolMissing without arm-none-eabi-gcc or make,
    ToolFailure with the compiler's first error line when the build fails.
    ``appdir`` builds sources from another directory under the name ``app`` (test firmware).
    ``heap_trace`` links the sim-only malloc/free trace ring (firmware/platform/heap_trace.c).
    """
    if appdir is None:
        check(app, variant)
    elif variant not in VARIANTS:
        raise UsageError(f"unknown variant {variant!r} (choose from {', '.join(VARIANTS)})")
    if shutil.which(COMPILER) is None:
        from photondbg.tools import BY_NAME

        raise ToolMissing(COMPILER, BY_NAME[COMPILER].package)
    make = shutil.which("make")
    if make is None:
        raise ToolMissing("make", "apt-get install make")
    base = Path(build_dir) if build_dir is not None else paths.build_dir()
    base = base.resolve()
    argv = [
        make,
        "-C",
        str(paths.FIRMWARE),
        f"-j{jobs or os.cpu_count() or 1}",
        f"APP={app}",
        f"VARIANT={variant}",
        f"BUILD={base}",
        f"DEBUG_BUILD={1 if debug else 0}",
        f"HEAP_TRACE={1 if heap_trace else 0}",
    ]
    if appdir is not None:
        argv.append(f"APPDIR={Path(appdir).resolve()}")
    out_dir = output_dir(app, variant, debug=debug, build_dir=base, heap_trace=heap_trace)
    out_dir.mkdir(parents=True, exist_ok=True)
    # one make per output directory at a time (several test sessions may share build/)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # its own process group, killed as a group on error/signal (no compiler survives)
            out = procs.run(argv, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailure(f"firmware build of {app}-{variant} took longer than {timeout:.0f} s")
    if out.returncode != 0:
        raise ToolFailure(
            f"firmware build of {app}-{variant} failed: {first_error(out.stderr + out.stdout)}"
        )
    elf = out_dir / f"{app}.elf"
    if not elf.is_file():
        raise ToolFailure(f"firmware build of {app}-{variant} produced no {elf}")
    return elf


def first_error(text: str) -> str:
    m = _ERROR_RE.search(text)
    if m:
        return m.group(1).strip()
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
