"""verify-fix's two campaigns on several simulated boards at once (``--jobs N``).

The cycles of each build are cut into *chunks* of consecutive cycle indexes; a chunk runs on a
fresh board (its own QEMU, bridge, ports and ProcessOwner). Chunks are queued interleaved in
index order (baseline 1-5, candidate 1-5, baseline 6-10, ...) and ``jobs`` worker threads take
them, so with two jobs one baseline and one candidate board run side by side. Cycle *i* has the
same cut kind, hold, load and WiFi delays whichever board runs it (the schedule is drawn per
index from the seed: :func:`photondbg.campaign.cycle.schedule`), so a run is the same in
meaning whatever ``jobs`` is; what differs is only which cycles share a board's history (a
chunk starts from a fresh boot).

Each finished cycle is reported through ``on_result(role, cycle)`` (from the worker's thread,
under a lock); when it returns True (the sequential verdict is decided) no new chunk starts and
running boards stop before their next cycle.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from photondbg.campaign.records import CampaignConfig, CampaignResult, CycleResult
from photondbg.procs import ProcessOwner

ROLES = ("baseline", "candidate")


class Campaign(Protocol):
    """What ``make_campaign(cfg, owner, logdir=, on_note=, on_cycle=, ...)`` returns: the
    sim's :class:`~photondbg.campaign.sim.SimCampaign` or the real board's."""

    def run(self) -> CampaignResult: ...


MakeCampaign = Callable[..., Campaign]


@dataclass
class Chunk:
    role: str
    number: int  # 1, 2, ... within the role
    indexes: tuple[int, ...]  # cycle indexes, consecutive


def chunk_plan(cycles: int, size: int) -> list[Chunk]:
    """Both roles' chunks, interleaved in index order."""
    size = max(1, size)
    out = []
    for n, start in enumerate(range(1, cycles + 1, size), 1):
        idx = tuple(range(start, min(cycles, start + size - 1) + 1))
        out += [Chunk(role, n, idx) for role in ROLES]
    return out


def chunk_size(cycles: int, jobs: int, sequential: bool) -> int:
    """One chunk per board per role when the count is fixed and each role has a board; small
    chunks when the run may stop early (the verdict needs low indexes of both roles first)."""
    per_role = max(1, jobs // 2)
    if sequential:
        return 5
    return -(-cycles // per_role) if jobs >= 2 else cycles


class ParallelRun:
    """Run ``configs[role]`` (cycles 1..N each) as chunks on ``jobs`` boards at once."""

    def __init__(
        self,
        configs: dict[str, CampaignConfig],
        outdir: Path,
        *,
        jobs: int,
        size: int,
        make_campaign: MakeCampaign,
        on_result: Callable[[str, CycleResult], bool] | None = None,
        on_note: Callable[[str], None] | None = None,
        done: dict[str, dict[int, CycleResult]] | None = None,
    ):
        self.configs = configs
        self.done = done or {}  # a resumed run's finished cycles, by role and index
        self.outdir = Path(outdir)
        self.jobs = max(1, jobs)
        self.make_campaign = make_campaign
        self.on_result = on_result or (lambda role, r: False)
        self.on_note = on_note or (lambda text: None)
        cycles = max(c.cycles for c in configs.values())
        self.queue = [
            c
            for c in (
                dataclasses.replace(
                    c, indexes=tuple(i for i in c.indexes if i not in self.done.get(c.role, {}))
                )
                for c in chunk_plan(cycles, size)
            )
            if c.indexes
        ]
        self.single = len(self.queue) == 2  # one chunk per role: logs where they always were
        self.results: dict[str, list[CampaignResult]] = {r: [] for r in ROLES}
        self.decided = threading.Event()
        self.lock = threading.Lock()
        self.errors: list[BaseException] = []
        self.owners: list[ProcessOwner] = []
        self.chunks_run = 0

    def run(self) -> dict[str, CampaignResult]:
        workers = [
            threading.Thread(target=self._work, name=f"board-{n}", daemon=True)
            for n in range(min(self.jobs, len(self.queue)))
        ]
        for w in workers:
            w.start()
        try:
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except BaseException:  # Ctrl-C: stop every board, then let the workers end
            self.decided.set()
            with self.lock:
                owners = list(self.owners)
            for o in owners:
                o.close()
            for w in workers:
                w.join(10)
            raise
        if self.errors:
            raise self.errors[0]
        for role, cycles in self.done.items():  # what the interrupted run had finished
            cfg = self.configs[role]
            self.results[role].append(
                CampaignResult(
                    cfg.variant,
                    cfg.app,
                    cfg.seed,
                    cfg.cycles,
                    cycles=sorted(cycles.values(), key=lambda c: c.index),
                )
            )
        return {role: merge(self.configs[role], self.results[role]) for role in ROLES}

    def _next(self) -> Chunk | None:
        with self.lock:
            if self.decided.is_set() or self.errors or not self.queue:
                return None
            return self.queue.pop(0)

    def _work(self) -> None:
        while (chunk := self._next()) is not None:
            try:
                self._run_chunk(chunk)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                with self.lock:
                    self.errors.append(e)
                self.decided.set()
                return

    def _run_chunk(self, chunk: Chunk) -> None:
        cfg = dataclasses.replace(self.configs[chunk.role], indexes=chunk.indexes)
        logdir = self.outdir / f"{chunk.role}-{cfg.variant}"
        if not self.single:
            logdir = logdir / f"cycles-{chunk.indexes[0]:03d}-{chunk.indexes[-1]:03d}"
        with ProcessOwner(logdir=logdir) as owner:
            with self.lock:
                self.owners.append(owner)
                self.chunks_run += 1
            camp = self.make_campaign(
                cfg,
                owner,
                logdir=logdir,
                on_note=self.on_note,
                on_cycle=lambda r: self._cycle(chunk.role, r),
                stop=self.decided.is_set,
            )
            res = camp.run()
        with self.lock:
            self.owners.remove(owner)
            self.results[chunk.role].append(res)

    def _cycle(self, role: str, r: CycleResult) -> None:
        with self.lock:
            if self.on_result(role, r):
                self.decided.set()


def merge(cfg: CampaignConfig, parts: list[CampaignResult]) -> CampaignResult:
    """One role's chunks as one campaign result (cycles in index order, counters summed)."""
    out = CampaignResult(cfg.variant, cfg.app, cfg.seed, cfg.cycles)
    parts = sorted(parts, key=lambda p: p.cycles[0].index if p.cycles else 1 << 30)
    for p in parts:
        out.cycles += p.cycles
        out.boot_to_serving += p.boot_to_serving
        out.steps += p.steps
        out.phases += p.phases
        out.duration = max(out.duration, p.duration)
        out.target = p.target
        for mine, theirs in ((out.http, p.http), (out.console, p.console), (out.bridge, p.bridge)):
            for k, v in theirs.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    mine[k] = mine.get(k, 0) + v
                else:
                    mine.setdefault(k, v)
        if p.device:
            out.device = p.device
    out.cycles.sort(key=lambda c: c.index)
    stops = {p.stopped_early for p in parts if p.stopped_early}
    out.stopped_early = ", ".join(sorted(stops)) or None
    return out
