"""GDB over MI: one ``gdb-multiarch`` child owned by a :class:`ProcessOwner`, I/O by pygdbmi.

Every command carries a token and a time-out; its answer is the result record with that
token (async and stream records that arrive meanwhile are kept for whoever waits on them).
The raw MI exchange (what we wrote, what GDB printed) goes to ``gdb-mi.log``.
One code path serves QEMU's gdbstub and OpenOCD: ``connect(host, port)``.
"""

from __future__ import annotations

import itertools
import os
import select
import shutil
import subprocess
from pathlib import Path
from typing import IO, cast

from photondbg.deadline import Deadline
from photondbg.errors import TargetTimeout, ToolFailure, ToolMissing
from photondbg.gdb.memory import MemoryAccess
from photondbg.gdb.mi import (
    CONNECTION_LOST,
    GDB_ARGS,
    GDB_BIN,
    GdbError,
    MiResult,
    TargetDied,
    _Io,
    _is_stopped,
    _TeeReader,
)
from photondbg.procs import Child, ProcessOwner


class GdbSession(MemoryAccess):
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
        self._log: IO[bytes] | None = None
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
        stdin, stdout = self.child.proc.stdin, self.child.proc.stdout
        assert stdin is not None and stdout is not None  # spawned with PIPEs
        self.io = _Io(
            stdin,
            # duck-typed: pygdbmi only calls fileno() and read() on its reader
            cast("IO[bytes]", _TeeReader(stdout, self._log)),
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
        assert res.payload is not None  # ^done of -break-insert carries bkpt
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
