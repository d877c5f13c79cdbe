"""Shared fixtures: a process owner per test and the no-orphan check every test gets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photondbg.procs import ProcessOwner
from support import watched_children


@pytest.fixture(autouse=True)
def no_orphans():
    """Every test must leave no QEMU / GDB / OpenOCD child behind."""
    before = {p for p, _ in watched_children()}
    yield
    left = [(p, c) for p, c in watched_children() if p not in before]
    if left:
        for p, _ in left:
            try:
                os.kill(p, 9)
            except OSError:
                pass
        pytest.fail(f"orphan processes left behind: {left}")


@pytest.fixture
def owner(tmp_path: Path):
    with ProcessOwner(logdir=tmp_path / "logs") as o:
        yield o
