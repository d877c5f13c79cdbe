"""Read the real programs' recorded output in tests/data (written by tests/data/record.sh)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
FAKES = Path(__file__).resolve().parent.parent / "fakes"
FAKE_OPENOCD = FAKES / "fake_openocd.py"


@dataclass
class Recording:
    exit_code: int
    stdout: str
    stderr: str


def recording(name: str) -> Recording:
    text = (DATA / name).read_text()
    head, rest = text.split("\n", 1)
    assert head.startswith("exit="), name
    out, _, err = rest.partition("\n--- stderr ---\n")
    return Recording(int(head[5:]), out[:-1] if out.endswith("\n") else out, err)


def openocd_log(name: str) -> tuple[list[str], int | None]:
    """Log lines of a recorded OpenOCD run and its exit status (``@exit N``)."""
    lines, code = [], None
    for line in (DATA / "openocd" / name).read_text().splitlines():
        if line.startswith("@exit"):
            code = int(line.split()[1])
        elif not line.startswith(("#", "@")):
            lines.append(line)
    return lines, code
