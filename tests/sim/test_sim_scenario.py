"""WifiLossScenario, the background WiFi cutter capture-fault runs while GDB holds the target."""

from __future__ import annotations

import threading
import time

import pytest
from support import require_tool

from photondbg.campaign.scenario import WifiLossScenario
from photondbg.targets.sim import SimTarget


@pytest.fixture(scope="module")
def elf():
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from photondbg import firmware

    return firmware.build(app="multi-server", variant="all")


def test_scenario_cuts_and_restores_on_a_schedule(elf, owner, tmp_path):
    target = SimTarget(elf, owner, logdir=tmp_path).start()
    sc = WifiLossScenario(
        target,
        owner,
        app="multi-server",
        seed=4,
        logdir=tmp_path,
        cuts=("down",),
        load=(0.3, 0.6),
        hold=(0.5, 0.8),
        settle=0.5,
    ).start()
    end = time.monotonic() + 60
    while sc.cycles < 2 and time.monotonic() < end:
        time.sleep(0.1)
    sc.stop()
    names = [e.name for e in sc.events]
    assert names[0] == "start" and names[-1] == "stop"
    assert names.count("cut") >= 2 and "restore" in names and "served" in names
    assert all(a.t <= b.t for a, b in zip(sc.events, sc.events[1:]))
    assert sc.counters()["http_ok"] > 0
    assert sc.host_port is not None
    sc.stop()  # idempotent


def test_scenario_on_a_halted_target_stops_cleanly(elf, owner, tmp_path):
    # gdb=True starts QEMU paused (-S): the device never runs, nothing may block on it
    target = SimTarget(elf, owner, logdir=tmp_path, gdb=True).start()
    sc = WifiLossScenario(target, owner, app="multi-server", seed=1, logdir=tmp_path).start()
    time.sleep(1.0)
    sc.stop()  # returns: no thread waits on the device (the suite's timeout would catch it)
    assert not any(
        t.name in ("wifi-loss", "bridge-loop") or t.name.startswith("http-tester")
        for t in threading.enumerate()
    )
    assert sc.bridge.last_pong is None and sc.host_port is None
    assert [e.name for e in sc.events] == ["start", "stop"]
