"""Cycle classification from the evidence a target leaves: console markers and QEMU's exit."""

from __future__ import annotations

from pathlib import Path

from photondbg.campaign.records import CampaignConfig
from photondbg.campaign.sim import SimCampaign
from photondbg.campaign.steps import stage
from photondbg.sim.tester import ConsoleWatch
from photondbg.targets.sim import parse_lockup

# recorded from qemu-system-arm 7.2 -M netduino2 running tests/firmware/faults/lockup.c
LOCKUP_STDERR = (Path(__file__).parent / "data" / "qemu-7.2-lockup-stderr.txt").read_text()


class DeadTarget:
    """What SimTarget reports once QEMU has exited: not running, a returncode, maybe a dump."""

    def __init__(self, stderr: str, returncode: int):
        self._stderr, self.returncode, self.running = stderr, returncode, False

    def lockup(self):
        return parse_lockup(self._stderr)


def campaign(tmp_path) -> SimCampaign:
    return SimCampaign(CampaignConfig(elf=Path("unused.elf")), owner=None, logdir=tmp_path)


def test_qemu_exit_with_lockup_dump_is_lockup(tmp_path):
    c = campaign(tmp_path)
    c.target = DeadTarget(LOCKUP_STDERR, 134)
    outcome, _, detail = c.crashed(since=0.0)
    assert outcome == "LOCKUP" and "pc=0x080000b8" in detail and "can't escalate" in detail


def test_qemu_exit_without_dump_is_crash(tmp_path):
    c = campaign(tmp_path)
    c.target = DeadTarget("", -9)
    assert c.crashed(since=0.0)[0] == "CRASH"


class LiveTarget:
    running = True


def test_panic_or_unexpected_boot_is_crash_and_old_lines_are_not(tmp_path):
    c = campaign(tmp_path)
    c.target = LiveTarget()
    c.watch = ConsoleWatch()
    c.watch._on_line(1.0, "@boot reason=0 data=0 app=multi-server variant=none")
    assert c.crashed(since=2.0) is None  # the boot that started this run
    c.watch._on_line(3.0, "@panic code=1 name=HardFault pc=0x00000000 lr=0x08000e89")
    outcome, t, detail = c.crashed(since=2.0)
    assert (outcome, t) == ("CRASH", 3.0) and detail.startswith("@panic code=1")


def test_stage_records_args_duration_and_error(tmp_path):
    class Thing:
        def __init__(self):
            self.steps = []

        def _clock(self):
            return 0.0

        @stage("x")
        def work(self, x, y=0):
            if x < 0:
                raise ValueError("negative")
            return x + y

    t = Thing()
    assert t.work(2, y=3) == 5
    try:
        t.work(-1)
    except ValueError:
        pass
    assert [(s.name, s.args, s.error) for s in t.steps] == [
        ("work", {"x": 2}, None),
        ("work", {"x": -1}, "ValueError: negative"),
    ]
