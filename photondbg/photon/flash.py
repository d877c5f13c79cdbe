"""Flash a real Photon by one of three methods, with verification, and one-line errors.

* ``particle``: ``particle flash --usb FILE`` (a Particle module .bin; particle-cli puts the
  Photon into DFU mode itself). Success = exit 0 and ``Flash success!``.
* ``dfu``: ``dfu-util -d 2b04:d006 -a 0 -s ADDR:leave -D FILE`` (the Photon already in DFU
  mode; ADDR from the image, see :func:`photondbg.photon.dfu.image_region`). dfu-util checks
  every block's status; success = exit 0.
* ``openocd``: ``program FILE verify reset exit`` through the debug probe; success = OpenOCD's
  ``** Verified OK **`` (a read-back compare of flash against the file).

An ELF is flashed as is by OpenOCD; the other methods take the ``.bin`` the build wrote next to
it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from photondbg import tools
from photondbg.errors import ToolFailure, ToolMissing, UsageError
from photondbg.photon import dfu, openocd, openocd_argv, openocd_events, particle
from photondbg.photon.run import run

METHODS = ("particle", "dfu", "openocd")
ELF_MAGIC = b"\x7fELF"


@dataclass
class FlashResult:
    method: str
    image: Path
    address: int | None
    verified: bool
    detail: str


def is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == ELF_MAGIC


def binary_for(path: Path, method: str) -> Path:
    """The .bin to write for ``path`` (itself, or the .bin beside an ELF)."""
    if not is_elf(path):
        return path
    sibling = path.with_suffix(".bin")
    if sibling.is_file():
        return sibling
    raise UsageError(
        f"{path} is an ELF and --method {method} needs a .bin: none next to it "
        f"(the Device OS build writes one; or use --method openocd)"
    )


def flash(
    image: Path | str,
    method: str,
    *,
    interface: str = "cmsis-dap",
    address: int | None = None,
    openocd_bin: str | list[str] | None = None,
    timeout: float = 300.0,
) -> FlashResult:
    image = Path(image)
    if method not in METHODS:
        raise UsageError(f"unknown flash method {method!r} (choose from {', '.join(METHODS)})")
    if not image.is_file():
        raise UsageError(f"firmware file not found: {image}")
    if image.stat().st_size == 0:
        raise UsageError(f"firmware file is empty: {image}")
    if method == "particle":
        binary = binary_for(image, method)
        res = particle.flash_usb(binary, timeout=timeout)
        _, verified = particle.parse_flash(res.output, res.exit_code)
        return FlashResult(method, binary, None, verified, res.last_line())
    if method == "dfu":
        binary = binary_for(image, method)
        res, addr = dfu.download(binary, address=address, timeout=timeout)
        return FlashResult(method, binary, addr, res.ok, res.last_line())
    return flash_openocd(
        image, interface=interface, address=address, openocd_bin=openocd_bin, timeout=timeout
    )


def flash_openocd(
    image: Path,
    *,
    interface: str,
    address: int | None = None,
    openocd_bin: str | list[str] | None = None,
    timeout: float = 300.0,
) -> FlashResult:
    if openocd_bin is None:
        openocd_bin = os.environ.get(openocd.ENV_OPENOCD) or tools.which("openocd")
        if openocd_bin is None:
            raise ToolMissing("openocd", openocd.HINT)
    if not is_elf(image) and address is None:
        with open(image, "rb") as f:
            address = dfu.image_region(f.read(8)).address
    argv = openocd_argv.program_argv(
        openocd_bin, image, interface=interface, address=None if is_elf(image) else address
    )
    res = run(argv, timeout=timeout)
    events = openocd_events.parse_log(res.output)
    if openocd_events.PROGRAM_OK_RE.search(res.output) and res.ok:
        return FlashResult("openocd", image, address, True, "** Verified OK **")
    msg = openocd_events.failure_message(events, interface, res.exit_code)
    if any(e.kind in ("no_probe", "no_target", "adapter_error") for e in events):
        raise openocd.NoProbe(msg)
    fail = openocd_events.PROGRAM_FAIL_RE.search(res.output)
    if fail:
        errors = [e.line for e in events if e.kind == "error"]
        why = f": {errors[-1]}" if errors else ""
        raise ToolFailure(f"OpenOCD: {fail.group(0)} while programming {image}{why}")
    raise ToolFailure(msg)
