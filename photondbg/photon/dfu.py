"""dfu-util 0.11 through ``sh``: list DFU devices, download an image to the Photon's flash.

Address choice (Device OS build/platform-id.mk and the Photon memory map): a modular user part
(``particle compile`` output) goes to 0x080A0000; a monolithic image (our ``MODULAR=n`` debug
build) to 0x08020000 (``PLATFORM_DFU`` for STM32F2XX). :func:`image_region` tells them apart
from the first word of the file: a Particle module starts with its ``module_info`` header whose
first word is the module's own flash start address (0x080A0000 for a user part), while a
monolithic image starts with the vector table, whose first word is the initial stack pointer in
SRAM. Anything else is refused rather than guessed.

Measured here (tests/data/dfu/): ``dfu-util -l`` with nothing attached prints only its banner
(exit 0); a download with no device ends in ``dfu-util: No DFU capable USB device available``
(exit 74); a missing file ``dfu-util: Could not open file X for reading: ...`` (exit 66).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from photondbg import tools
from photondbg.errors import ToolFailure, ToolMissing, UsageError
from photondbg.photon import board
from photondbg.photon.run import Result, run

HINT = tools.BY_NAME["dfu-util"].package
FOUND_RE = re.compile(
    r"^Found (?P<kind>DFU|Runtime): \[(?P<vid>[0-9a-fA-F]{4}):(?P<pid>[0-9a-fA-F]{4})\] "
    r"ver=(?P<ver>[0-9a-fA-F]+), devnum=(?P<devnum>\d+), cfg=(?P<cfg>\d+), intf=(?P<intf>\d+), "
    r'(?:path="(?P<path>[^"]*)", )?alt=(?P<alt>\d+), name="(?P<name>[^"]*)", '
    r'serial="(?P<serial>[^"]*)"'
)
NO_DEVICE = "No DFU capable USB device available"
DOWNLOAD_DONE_RE = re.compile(r"^(?:Download done\.|File downloaded successfully)", re.M)


@dataclass(frozen=True)
class DfuDevice:
    kind: str  # "DFU" (bootloader, ready) or "Runtime" (app running, must detach first)
    vid: int
    pid: int
    devnum: int
    path: str | None
    alt: int
    name: str
    serial: str

    @property
    def is_photon(self) -> bool:
        return (self.vid, self.pid) == (board.USB_VID, board.USB_PID_DFU)


# -- argv (pure) ---------------------------------------------------------------------------
def list_argv(dfu_util: str) -> list[str]:
    return [dfu_util, "-l"]


def download_argv(
    dfu_util: str,
    image: Path | str,
    address: int,
    *,
    leave: bool = True,
    device: str = board.DFU_ID,
    alt: int = board.DFU_ALT_INTERNAL_FLASH,
    serial: str | None = None,
) -> list[str]:
    """``dfu-util -d 2b04:d006 -a 0 -s 0x080A0000:leave -D image.bin`` (``:leave`` = run it)."""
    argv = [dfu_util, "-d", device, "-a", str(alt)]
    if serial:
        argv += ["-S", serial]
    argv += ["-s", f"0x{address:08X}" + (":leave" if leave else ""), "-D", str(image)]
    return argv


# -- parsing (pure) ------------------------------------------------------------------------
def parse_list(text: str) -> list[DfuDevice]:
    devices = []
    for line in text.splitlines():
        m = FOUND_RE.match(line.strip())
        if m:
            devices.append(
                DfuDevice(
                    m["kind"],
                    int(m["vid"], 16),
                    int(m["pid"], 16),
                    int(m["devnum"]),
                    m["path"],
                    int(m["alt"]),
                    m["name"],
                    m["serial"],
                )
            )
    return devices


def image_region(head: bytes) -> board.FlashRegion:
    """Where a Photon .bin goes, from its first word (see the module docstring)."""
    if len(head) < 8:
        raise UsageError("firmware image is too short to be a Photon image")
    first, second = struct.unpack_from("<II", head)
    for region in board.REGIONS.values():
        if (
            first == region.address
            and region.name not in ("bootloader", "monolithic")
            and first < second <= board.FLASH_BASE + board.FLASH_SIZE
        ):
            return region
    if board.SRAM_BASE < first <= board.SRAM_BASE + board.SRAM_SIZE:
        return board.REGIONS["monolithic"]
    raise UsageError(
        f"cannot tell where this image goes (first word 0x{first:08x}: neither a "
        f"Particle module header nor a vector table); pass --address"
    )


def explain(result: Result) -> str:
    text = result.output
    if NO_DEVICE in text:
        return (
            "dfu-util: no Photon in DFU mode (hold SETUP, tap RESET, release SETUP when "
            "the LED blinks yellow)"
        )
    lines = [
        ln.removeprefix("dfu-util: ").strip()
        for ln in text.splitlines()
        if ln.startswith("dfu-util: ") and "DFU suffix" not in ln
    ]
    why = lines[-1] if lines else result.last_line()
    return f"dfu-util failed (exit {result.exit_code}): {why}"


# -- commands ------------------------------------------------------------------------------
def dfu_util_bin() -> str:
    path = tools.which("dfu-util")
    if path is None:
        raise ToolMissing("dfu-util", HINT)
    return path


def list_devices(*, timeout: float = 20.0) -> list[DfuDevice]:
    result = run(list_argv(dfu_util_bin()), timeout=timeout, hint=HINT)
    if not result.ok:
        raise ToolFailure(explain(result))
    return parse_list(result.stdout)


def download(
    image: Path, *, address: int | None = None, leave: bool = True, timeout: float = 120.0
) -> tuple[Result, int]:
    """Write ``image`` to the Photon; returns the dfu-util result and the address used.

    dfu-util itself verifies each DfuSe block with GETSTATUS; a non-zero exit is a failure.
    """
    image = Path(image)
    if not image.is_file():
        raise UsageError(f"firmware file not found: {image}")
    if image.suffix == ".elf":
        raise UsageError(f"{image} is an ELF; dfu-util needs the .bin next to it")
    if address is None:
        with open(image, "rb") as f:
            address = image_region(f.read(8)).address
    result = run(
        download_argv(dfu_util_bin(), image, address, leave=leave), timeout=timeout, hint=HINT
    )
    if not result.ok:
        if NO_DEVICE in result.output:
            raise UsageError(explain(result))
        raise ToolFailure(explain(result))
    return result, address
