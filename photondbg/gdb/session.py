"""GDB over MI: one ``gdb-multiarch`` child owned by a :class:`ProcessOwner`, I/O by pygdbmi.

Every command carries a token and a time-out; its answer is the result record with that
token (async and stream records that arrive meanwhile are kept for whoever waits on them).
The raw MI exchange (what we wrote, what GDB printed) goes to ``gdb-mi.log``.
One code path serves QEMU's gdbstub and OpenOCD: ``connect(host, port)``.
"""

from __future__ import annotations

import itertools
import os
import re
import select
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pygdbmi.IoManager import IoManager

from photondbg.deadline import Deadline
from photondbg.errors import TargetTimeout, ToolFailure, ToolMissing
from photondbg.procs import Child, ProcessOwner

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


@dataclass
class MemoryRead:
    """Bytes read from ``start``; unreadable spans are zero-filled and listed in ``gaps``."""

    start: int
    data: bytes
    gaps: list[tuple[int, int]]  # (address, length)

    @property
    def readable(self) -> int:
        return len(self.data) - sum(n for _, n in self.gaps)


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

    def __init__(self, raw, log):
        self._raw = raw
        self._log = log

    def fileno(self) -> int:
        return self._raw.fileno()

    def flush(self) -> None:
        pass

    def read(self, *args):
        data = self._raw.read(*args)
        if data and self._log is not None and not self._log.closed:
            self._log.write(data)
            self._log.flush()
        return data


class GdbSession:
    """A GDB/MI session on ``elf``. Use ``start()``, ``connect()``, commands, then ``close()``."""

    ROLE = "gdb"

    def __init__(
        self,
        elf: Path | str | None,
        owner: ProcessOwner,
        *,
        logdir: Path | None = None,
        gdb_bin: str = GDB_BIN,
    ):
        self.elf = Path(elf) if elf else None
        self.owner = owner
        self.logdir = Path(logdir) if logdir else owner.logdir
        self.gdb_bin = gdb_bin
        self.child: Child | None = None
        self.io: _Io | None = None
        self.transcript: Path | None = None
        self._log = None
        self._tokens = itertools.count(100)
        self.pending: list[dict] = []  # records not yet claimed (async notifications)
        self.connection_lost = False
        self.lost_message = ""

    # -- lifecycle -----------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> "GdbSession":
        path = shutil.which(self.gdb_bin)
        if path is None:
            raise ToolMissing(self.gdb_bin, "apt-get install gdb-multiarch")
        argv = [path, *GDB_ARGS]
        if self.elf is not None:
            argv.append(str(self.elf))
        if self.logdir is not None:
            self.logdir.mkdir(parents=True, exist_ok=True)
            self.transcript = self.logdir / "gdb-mi.log"
            self._log = open(self.transcript, "ab")
        # stderr to a file: nobody reads a stderr pipe, and a full pipe would block GDB
        err = open(self.logdir / "gdb-stderr.log", "ab") if self.logdir else subprocess.DEVNULL
        try:
            self.child = self.owner.spawn(
                self.ROLE,
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                quit=self._quit,
                env={**os.environ, "LC_ALL": "C"},
            )
        finally:
            if err is not subprocess.DEVNULL:
                err.close()
        self.owner.add_cleanup(self._close_log)
        self.io = _Io(
            self.child.proc.stdin,
            _TeeReader(self.child.proc.stdout, self._log),
            None,
            time_to_check_for_additional_output_sec=0.002,
        )
        # GDB prints its banner/prompt first; a harmless command proves it is alive.
        res = self.command("-gdb-set confirm off", timeout=timeout)
        if res.message != "done":
            raise ToolFailure(f"{self.gdb_bin} did not start")
        # async MI: commands (-exec-interrupt) are accepted while the target runs
        self.command("-gdb-set mi-async on", timeout=timeout)
        self.command("-gdb-set pagination off", timeout=timeout)
        self.command("-gdb-set print pretty off", timeout=timeout)
        return self

    def _quit(self, child: Child) -> None:
        try:
            child.proc.stdin.write(b"-gdb-exit\n")
            child.proc.stdin.flush()
        except (OSError, ValueError):
            pass

    def _close_log(self) -> None:
        if self._log is not None:
            try:
                self._log.close()
            except Exception:
                pass
            self._log = None

    def close(self) -> None:
        """Stop GDB (polite -gdb-exit, then signals). Safe to call twice."""
        if self.child is not None:
            self.child.stop(grace=1.0)
        self._close_log()

    @property
    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    # -- raw MI --------------------------------------------------------------------
    def _note(self, text: str) -> None:
        if self._log is not None and not self._log.closed:
            self._log.write(text.encode())
            self._log.flush()

    def _read(self, timeout: float) -> list[dict]:
        if not self.alive:
            raise TargetDied("gdb exited unexpectedly")
        # wait for output ourselves, then let pygdbmi read what is there without lingering
        ready, _, _ = select.select([self.child.proc.stdout.fileno()], [], [], max(0.0, timeout))
        if not ready:
            return []
        recs = self.io.get_gdb_response(timeout_sec=0, raise_error_on_timeout=False)
        for r in recs:
            self._watch(r)
        return recs

    def _watch(self, rec: dict) -> None:
        text = ""
        if isinstance(rec.get("payload"), str):
            text = rec["payload"]
        elif isinstance(rec.get("payload"), dict):
            text = str(rec["payload"].get("msg", ""))
        if rec.get("type") == "notify" and rec.get("message") == "thread-group-exited":
            self.connection_lost = True
            self.lost_message = self.lost_message or "target exited"
        if text and CONNECTION_LOST.search(text):
            self.connection_lost = True
            self.lost_message = text.strip()

    def send(self, command: str) -> int:
        token = next(self._tokens)
        line = f"{token}{command}"
        self._note(f"{line}\n")
        try:
            self.io.write(line, timeout_sec=1.0, read_response=False)
        except (OSError, ValueError) as e:
            raise TargetDied(f"gdb is gone ({e})") from None
        return token

    def command(
        self, command: str, timeout: float | Deadline = 5.0, *, check: bool = True
    ) -> MiResult:
        """Send ``command`` and wait for its result record (token-matched)."""
        deadline = timeout if isinstance(timeout, Deadline) else Deadline(timeout)
        token = self.send(command)
        mine: list[dict] = []
        while True:
            batch = self._read(deadline.cap(0.25))
            for i, r in enumerate(batch):
                if r.get("token") == token and r["type"] == "result":
                    self.pending.extend(batch[i + 1 :])  # e.g. *stopped right after ^done
                    res = MiResult(command, r["message"], r.get("payload"), mine)
                    if check and res.message == "error":
                        msg = (res.payload or {}).get("msg", "error")
                        if CONNECTION_LOST.search(msg):
                            self.connection_lost = True
                            raise TargetDied(f"target connection lost: {msg.strip()}")
                        raise GdbError(command, msg)
                    return res
                if r["type"] in ("console", "target", "log") and r.get("token") in (None, token):
                    mine.append(r)
                else:
                    self.pending.append(r)
            if deadline.expired:
                if not self.alive:
                    raise TargetDied("gdb exited unexpectedly")
                raise TargetTimeout(
                    f"gdb did not answer {command.split()[0]!r} within {deadline.seconds:g} s"
                )

    def cli(self, text: str, timeout: float | Deadline = 5.0, *, check: bool = True) -> str:
        """Run a CLI command through MI; returns what it printed."""
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        res = self.command(f'-interpreter-exec console "{quoted}"', timeout, check=check)
        return res.console_text()

    # -- target control --------------------------------------------------------------
    def connect(
        self, host: str, port: int, *, extended: bool = False, timeout: float = 10.0
    ) -> MiResult:
        kind = "extended-remote" if extended else "remote"
        # a refused connection is an answer: don't let GDB retry it for 15 s
        self.command("-gdb-set tcp auto-retry off", timeout, check=False)
        self.command(f"-gdb-set tcp connect-timeout {max(1, int(timeout))}", timeout, check=False)
        try:
            return self.command(f"-target-select {kind} {host}:{port}", timeout)
        except GdbError as e:
            raise ToolFailure(f"gdb could not connect to {host}:{port}: {e.msg}") from None

    def cont(self, timeout: float = 5.0) -> None:
        self.pending = [r for r in self.pending if not _is_stopped(r)]
        res = self.command("-exec-continue", timeout)
        if res.message not in ("running", "done"):
            raise ToolFailure(f"gdb could not continue: {res.message}")

    def wait_stopped(self, deadline: Deadline, poll: float = 0.2) -> dict | None:
        """Wait for ``*stopped``; its payload, or None when the deadline passes first.

        Raises TargetDied when the remote connection closes while waiting."""
        while True:
            for i, r in enumerate(self.pending):
                if _is_stopped(r):
                    del self.pending[: i + 1]
                    return r.get("payload") or {}
            if self.connection_lost:
                raise TargetDied(f"target connection lost: {self.lost_message}")
            if deadline.expired:
                return None
            self.pending.extend(self._read(deadline.cap(poll)))

    def interrupt(self, timeout: float = 5.0) -> dict | None:
        self.command("-exec-interrupt", timeout, check=False)
        return self.wait_stopped(Deadline(timeout))

    def break_at(
        self, address: int, *, hardware: bool = False, temporary: bool = False, timeout: float = 5.0
    ) -> int:
        opts = ("-h " if hardware else "") + ("-t " if temporary else "")
        res = self.command(f"-break-insert {opts}*0x{address:x}", timeout)
        return int(res.payload["bkpt"]["number"].split(".")[0])

    # -- state ---------------------------------------------------------------------
    def register_names(self) -> list[str]:
        """GDB's register numbering (asked once per session: it is fixed by the target)."""
        if getattr(self, "_reg_names", None) is None:
            res = self.command("-data-list-register-names")
            self._reg_names = list(res.payload.get("register-names", []))
        return self._reg_names

    def registers(
        self, names: list[str] | None = None, *, only: list[str] | None = None
    ) -> dict[str, int]:
        """Register values by (lower-case) name; ``only`` asks GDB for just those."""
        names = names if names is not None else self.register_names()
        which = ""
        if only:
            lower = [n.lower() for n in names]
            which = " " + " ".join(str(lower.index(n)) for n in only if n in lower)
        res = self.command(f"-data-list-register-values --skip-unavailable x{which}")
        out: dict[str, int] = {}
        for item in res.payload.get("register-values", []):
            idx = int(item["number"])
            if idx < len(names) and names[idx]:
                try:  # lower-case: OpenOCD says xPSR, QEMU xpsr
                    out[names[idx].lower()] = int(item["value"], 16)
                except (ValueError, TypeError):
                    pass
        return out

    def read_chunk(
        self, address: int, length: int, timeout: float = 5.0
    ) -> list[tuple[int, bytes]]:
        """One ``-data-read-memory-bytes``: the readable blocks [(address, bytes)]."""
        try:
            res = self.command(f"-data-read-memory-bytes 0x{address:x} {length}", timeout)
        except GdbError as e:
            if MEMORY_ERROR.search(e.msg):
                return []
            raise
        blocks = []
        for blk in res.payload.get("memory", []):
            begin = int(blk["begin"], 16) + int(blk.get("offset", "0x0"), 16)
            blocks.append((begin, bytes.fromhex(blk["contents"])))
        return blocks

    def read_memory(
        self,
        address: int,
        length: int,
        *,
        chunk: int = 0x20000,
        timeout: float = 10.0,
        granule: int = 256,
    ) -> MemoryRead:
        """Read [address, address+length) in chunks, keeping what is readable.

        A chunk that does not come back whole is split in halves down to ``granule`` bytes
        (GDB's own partial answers are not trusted: on QEMU they can run one byte past the
        readable end); what still fails is recorded as a gap and zero-filled."""
        deadline = Deadline(timeout)
        buf = bytearray(length)
        have = bytearray(length)  # 1 where read

        def span(off: int, n: int) -> None:
            blocks = self.read_chunk(address + off, n, timeout=max(0.5, deadline.cap(5.0)))
            whole = len(blocks) == 1 and blocks[0][0] == address + off and len(blocks[0][1]) == n
            if whole:
                buf[off : off + n] = blocks[0][1]
                have[off : off + n] = b"\x01" * n
                return
            if not blocks and n <= granule:
                return
            if n <= granule or deadline.expired:
                for baddr, data in blocks:  # keep GDB's answer, clipped to what we asked
                    s = max(baddr - address, off)
                    e = min(baddr - address + len(data), off + n)
                    if e > s:
                        buf[s:e] = data[s - (baddr - address) : e - (baddr - address)]
                        have[s:e] = b"\x01" * (e - s)
                return
            half = max(granule, (n // 2) // granule * granule)
            span(off, half)
            span(off + half, n - half)

        off = 0
        while off < length and not deadline.expired:
            n = min(chunk, length - off)
            span(off, n)
            off += n
        return MemoryRead(address, bytes(buf), _gaps(have, address))

    def read_u32(self, address: int) -> int | None:
        blocks = self.read_chunk(address, 4)
        if blocks and len(blocks[0][1]) == 4 and blocks[0][0] == address:
            return int.from_bytes(blocks[0][1], "little")
        return None

    def read_words(self, address: int, count: int) -> list[int] | None:
        blocks = self.read_chunk(address, 4 * count)
        if len(blocks) == 1 and blocks[0][0] == address and len(blocks[0][1]) == 4 * count:
            data = blocks[0][1]
            return [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]
        return None

    def dump_memory(
        self, path: Path, address: int, length: int, *, chunk: int = 0x20000, timeout: float = 20.0
    ) -> MemoryRead:
        """Dump [address, address+length) to ``path``: GDB's own ``dump binary memory`` per
        chunk (its full speed); a chunk GDB cannot dump whole ("Cannot access memory") is read
        with :meth:`read_memory`, which keeps the readable parts and records the gaps."""
        deadline = Deadline(timeout)
        path = Path(path)
        part = path.with_name(f".{path.name}.part")
        data = bytearray()
        gaps: list[tuple[int, int]] = []
        off = 0
        while off < length:
            n = min(chunk, length - off)
            try:
                self.dump_binary(part, address + off, n, timeout=max(1.0, deadline.cap(10.0)))
                piece = part.read_bytes()
                if len(piece) != n:
                    raise GdbError("dump", f"short dump ({len(piece)} of {n} bytes)")
            except GdbError:
                mem = self.read_memory(address + off, n, timeout=max(1.0, deadline.remaining))
                piece = mem.data
                gaps += mem.gaps
            data += piece
            off += n
        try:
            part.unlink()
        except OSError:
            pass
        path.write_bytes(bytes(data))
        return MemoryRead(address, bytes(data), _merge(gaps))

    def dump_binary(self, path: Path, address: int, length: int, timeout: float = 10.0) -> None:
        """GDB's own ``dump binary memory`` (used by the benchmark as the reference)."""
        self.cli(f"dump binary memory {path} 0x{address:x} 0x{address + length:x}", timeout)


def _merge(gaps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, n in sorted(gaps):
        if out and out[-1][0] + out[-1][1] == a:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((a, n))
    return out


def _gaps(have: bytearray, address: int) -> list[tuple[int, int]]:
    gaps = []
    i, n = 0, len(have)
    while i < n:
        if have[i]:
            j = have.find(b"\x00", i)
            i = n if j < 0 else j
            continue
        j = have.find(b"\x01", i)
        j = n if j < 0 else j
        gaps.append((address + i, j - i))
        i = j
    return gaps


def _is_stopped(rec: dict) -> bool:
    return rec.get("type") == "notify" and rec.get("message") == "stopped"


def check_gdb(gdb_bin: str = GDB_BIN) -> str:
    path = shutil.which(gdb_bin)
    if path is None:
        raise ToolMissing(gdb_bin, "apt-get install gdb-multiarch")
    return path
