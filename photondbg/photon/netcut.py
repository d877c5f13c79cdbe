"""Cutting a real AP's uplink: a user's command pair (run through ``sh``, time-limited), or a
person at a prompt. The sim's bridge models the WiFi itself; a real Photon needs one of these.

    cut = netcut_from_options("ssh pi@relay ./relay.sh off", "ssh pi@relay ./relay.sh on")
    cut.cut(); ...; cut.restore()

Commands are split like a shell would (``shlex``) but not run by one: write ``sh -c '...'`` for
pipes. Each run is recorded in ``events`` (what ran, when, how long, its exit status).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Callable

from photondbg.errors import ToolFailure, UsageError
from photondbg.photon.run import run


@dataclass
class NetCutEvent:
    action: str  # "cut" | "restore"
    how: str  # the command, or "prompt"
    started: float  # time.time()
    seconds: float
    exit_code: int | None = None


def parse_command(text: str, option: str) -> list[str]:
    try:
        argv = shlex.split(text or "")
    except ValueError as e:
        raise UsageError(f"{option}: cannot parse {text!r} ({e})") from None
    if not argv:
        raise UsageError(f"{option} is empty")
    return argv


@dataclass
class CommandNetCut:
    cut_cmd: str
    restore_cmd: str
    timeout: float = 60.0
    events: list[NetCutEvent] = field(default_factory=list)

    def __post_init__(self):
        self._cut = parse_command(self.cut_cmd, "--netcut-cmd")
        self._restore = parse_command(self.restore_cmd, "--netrestore-cmd")

    def _run(self, action: str, argv: list[str], text: str) -> None:
        t0, wall = time.monotonic(), time.time()
        res = run(argv, timeout=self.timeout)
        self.events.append(
            NetCutEvent(action, text, wall, round(time.monotonic() - t0, 3), res.exit_code)
        )
        if not res.ok:
            raise ToolFailure(f"{action} command failed (exit {res.exit_code}): {res.last_line()}")

    def cut(self) -> None:
        self._run("cut", self._cut, self.cut_cmd)

    def restore(self) -> None:
        self._run("restore", self._restore, self.restore_cmd)


@dataclass
class PromptNetCut:
    """Asks a person: unplug the AP's uplink now / plug it back in, then press Enter."""

    ask: Callable[[str], str] = input
    events: list[NetCutEvent] = field(default_factory=list)

    def _prompt(self, action: str, text: str) -> None:
        t0, wall = time.monotonic(), time.time()
        try:
            self.ask(text)
        except EOFError:
            raise UsageError(
                "no terminal to ask on: pass --netcut-cmd and --netrestore-cmd"
            ) from None
        self.events.append(NetCutEvent(action, "prompt", wall, round(time.monotonic() - t0, 3)))

    def cut(self) -> None:
        self._prompt("cut", "Unplug the access point's uplink now, then press Enter: ")

    def restore(self) -> None:
        self._prompt("restore", "Plug the access point's uplink back in, then press Enter: ")


def netcut_from_options(
    cut_cmd: str | None,
    restore_cmd: str | None,
    *,
    timeout: float = 60.0,
    ask: Callable[[str], str] = input,
) -> CommandNetCut | PromptNetCut:
    """Both commands → CommandNetCut; neither → PromptNetCut; one alone is a usage error."""
    if (cut_cmd is None) != (restore_cmd is None):
        raise UsageError("--netcut-cmd and --netrestore-cmd go together")
    if cut_cmd is None or restore_cmd is None:
        return PromptNetCut(ask)
    return CommandNetCut(cut_cmd, restore_cmd, timeout)
