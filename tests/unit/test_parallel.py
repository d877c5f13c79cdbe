"""verify-fix's orchestration of boards (--jobs) and of the sequential stop, with scripted
campaigns in place of boards (the real boards: tests/sim/test_verify_jobs.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from photondbg.campaign.parallel import ParallelRun, chunk_plan, chunk_size, merge
from photondbg.campaign.records import CampaignConfig, CampaignResult, CycleResult
from photondbg.campaign.sequential import Design, cycles_to_fixed
from photondbg.campaign.verify import run_verify
from photondbg.errors import ToolFailure


def outcome(variant: str, index: int) -> str:
    if variant == "none":
        return "NO_RECOVERY" if index % 7 == 0 else "CRASH"
    if variant == "clients":
        return "CRASH" if index % 2 else "OK"
    return "OK"


class Scripted:
    """A campaign whose cycle *i* ends as ``outcome(variant, i)``; records who ran what."""

    started: ClassVar[list[tuple[str, tuple[int, ...]]]] = []
    running = 0
    most = 0
    lock = threading.Lock()
    fail_on: tuple[str, int] | None = None

    def __init__(self, cfg, owner, *, logdir, on_note=None, on_cycle=None, stop=None):
        self.cfg, self.on_cycle, self.stop = cfg, on_cycle, stop or (lambda: False)
        self.logdir = logdir

    def run(self) -> CampaignResult:
        cls = type(self)
        with cls.lock:
            cls.started.append((self.cfg.variant, tuple(self.cfg.indexes)))
            cls.running += 1
            cls.most = max(cls.most, cls.running)
        res = CampaignResult(self.cfg.variant, self.cfg.app, self.cfg.seed, self.cfg.cycles)
        try:
            for i in self.cfg.indexes:
                if self.stop():
                    res.stopped_early = "verdict"
                    break
                if cls.fail_on == (self.cfg.variant, i):
                    raise ToolFailure(f"board died in cycle {i}")
                time.sleep(0.01)
                r = CycleResult(i, outcome(self.cfg.variant, i), "down", 1.0)
                r.http = {"ok": 3}
                res.cycles.append(r)
                self.on_cycle(r)
            res.http = {"ok": 3 * len(res.cycles)}
            return res
        finally:
            with cls.lock:
                cls.running -= 1


@pytest.fixture(autouse=True)
def fresh():
    Scripted.started, Scripted.running, Scripted.most, Scripted.fail_on = [], 0, 0, None


def configs(cycles, baseline="none", candidate="all"):
    return [
        CampaignConfig(elf=Path("x.elf"), variant=v, cycles=cycles, seed=1)
        for v in (baseline, candidate)
    ]


def test_chunks_interleave_the_roles_in_index_order():
    plan = chunk_plan(12, 5)
    assert [(c.role, c.indexes[0], c.indexes[-1]) for c in plan] == [
        ("baseline", 1, 5),
        ("candidate", 1, 5),
        ("baseline", 6, 10),
        ("candidate", 6, 10),
        ("baseline", 11, 12),
        ("candidate", 11, 12),
    ]
    assert chunk_size(30, 1, sequential=False) == 30  # one board: the whole run, as before
    assert chunk_size(30, 2, sequential=False) == 30  # one board per role
    assert chunk_size(30, 4, sequential=False) == 15
    assert chunk_size(30, 2, sequential=True) == 5


@pytest.mark.parametrize("jobs", [1, 2, 3, 4])
def test_fixed_runs_every_cycle_the_same_whatever_jobs(tmp_path, jobs):
    res = run_verify(*configs(12), tmp_path, jobs=jobs, make_campaign=Scripted)
    assert [c.index for c in res.baseline.cycles] == list(range(1, 13))
    assert [c.outcome for c in res.baseline.cycles] == [outcome("none", i) for i in range(1, 13)]
    assert res.candidate.outcomes["OK"] == 12
    assert res.verdict.verdict == "FIXED" and res.summary()["mode"] == "fixed"
    assert res.baseline.http["ok"] == 36
    assert Scripted.most <= jobs
    if jobs >= 2:
        assert Scripted.most >= 2  # boards really ran side by side


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_sequential_stops_at_the_same_cycle_whatever_jobs(tmp_path, jobs):
    design = Design(max_cycles=60, alpha=0.01)
    res = run_verify(*configs(60), tmp_path, jobs=jobs, make_campaign=Scripted, design=design)
    d = res.sequential
    # baseline crashes every cycle but each 7th (NO_RECOVERY), the candidate never
    need = cycles_to_fixed(design)
    expected = need + (need - 1) // 6
    assert (d.verdict, d.cycle, d.baseline_only) == ("FIXED", expected, need)
    assert res.verdict.verdict == "FIXED"
    s = res.summary()
    assert s["mode"] == "sequential" and s["stopped_at"] == expected
    assert f"stopped after cycle {expected}" in s["stop_reason"]
    # the table counts cycles 1..stop only, whatever else was under way
    assert res.verdict.table["baseline"]["crashed"] == need
    assert res.verdict.table["candidate"]["crashed"] == 0
    # no chunk starts after the decision: at most one more round of chunks than needed
    last = max(i for _, idx in Scripted.started for i in idx)
    assert last <= expected + 5 * max(1, jobs)
    assert len(res.baseline.cycles) < 60


def test_not_fixed_is_decided_too(tmp_path):
    res = run_verify(
        *configs(60, baseline="all", candidate="none"),
        tmp_path / "2",
        jobs=2,
        make_campaign=Scripted,
        design=Design(max_cycles=60, alpha=0.05),
    )
    assert res.sequential.verdict == "NOT FIXED"
    assert res.sequential.cycle == 2  # two candidate-only crashes: 0.18**2 < 0.05


def test_a_failing_board_fails_the_run_and_stops_the_others(tmp_path):
    Scripted.fail_on = ("all", 3)
    with pytest.raises(ToolFailure, match="board died in cycle 3"):
        run_verify(
            *configs(40),
            tmp_path,
            jobs=2,
            make_campaign=Scripted,
            design=Design(max_cycles=40, alpha=0.001),
        )
    assert max(i for _, idx in Scripted.started for i in idx) <= 10


def test_merge_sums_counters_and_orders_cycles():
    cfg = configs(4)[0]
    a = CampaignResult(
        "none",
        "multi-server",
        1,
        4,
        cycles=[CycleResult(3, "OK", "down", 1), CycleResult(4, "OK", "down", 1)],
        http={"ok": 2},
        bridge={"frames": 5, "app": "multi-server"},
    )
    b = CampaignResult(
        "none",
        "multi-server",
        1,
        4,
        cycles=[CycleResult(1, "CRASH", "down", 1), CycleResult(2, "OK", "down", 1)],
        http={"ok": 1},
        bridge={"frames": 7, "app": "multi-server"},
        stopped_early="verdict",
    )
    m = merge(cfg, [a, b])
    assert [c.index for c in m.cycles] == [1, 2, 3, 4]
    assert m.http == {"ok": 3} and m.bridge == {"frames": 12, "app": "multi-server"}
    assert m.stopped_early == "verdict"


def test_one_chunk_per_role_keeps_the_old_log_folders(tmp_path):
    seen = []

    class Logs(Scripted):
        def __init__(self, cfg, owner, *, logdir, **kw):
            seen.append(Path(logdir).relative_to(tmp_path).as_posix())
            super().__init__(cfg, owner, logdir=logdir, **kw)

    ParallelRun(
        dict(zip(("baseline", "candidate"), configs(3))),
        tmp_path,
        jobs=2,
        size=3,
        make_campaign=Logs,
    ).run()
    assert sorted(seen) == ["baseline-none", "candidate-all"]


@pytest.mark.parametrize("jobs", [1, 4])
def test_resume_runs_only_the_missing_cycles(tmp_path, jobs):
    """verify-fix --resume: the finished cycles come back as they were, the others run once."""
    done = {
        "baseline": {i: CycleResult(i, "CRASH", "down", 1.0, detail="before") for i in (1, 2, 5)},
        "candidate": {i: CycleResult(i, "OK", "down", 1.0, detail="before") for i in (1, 2, 3)},
    }
    res = run_verify(*configs(6), tmp_path, jobs=jobs, make_campaign=Scripted, done=done)
    ran = {
        v: sorted(i for var, idx in Scripted.started if var == v for i in idx)
        for v in ("none", "all")
    }
    assert ran == {"none": [3, 4, 6], "all": [4, 5, 6]}
    assert [c.index for c in res.baseline.cycles] == list(range(1, 7))
    assert [c.index for c in res.candidate.cycles] == list(range(1, 7))
    assert [c.detail for c in res.baseline.cycles] == ["before", "before", "", "", "before", ""]


def test_resume_with_the_verdict_already_decided_runs_nothing(tmp_path):
    from photondbg.campaign.sequential import Design

    done = {
        "baseline": {i: CycleResult(i, "CRASH", "down", 1.0) for i in range(1, 31)},
        "candidate": {i: CycleResult(i, "OK", "down", 1.0) for i in range(1, 31)},
    }
    res = run_verify(
        *configs(60),
        tmp_path,
        jobs=2,
        make_campaign=Scripted,
        design=Design(max_cycles=60),
        done=done,
    )
    assert Scripted.started == []
    assert res.verdict.verdict == "FIXED"
