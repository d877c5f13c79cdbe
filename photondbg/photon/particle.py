"""particle-cli 3.40.0 driven through ``sh``: compile in the cloud, flash over USB, list devices.

Measured here (tests/data/particle/ holds the recordings): ``usb list`` with nothing attached
prints ``No devices found.`` (exit 0); ``serial list`` prints ``No devices available via serial``
(no newline, exit 0; it needs ``udevadm``); ``compile`` without a login prints
``Compile failed: You're not logged in. Please login using particle login before using this
command`` (exit 1); ``flash --usb`` with no device prints ``No devices found`` (exit 1) and with a
malformed file ``Unknown module type: N`` (exit 1). particle-cli 3.40.0 forgets its ``execa@5``
dependency: without it ``flash``/``serial`` die with ``Cannot find module 'execa'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from photondbg import tools
from photondbg.errors import ToolFailure, ToolMissing, UsageError
from photondbg.photon.run import Result, run

PLATFORM = "photon"
DEVICE_OS = "0.6.0"  # the release the original crash was seen on
HINT = tools.BY_NAME["particle"].package

NOT_LOGGED_IN = "You're not logged in"
NO_DEVICES = ("No devices found", "No devices available via serial", "No serial port identified")
MISSING_EXECA = "Cannot find module 'execa'"
COMPILE_OK_RE = re.compile(r"^Compile succeeded", re.M)
SAVED_RE = re.compile(r"^Saved (?:firmware|bundle) to: (?P<path>.+?)\s*$", re.M)
COMPILE_FAIL_RE = re.compile(r"^Compile failed: ?(?P<why>.*)$", re.M)
USB_DEVICE_RE = re.compile(r"^(?P<name>.+?) \[(?P<id>[0-9a-fA-F]{24})\] \((?P<type>[^)]*)\)\s*$")
SERIAL_DEVICE_RE = re.compile(r"^(?P<port>/dev/\S+) - (?P<type>.*?) - (?P<id>\S*)\s*$")


def particle_bin() -> str:
    path = tools.which("particle")
    if path is None:
        raise ToolMissing("particle", HINT)
    return path


# -- argv (pure) ---------------------------------------------------------------------------
def compile_argv(
    particle: str,
    appdir: Path | str,
    save_to: Path | str,
    *,
    device_os: str = DEVICE_OS,
    platform: str = PLATFORM,
) -> list[str]:
    return [
        particle,
        "compile",
        platform,
        str(appdir),
        "--target",
        device_os,
        "--saveTo",
        str(save_to),
    ]


def flash_usb_argv(particle: str, binary: Path | str) -> list[str]:
    return [particle, "flash", "--usb", str(binary)]


def usb_list_argv(particle: str) -> list[str]:
    return [particle, "usb", "list"]


def serial_list_argv(particle: str) -> list[str]:
    return [particle, "serial", "list"]


# -- results (pure parsers) ----------------------------------------------------------------
@dataclass
class UsbDevice:
    name: str
    id: str
    type: str  # "Photon", "Photon, DFU", ...

    @property
    def in_dfu(self) -> bool:
        return "DFU" in self.type


@dataclass
class SerialDevice:
    port: str
    type: str
    id: str


@dataclass
class CompileResult:
    ok: bool
    saved_to: Path | None
    message: str
    output: str = field(repr=False, default="")


def parse_usb_list(text: str) -> list[UsbDevice]:
    """``<name> [<24-hex id>] (<type>)`` per device; ``No devices found.`` means none."""
    found = []
    for line in text.splitlines():
        m = USB_DEVICE_RE.match(line.strip())
        if m:
            found.append(UsbDevice(m["name"], m["id"].lower(), m["type"]))
    return found


def parse_serial_list(text: str) -> list[SerialDevice]:
    """``/dev/ttyACM0 - Photon - <id>`` per device after ``Found N device(s) connected via
    serial:``; ``No devices available via serial`` means none."""
    return [
        SerialDevice(m["port"], m["type"], m["id"])
        for m in map(SERIAL_DEVICE_RE.match, (ln.strip() for ln in text.splitlines()))
        if m
    ]


def parse_compile(text: str, exit_code: int) -> CompileResult:
    saved = SAVED_RE.search(text)
    if exit_code == 0 and COMPILE_OK_RE.search(text):
        return CompileResult(
            True, Path(saved["path"]) if saved else None, "Compile succeeded.", text
        )
    fail = COMPILE_FAIL_RE.search(text)
    if fail:
        why = fail["why"].strip() or "compile failed"
    else:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {exit_code}"
    return CompileResult(False, None, why, text)


FLASH_OK = "Flash success!"
FLASH_FAILED = "Flash failed."


def parse_flash(text: str, exit_code: int) -> tuple[bool, bool]:
    """(succeeded, verified) for ``flash --usb``: particle-cli prints ``Flash success!`` or
    ``Flash failed.`` after writing each file (non-interactive output)."""
    if exit_code != 0 or FLASH_FAILED in text:
        return False, False
    return True, FLASH_OK in text


def explain(result: Result, action: str) -> str:
    """One line saying why a particle command failed, with the fix when we know it."""
    text = result.output
    if MISSING_EXECA in text:
        return (
            f"particle {action}: particle-cli 3.40.0 needs execa@5 installed beside it "
            f"(run scripts/bootstrap.sh)"
        )
    if NOT_LOGGED_IN in text:
        return f"particle {action}: not logged in to the Particle cloud (run `particle login`)"
    for marker in NO_DEVICES:
        if marker in text:
            return f"particle {action}: no Photon attached over USB ({marker.rstrip('.')})"
    return f"particle {action} failed: {result.last_line()}"


# -- commands --------------------------------------------------------------------------------
def compile_app(
    appdir: Path,
    save_to: Path,
    *,
    device_os: str = DEVICE_OS,
    timeout: float = 300.0,
    env: dict | None = None,
) -> CompileResult:
    """Cloud compile of ``appdir`` for a Photon on ``device_os``; the .bin lands in ``save_to``."""
    appdir = Path(appdir)
    if not appdir.is_dir():
        raise UsageError(f"application directory not found: {appdir}")
    result = run(
        compile_argv(particle_bin(), appdir, save_to, device_os=device_os),
        timeout=timeout,
        env=env,
        hint=HINT,
    )
    parsed = parse_compile(result.output, result.exit_code)
    if not parsed.ok:
        if NOT_LOGGED_IN in parsed.message:
            raise UsageError(explain(result, "compile"))
        raise ToolFailure(f"particle compile failed: {parsed.message}")
    if parsed.saved_to is None:
        parsed.saved_to = Path(save_to)
    return parsed


def flash_usb(binary: Path, *, timeout: float = 180.0, env: dict | None = None) -> Result:
    """``particle flash --usb``: puts the Photon in DFU mode and writes every module in the file."""
    binary = Path(binary)
    if not binary.is_file():
        raise UsageError(f"firmware file not found: {binary}")
    result = run(flash_usb_argv(particle_bin(), binary), timeout=timeout, env=env, hint=HINT)
    if not parse_flash(result.output, result.exit_code)[0]:
        msg = explain(result, "flash --usb")
        if any(m in result.output for m in NO_DEVICES):
            raise UsageError(msg)
        raise ToolFailure(msg)
    return result


def usb_list(*, timeout: float = 30.0, env: dict | None = None) -> list[UsbDevice]:
    result = run(usb_list_argv(particle_bin()), timeout=timeout, env=env, hint=HINT)
    if not result.ok:
        raise ToolFailure(explain(result, "usb list"))
    return parse_usb_list(result.stdout)


def serial_list(*, timeout: float = 30.0, env: dict | None = None) -> list[SerialDevice]:
    result = run(serial_list_argv(particle_bin()), timeout=timeout, env=env, hint=HINT)
    if not result.ok:
        raise ToolFailure(explain(result, "serial list"))
    return parse_serial_list(result.stdout)
