"""Shared fixtures: a process owner per test and the no-orphan check every test gets.

The test process is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a grandchild whose parent
dies (QEMU under a SIGKILLed ``photondbg`` subprocess) is re-parented to pytest, not to PID 1,
so the descendant scan below still sees it. Two checks:
- right after the test body (a hook wrapper, before fixtures close what they own): every watched
  process that no live in-process ProcessOwner owns must be gone within ORPHAN_GRACE seconds
  (the CLI end-to-end tests: a finished ``photondbg`` leaves nothing);
- after teardown: nothing new is left at all.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import hypothesis
import pytest
from support import child_processes, watched_children

from photondbg import procs
from photondbg.procs import PR_SET_CHILD_SUBREAPER, ProcessOwner, prctl

SUBREAPER = prctl(PR_SET_CHILD_SUBREAPER, 1)
ORPHAN_GRACE = 5.0  # s: a killed photondbg's keeper stops its group within ~2 s
BEFORE = pytest.StashKey[set]()

# property tests: no per-example deadline (the first example pays lazy imports such as scipy,
# and the machine is shared); derandomize in CI so a failure reproduces
hypothesis.settings.register_profile("photondbg", deadline=None, print_blob=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "photondbg")


def owned_pids() -> set[int]:
    """Processes (and their descendants) owned by a live ProcessOwner in this process."""
    pids: set[int] = set()
    for owner in list(procs._LIVE):
        for child in owner.children():
            if child.alive():
                pids.add(child.pid)
                pids.update(p for p, _ in child_processes(child.pid))
    return pids


def _kill(left: list[tuple[int, str]]) -> None:
    for p, _ in left:
        try:
            os.kill(p, 9)
        except OSError:
            pass


def wait_no_orphans(
    before: set[int], grace: float = ORPHAN_GRACE, *, skip_owned: bool
) -> list[tuple[int, str]]:
    """Watched descendants not in ``before`` (nor owned, with skip_owned), after waiting up to
    ``grace`` s for them to go: [] when none is left."""
    end = time.monotonic() + grace
    while True:
        skip = before | (owned_pids() if skip_owned else set())
        left = [(p, c) for p, c in watched_children() if p not in skip]
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def no_orphans(request):
    """Every test must leave no QEMU / GDB / OpenOCD / photondbg child behind."""
    before = {p for p, _ in watched_children()}
    request.node.stash[BEFORE] = before
    yield
    left = wait_no_orphans(before, skip_owned=False)
    if left:
        _kill(left)
        pytest.fail(f"orphan processes left behind: {left}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    before = item.stash.get(BEFORE, None)
    if before is not None:
        left = wait_no_orphans(before, skip_owned=True)
        if left:
            _kill(left)
            pytest.fail(f"processes left running after the test body, owned by nothing: {left}")
    return result


@pytest.fixture
def owner(tmp_path: Path):
    with ProcessOwner(logdir=tmp_path / "logs") as o:
        yield o
