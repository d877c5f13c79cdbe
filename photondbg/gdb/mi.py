"""GDB's MI transport: the child's argv, MI records and errors, and pygdbmi's reader.

:class:`_Io` reads GDB's output (with a fast path for big memory answers), :class:`_TeeReader`
copies it into ``gdb-mi.log``; :class:`~photondbg.gdb.session.GdbSession` drives them.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from typing import IO

from pygdbmi.IoManager import IoManager

from photondbg.errors import ToolFailure, ToolMissing

GDB_BIN = "gdb-multiarch"
GDB_ARGS = ["--nx", "--quiet", "--interpreter=mi3"]
CONNECTION_LOST = re.compile(
    r"Remote connection closed|Remote communication error|"
    r"Connection reset by peer|The program is not being run|"
    r"Remote target disconnected|Ending remote debugging",
    re.I,
)
MEMORY_ERROR = re.compile(r"Cannot access memory|Unable to read memory", re.I)


class TargetDied(ToolFailure):
    """The remote end went away (QEMU exited, OpenOCD lost the probe)."""


class GdbError(ToolFailure):
    """GDB answered ``^error`` to a command."""

    def __init__(self, command: str, msg: str):
        self.command = command
        self.msg = msg
        super().__init__(f"gdb: {msg} (in {command.split()[0]})")


@dataclass
class MiResult:
    command: str
    message: str  # done, running, connected, error
    payload: dict | None
    records: list[dict] = field(default_factory=list)

    def console_text(self) -> str:
        return "".join(
            r["payload"]
            for r in self.records
            if r["type"] in ("console", "target") and isinstance(r["payload"], str)
        )


_MEMORY_RESULT = re.compile(r"^(\d+)\^done,memory=\[(.*)\]\s*$")
_MEMORY_BLOCK = re.compile(
    r'\{begin="(0x[0-9a-f]+)",offset="(0x[0-9a-f]+)",end="(0x[0-9a-f]+)",'
    r'contents="([0-9a-f]*)"\}'
)


class _Io(IoManager):
    """pygdbmi's IoManager with a fast path for big ``-data-read-memory-bytes`` answers
    (a regex instead of the char-by-char MI parser, and no debug pretty-printing).
    It overrides a private method of pygdbmi 0.11.0.0: pyproject.toml pins that version."""

    def _get_responses_list(self, raw_output: bytes, stream: str) -> list[dict]:
        from pygdbmi import gdbmiparser
        from pygdbmi.IoManager import _buffer_incomplete_responses

        new, self._incomplete_output[stream] = _buffer_incomplete_responses(
            raw_output, self._incomplete_output.get(stream)
        )
        if not new:
            return []
        out = []
        for line in new.decode(errors="replace").split("\n"):
            if not line or gdbmiparser.response_is_finished(line):
                continue
            m = _MEMORY_RESULT.match(line) if len(line) > 256 else None
            if m:
                blocks = [
                    {"begin": b, "offset": o, "end": e, "contents": c}
                    for b, o, e, c in _MEMORY_BLOCK.findall(m.group(2))
                ]
                rec = {
                    "type": "result",
                    "message": "done",
                    "payload": {"memory": blocks},
                    "token": int(m.group(1)),
                }
            else:
                rec = gdbmiparser.parse_response(line)
            rec["stream"] = stream
            out.append(rec)
        return out


class _TeeReader:
    """A file-like reader that copies everything GDB prints into the transcript."""

    def __init__(self, raw: IO[bytes], log: IO[bytes] | None):
        self._raw = raw
        self._log = log

    def fileno(self) -> int:
        return self._raw.fileno()

    def flush(self) -> None:
        pass

    def read(self, *args: int) -> bytes:
        data = self._raw.read(*args)
        if data and self._log is not None and not self._log.closed:
            self._log.write(data)
            self._log.flush()
        return data


def _is_stopped(rec: dict) -> bool:
    return rec.get("type") == "notify" and rec.get("message") == "stopped"


def check_gdb(gdb_bin: str = GDB_BIN) -> str:
    path = shutil.which(gdb_bin)
    if path is None:
        raise ToolMissing(gdb_bin, "apt-get install gdb-multiarch")
    return path
