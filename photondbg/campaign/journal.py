"""Every finished cycle, on disk the moment it ends: ``cycles.jsonl`` in the run's folder.

The first line describes the run (schema, verb, the options needed to continue it); then one
line per finished cycle, ``{"kind": "cycle", "run": ROLE, "cycle": {...CycleResult...}}``,
flushed and fsync'd before the next cycle starts. A run killed at any moment loses at most the
cycle that was under way; ``--resume DIR`` reads the file back and runs only the cycles that
are missing (each cycle's cut kind and hold come from the seeded schedule by its index, so a
resumed cycle is the cycle the first run would have run). A torn last line (killed while
writing) is ignored.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path

from photondbg.campaign.records import CycleResult
from photondbg.errors import UsageError

FILE = "cycles.jsonl"
SCHEMA = "photondbg.cycles/1"


class Journal:
    """Append-only record of one run's finished cycles (thread-safe: parallel boards)."""

    def __init__(self, outdir: Path, verb: str, options: dict, *, resume: bool = False):
        self.path = Path(outdir) / FILE
        self._lock = threading.Lock()
        if resume:
            header, _ = read(outdir)
            if header.get("verb") != verb:
                raise UsageError(f"{outdir} holds a {header.get('verb')!r} run, not {verb!r}")
            return
        head = {
            "kind": "start",
            "schema": SCHEMA,
            "verb": verb,
            "options": options,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with open(self.path, "x") as f:
            f.write(json.dumps(head) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def append(self, run: str, result: CycleResult) -> None:
        line = json.dumps({"kind": "cycle", "run": run, "cycle": asdict(result)}) + "\n"
        with self._lock, open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def hook(self, run: str, then=None):
        """An ``on_cycle`` callback that records the cycle, then calls ``then``."""

        def on_cycle(result: CycleResult) -> None:
            self.append(run, result)
            if then is not None:
                then(result)

        return on_cycle


def read(outdir: Path) -> tuple[dict, dict[str, dict[int, CycleResult]]]:
    """(header, {run: {index: CycleResult}}) of a run folder; UsageError if it has none."""
    path = Path(outdir) / FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"nothing to resume in {outdir}: no {FILE}") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    lines = text.splitlines()
    header: dict = {}
    runs: dict[str, dict[int, CycleResult]] = {}
    names = {f.name for f in fields(CycleResult)}
    for n, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            if n == len(lines) - 1:  # torn by a kill while writing: that cycle is not done
                break
            raise UsageError(f"{path}: line {n + 1} is not JSON") from None
        if rec.get("kind") == "start":
            if rec.get("schema") != SCHEMA:
                raise UsageError(f"{path}: unknown schema {rec.get('schema')!r}")
            header = rec
        elif rec.get("kind") == "cycle":
            c = {k: v for k, v in rec["cycle"].items() if k in names}
            runs.setdefault(rec["run"], {})[int(c["index"])] = CycleResult(**c)
    if not header:
        raise UsageError(f"{path} has no start line: not a photondbg run")
    return header, runs


def remaining(done: dict[int, CycleResult], cycles: int) -> tuple[int, ...]:
    return tuple(i for i in range(1, cycles + 1) if i not in done)
