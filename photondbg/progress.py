"""What a long-running verb is doing, on stderr: stages and live counters.

On a terminal a rich status line (spinner, stage, counters) is kept up to date and each stage
leaves one line behind; otherwise plain lines, one per stage and, at most every
``every`` seconds, one with the counters, so a log (or a test) can follow the run:

    photondbg: stage: boot
    photondbg: stage: run
    photondbg: status: run 12 s, cuts 2, restores 1, http ok 14, timeout 3, error 1
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

PREFIX = "photondbg:"


class Progress:
    """Callable with a stage name (what the capture engine calls); ``status`` for counters."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        every: float = 5.0,
        quiet: bool = False,
    ):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self.quiet = quiet
        self.current: str | None = None
        self._last_status = 0.0
        self._live: Any = None  # rich Status, on a terminal
        self._console: Any = None

    def __call__(self, stage: str) -> None:
        self.stage(stage)

    def stage(self, name: str) -> None:
        self.current = name
        self._last_status = time.monotonic()
        if self.quiet:
            return
        if self.tty:
            self._rich_status(f"[bold]{name}[/bold]")
            self._console.print(f"[dim]{PREFIX}[/dim] {name}")
        else:
            self._line(f"{PREFIX} stage: {name}")

    def status(self, text: str) -> None:
        """Live counters: the status line on a terminal; a plain line every ``every`` s."""
        if self.quiet:
            return
        if self.tty:
            self._rich_status(f"[bold]{self.current or ''}[/bold] {text}")
            return
        now = time.monotonic()
        if now - self._last_status >= self.every:
            self._last_status = now
            self._line(f"{PREFIX} status: {text}")

    def close(self) -> None:
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:  # noqa: BLE001 - the terminal may be gone (SIGHUP)
                pass
            self._live = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed terminal must not end the capture
            pass

    def _rich_status(self, markup: str) -> None:
        if self._live is None:
            from rich.console import Console

            self._console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._live = self._console.status(markup)
            self._live.start()
        else:
            self._live.update(markup)


def scenario_counters(elapsed: float, scenario) -> str:
    """One line from a WiFi-loss scenario: cuts, restores and the HTTP tester's counts."""
    parts = [f"run {elapsed:.0f} s"]
    if scenario is None:
        return f"{parts[0]}, waiting for a fault"
    names = [getattr(e, "name", "") for e in list(getattr(scenario, "events", None) or [])]
    parts += [f"cut {names.count('cut')}", f"restores {names.count('restore')}"]
    try:
        counters = scenario.counters()
    except Exception:  # noqa: BLE001 - counters are information; never stop the capture
        counters = {}
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in counters.items() if isinstance(v, int)]
    return ", ".join(parts)
