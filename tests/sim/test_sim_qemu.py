"""The real thing: firmware built with arm-none-eabi-gcc, run in QEMU, served through the bridge
on 127.0.0.1, its WiFi cut by the campaign. Bounded retries, no timing asserts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import child_processes, require_tool

from photondbg.campaign.records import CampaignConfig
from photondbg.campaign.sim import SimCampaign
from photondbg.firmware import app_port
from photondbg.sim.bridge import Bridge
from photondbg.sim.tester import http_get

ROOT = Path(__file__).resolve().parents[2]
PHOTONDBG = [sys.executable, "-m", "photondbg"]
CRASHES = ("CRASH", "LOCKUP")


@pytest.fixture(scope="module")
def elfs():
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from photondbg import firmware

    return {
        (app, v): firmware.build(app=app, variant=v)
        for app in ("multi-server", "simple-server")
        for v in ("none", "clients", "all")
        if app == "multi-server" or v == "all"
    }


@pytest.mark.parametrize("app", ["multi-server", "simple-server"])
def test_boots_and_serves_real_http(elfs, owner, tmp_path, app):
    from photondbg.targets.sim import SimTarget

    target = SimTarget(elfs[(app, "all")], owner, logdir=tmp_path).start()
    bridge = Bridge(target.link, logdir=tmp_path)
    owner.add_cleanup(bridge.close)
    port = bridge.wait_host_port(app_port(app), 20)
    assert port is not None, target.console.text()
    for _ in range(100):  # the first answer may race the listen
        r = http_get(port, timeout=3)
        if r.kind == "ok":
            break
        time.sleep(0.1)
    assert r.kind == "ok" and r.status == 200
    assert bridge.app == app
    assert target.console.wait_for(rf"^@boot .*app={app}", 5) is not None
    for _ in range(100):  # liveness: PINGs are answered from the main loop
        if bridge.last_pong is not None:
            break
        time.sleep(0.05)
    assert bridge.last_pong is not None
    log = (tmp_path / "bridge.log").read_text()
    assert f"device port {app_port(app)} -> 127.0.0.1:{port}" in log


def campaign(elf, owner, tmp_path, variant, cycles, seed, **kw):
    cfg = CampaignConfig(
        elf=elf, variant=variant, cycles=cycles, seed=seed, cuts=("down",), hold=(0.8, 1.5), **kw
    )
    return SimCampaign(cfg, owner, logdir=tmp_path / f"{variant}-{seed}").run()


def test_variant_none_never_comes_back_whole(elfs, owner, tmp_path):
    """Device OS 0.6.4: every WiFi loss deletes the server's socket under TCPServer (which keeps
    the handle), and walks clients[] through stale pointers.  A cycle ends in a crash when the
    garbage faults, otherwise without the server -- never OK."""
    res = campaign(elfs[("multi-server", "none")], owner, tmp_path, "none", 3, 1)
    assert res.outcomes["OK"] == 0, res.cycles
    for c in res.cycles:
        if c.outcome in CRASHES:
            assert c.cut_to_crash is not None, c  # it came with (after) a WiFi cut


def test_variant_clients_does_not_crash_but_never_recovers(elfs, owner, tmp_path):
    res = campaign(elfs[("multi-server", "clients")], owner, tmp_path, "clients", 2, 5)
    outcomes = res.outcomes
    assert outcomes["CRASH"] == outcomes["LOCKUP"] == outcomes["HANG"] == 0, res.cycles
    assert outcomes["NO_RECOVERY"] >= 1, res.cycles
    assert res.console.get("panic", 0) == 0


def test_sim_run_all_json_contract(elfs, tmp_path):
    out = subprocess.run(
        [
            *PHOTONDBG,
            "sim",
            "run",
            "--variant",
            "all",
            "--cycles",
            "2",
            "--cut",
            "down",
            "--hold",
            "0.8:1.5",
            "--seed",
            "3",
            "--json",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["variant"] == "all" and summary["cycles"] == 2
    assert set(summary["outcomes"]) == {"OK", "CRASH", "LOCKUP", "HANG", "NO_RECOVERY"}
    assert summary["outcomes"]["OK"] == 2, out.stderr
    assert summary["http"]["ok"] > 0
    assert (tmp_path / "run" / "campaign.json").exists()
    assert (tmp_path / "run" / "bridge.log").exists()


def test_ctrl_c_leaves_no_qemu_behind(elfs, tmp_path):
    proc = subprocess.Popen(
        [
            *PHOTONDBG,
            "sim",
            "run",
            "--variant",
            "all",
            "--cycles",
            "50",
            "--out",
            str(tmp_path / "run"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        qemus = []
        for line in proc.stdout:  # wait until the board serves
            if "serving device port" in line:
                qemus = [p for p, c in child_processes(proc.pid) if "qemu-system-arm" in c]
                break
        assert qemus, "no QEMU child seen"
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 130
    for pid in qemus:
        assert (
            not os.path.exists(f"/proc/{pid}")
            or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        ), f"qemu {pid} survived Ctrl-C"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--variant", "bogus"], "'bogus' is not one of"),
        (["--cycles", "0"], "0 is not in the range"),
        (["--hold", "3:1"], "MIN <= MAX"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle):
    out = subprocess.run(
        [*PHOTONDBG, "sim", "run", *args], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert out.returncode == 2
    assert needle in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_port_in_use_is_exit_2():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = subprocess.run(
            [*PHOTONDBG, "sim", "run", "--port", str(s.getsockname()[1])],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
    assert out.returncode == 2
    assert "already in use" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_missing_toolchain_is_exit_2(tmp_path):
    # a PATH without arm-none-eabi-gcc, and an empty build dir so a build must run
    env = dict(os.environ, PATH=str(Path(sys.executable).parent), PHOTONDBG_BUILD=str(tmp_path))
    out = subprocess.run(
        [*PHOTONDBG, "sim", "run", "--cycles", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode == 2, out.stderr
    assert "arm-none-eabi" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_frozen_device_is_a_hang_and_gets_rebooted(elfs, owner, tmp_path):
    """SIGSTOP the simulator during the cut (a device that stops dead): no PONG, no HTTP ->
    HANG; the campaign reboots it and the next cycle is OK again."""
    cfg = CampaignConfig(
        elf=elfs[("multi-server", "all")],
        variant="all",
        cycles=2,
        seed=7,
        cuts=("down",),
        hold=(0.8, 1.2),
    )
    camp = SimCampaign(cfg, owner, logdir=tmp_path / "hang")
    frozen = []

    def freeze():
        for _ in range(600):
            b, t = camp.bridge, camp.target
            if b is not None and t is not None and b.state == "down":
                os.kill(t.child.pid, signal.SIGSTOP)
                frozen.append(t.child.pid)
                return
            time.sleep(0.05)

    import threading

    th = threading.Thread(target=freeze, daemon=True)
    th.start()
    res = camp.run()
    th.join()
    assert frozen
    assert [c.outcome for c in res.cycles] == ["HANG", "OK"], res.cycles
    assert res.cycles[0].reboots == 1 and camp.boots == 2


def test_a_board_that_never_serves_fails_cleanly(elfs, owner, tmp_path):
    """The wrong app for the port: the campaign reboots once, then fails with one message,
    leaving no QEMU (the autouse no_orphans check) and no bridge thread behind."""
    import threading

    from photondbg.errors import ToolFailure

    cfg = CampaignConfig(
        elf=elfs[("simple-server", "all")],
        app="multi-server",
        variant="all",
        cycles=1,
        boot_timeout=2.0,
    )
    camp = SimCampaign(cfg, owner, logdir=tmp_path / "deaf")
    with pytest.raises(ToolFailure, match="never served HTTP"):
        camp.run()
    assert camp.boots == 2
    assert not camp.target.running
    assert not any(
        t.name in ("bridge-loop",) or t.name.startswith("http-tester")
        for t in threading.enumerate()
    )


def test_sim_boot_prints_the_host_port(elfs, tmp_path):
    out = subprocess.run(
        [
            *PHOTONDBG,
            "sim",
            "boot",
            "--app",
            "simple-server",
            "--seconds",
            "1",
            "--out",
            str(tmp_path / "boot"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "serving: device port 80 -> http://127.0.0.1:" in out.stdout
    assert "serial| @boot" in out.stdout
