"""OpenOCD's log as data: each line matched against :data:`LOG_PATTERNS` becomes a
:class:`LogEvent`; the events are read for a failure message, a lock-up and its core state.
Also OpenOCD's ``reg`` output and its ``program`` verdict lines. All pure.

Recorded here with no probe attached (tests/data/openocd/): CMSIS-DAP ends with
``Error: unable to find a matching CMSIS-DAP device``, ST-Link with ``Error: open failed``;
both exit 1 within milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from photondbg.photon import board

# (kind, pattern). The first match wins. The lock-up line changed form in 2022:
# "Error: stm32f2x.cpu -- clearing lockup after double fault" (0.11 and older) and
# "Error: [stm32f2x.cpu] clearing lockup after double fault" (0.12, LOG_TARGET_ERROR).
LOG_PATTERNS = [
    ("gdb_listening", r"Listening on port (?P<port>\d+) for gdb connections"),
    ("telnet_listening", r"Listening on port (?P<port>\d+) for telnet connections"),
    (
        "lockup",
        r"(?:(?P<cpu_old>[\w.]+) -- |\[(?P<cpu>[^\]]+)\] )"
        r"clearing lockup after double fault",
    ),
    (
        "halted",
        r"(?:\[(?P<cpu>[^\]]+)\] |target )halted due to (?P<reason>[\w-]+), current mode: "
        r"(?P<mode>\w+)\s*(?P<exception>.*?)\s*$",
    ),
    (
        "state",
        r"xPSR: (?P<xpsr>0x[0-9a-fA-F]+)\s+pc: (?P<pc>0x[0-9a-fA-F]+)\s+"
        r"(?P<sp_name>[mp]sp): (?P<sp>0x[0-9a-fA-F]+)",
    ),
    (
        "no_probe",
        r"unable to find a matching CMSIS-DAP device|Error: open failed|"
        r"\bno device found\b|ST-LINK open failed|No J-Link device found",
    ),
    (
        "no_target",
        r"Error connecting DP: cannot read IDR|"
        r"init mode failed \(unable to connect to the target\)|Examination failed|"
        r"JTAG scan chain interrogation failed|IR capture error|"
        r"Invalid ACK \(\d+\) in DAP response",
    ),
    ("port_in_use", r"couldn't bind (?P<server>\w+) to socket on port (?P<port>\d+)"),
    (
        "adapter_error",
        r"LIBUSB_ERROR_\w+|libusb_open\(\) failed|adapter .* failed|"
        r"CMSIS-DAP command .* failed",
    ),
    ("config_error", r"Can't find (?P<file>\S+)|invalid command name \"(?P<command>[^\"]+)\""),
    ("gdb_connected", r"accepting 'gdb' connection on tcp/(?P<port>\d+)"),
    ("gdb_dropped", r"dropped 'gdb' connection"),
    ("shutdown", r"shutdown command invoked"),
    ("error", r"^Error: (?P<text>.*)"),
]
_COMPILED = [(kind, re.compile(pat)) for kind, pat in LOG_PATTERNS]


@dataclass
class LogEvent:
    kind: str
    line: str
    fields: dict[str, str] = field(default_factory=dict)
    time: float = 0.0


def parse_line(line: str, now: float = 0.0) -> LogEvent | None:
    for kind, rx in _COMPILED:
        m = rx.search(line)
        if m:
            return LogEvent(kind, line.rstrip(), {k: v for k, v in m.groupdict().items() if v}, now)
    return None


def parse_log(text: str) -> list[LogEvent]:
    return [e for e in map(parse_line, text.splitlines()) if e is not None]


PROGRAM_OK_RE = re.compile(r"\*\* Verified OK \*\*")
PROGRAM_FAIL_RE = re.compile(
    r"\*\* (Programming Failed|Verify Failed|OpenOCD init failed|"
    r"Unable to reset target) \*\*"
)


def failure_message(events: list[LogEvent], interface: str, returncode: int | None) -> str:
    """One line for an OpenOCD that never got ready."""
    kinds = {e.kind: e for e in events}
    probe = board.INTERFACES.get(interface, ("", interface, ""))[1]
    if "no_probe" in kinds:
        return (
            f'no debug probe found: OpenOCD says "{kinds["no_probe"].line}" '
            f"(connect the {probe} over USB, or choose the other probe: --probe or "
            f"PHOTONDBG_PROBE)"
        )
    if "no_target" in kinds:
        return (
            f'the {probe} answers but the Photon does not: "{kinds["no_target"].line}" '
            f"(check SWD wiring D7=SWDIO, D6=SWCLK, GND, 3V3 and that the Photon is powered)"
        )
    if "adapter_error" in kinds:
        return f'debug probe error: "{kinds["adapter_error"].line}" (USB permissions? udev rules)'
    if "port_in_use" in kinds:
        return f'OpenOCD could not listen: "{kinds["port_in_use"].line}"'
    if "config_error" in kinds:
        return f'OpenOCD configuration error: "{kinds["config_error"].line}"'
    errors = [e for e in events if e.kind == "error"]
    last = errors[-1].line if errors else "no error message"
    return f'OpenOCD exited (status {returncode}) before its GDB server was ready: "{last}"'


def lockup_from_events(events: list[LogEvent]) -> tuple[LogEvent | None, dict[str, int]]:
    lock = next((i for i, e in enumerate(events) if e.kind == "lockup"), None)
    if lock is None:
        return None, {}
    regs: dict[str, int] = {}
    for e in events[lock + 1 :]:
        if e.kind == "state":
            regs = {
                "pc": int(e.fields["pc"], 16),
                "xpsr": int(e.fields["xpsr"], 16),
                "sp": int(e.fields["sp"], 16),
                e.fields["sp_name"]: int(e.fields["sp"], 16),
            }
            break
        if e.kind == "lockup":
            continue
    return events[lock], regs


REG_LINE_RE = re.compile(
    r"^(?:\(\d+\)\s+)?(?P<name>[A-Za-z]+\d*)\s+\(/32\):\s+"
    r"(?P<value>0x[0-9a-fA-F]+)"
)


def parse_reg_output(text: str) -> dict[str, int]:
    """OpenOCD ``reg`` output (``(0) r0 (/32): 0x00000000`` ...) → {name: value}."""
    regs = {}
    for line in text.splitlines():
        m = REG_LINE_RE.match(line.strip())
        if m:
            regs[m["name"].lower()] = int(m["value"], 16)
    return regs
