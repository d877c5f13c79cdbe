"""photondbg on a labgrid farm, for real on 127.0.0.1: a labgrid coordinator and exporter started
here export the simulated Photon (`photondbg sim boot` with its console on a TCP port) as a
place; `photondbg campaign --labgrid-place` runs through labgrid's SerialDriver and
ExternalPowerDriver (the AP uplink as `photondbg sim netcut`), acquires and releases the place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import require_tool

from photondbg.farm import PowerNetCut, client_argv, place_from
from photondbg.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PHOTONDBG = [sys.executable, "-m", "photondbg"]
BIN = Path(sys.executable).parent
PLACE = "photon-sim"


def test_client_argv_and_labgrid_variables(monkeypatch):
    argv = client_argv("127.0.0.1:20408", "photon-1", "acquire")
    assert argv[0].endswith("labgrid-client") and argv[1:] == [
        "-x",
        "127.0.0.1:20408",
        "-p",
        "photon-1",
        "acquire",
    ]
    monkeypatch.setenv("LG_PLACE", "from-env")
    monkeypatch.setenv("LG_ENV", "env.yaml")
    assert place_from(None, None) == ("from-env", "env.yaml")
    assert place_from("given", "other.yaml") == ("given", "other.yaml")


def test_uplink_driver_failures_are_one_line(tmp_path):
    class Relay:
        def off(self):
            raise RuntimeError("relay board unreachable")

        def on(self):
            pass

    cut = PowerNetCut(Relay())
    cut.restore()
    from photondbg.errors import ToolFailure

    with pytest.raises(ToolFailure, match="labgrid cut .* failed: relay board unreachable"):
        cut.cut()
    assert [(e.action, e.exit_code) for e in cut.events] == [("restore", 0), ("cut", 1)]


def wait_for(fn, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def client(coordinator: str, *args: str, check: bool = True) -> str:
    out = subprocess.run(
        client_argv(coordinator, PLACE, *args),
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


@pytest.fixture
def farm(owner, tmp_path):
    """coordinator + simulated board + exporter, all on 127.0.0.1; the place created."""
    require_tool("qemu-system-arm")
    if not (BIN / "labgrid-coordinator").exists():
        pytest.fail("labgrid is not installed: run scripts/bootstrap.sh (photondbg[test])")
    coordinator = f"127.0.0.1:{free_port()}"
    http, console, control = free_port(), free_port(), free_port()
    owner.spawn(
        "labgrid-coordinator", [str(BIN / "labgrid-coordinator"), "-l", coordinator], cwd=tmp_path
    )
    board = owner.spawn(
        "sim-boot",
        [
            *PHOTONDBG,
            "sim",
            "boot",
            "--variant",
            "none",
            "--port",
            str(http),
            "--console-port",
            str(console),
            "--control-port",
            str(control),
            "--out",
            str(tmp_path / "board"),
        ],
        cwd=ROOT,
    )
    wait_for(lambda: "serving:" in board.log_path.read_text(), 60, "the simulated board")
    exporter_cfg = tmp_path / "exporter.yaml"
    exporter_cfg.write_text(f"""\
photon-sim:
  console:
    cls: NetworkSerialPort
    host: 127.0.0.1
    port: {console}
    speed: 115200
    protocol: raw
  http:
    cls: NetworkService
    address: 127.0.0.1
    port: {http}
    username: ""
""")
    wait_for(
        lambda: (
            subprocess.run(
                client_argv(coordinator, PLACE, "places"),
                capture_output=True,
                timeout=30,
                check=False,
            ).returncode
            == 0
        ),
        30,
        "the coordinator",
    )
    owner.spawn(
        "labgrid-exporter",
        [
            str(BIN / "labgrid-exporter"),
            "-c",
            coordinator,
            "-n",
            "simexporter",
            "--hostname",
            "127.0.0.1",
            str(exporter_cfg),
        ],
        cwd=tmp_path,
    )
    wait_for(
        lambda: "NetworkService" in client(coordinator, "resources", check=False),
        30,
        "the exporter's resources",
    )
    client(coordinator, "create")
    client(coordinator, "add-match", "simexporter/photon-sim/*")
    netcut = f"{sys.executable} -m photondbg sim netcut --control 127.0.0.1:{control}"
    env = tmp_path / "photon-env.yaml"
    env.write_text(f"""\
targets:
  main:
    resources:
      RemotePlace:
        name: {PLACE}
    drivers:
    - SerialDriver: {{}}
    - ExternalPowerDriver:
        name: uplink
        cmd_off: "{netcut} cut"
        cmd_on: "{netcut} restore"
    - ExternalPowerDriver:
        name: power
        cmd_off: "{netcut} status"
        cmd_on: "{netcut} status"
        cmd_cycle: "{netcut} reset"
options:
  coordinator_address: "{coordinator}"
""")
    return {
        "coordinator": coordinator,
        "env": env,
        "http": http,
        "board": board,
        "console": console,
    }


def test_campaign_runs_through_the_labgrid_place(farm, tmp_path):
    out = subprocess.run(
        [
            *PHOTONDBG,
            "campaign",
            "--labgrid-place",
            PLACE,
            "--labgrid-env",
            str(farm["env"]),
            "--cycles",
            "2",
            "--hold",
            "1:2",
            "--recovery",
            "8",
            "--boot-timeout",
            "30",
            "--json",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
        env={**os.environ, "LG_COORDINATOR": farm["coordinator"]},
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["cycles"] == 2
    assert f"labgrid place {PLACE}" in out.stderr
    full = json.loads((tmp_path / "run" / "campaign.json").read_text())
    device = full["device"]
    assert device["url"] == f"http://127.0.0.1:{farm['http']}/"
    actions = [e["action"] for e in device["netcut"]]
    assert actions == ["cut", "restore", "cut", "restore"]
    assert all(e["how"].startswith("labgrid ExternalPowerDriver") for e in device["netcut"])
    assert all(c["cut"] == "labgrid" for c in full["per_cycle"])
    # the console came through labgrid's SerialDriver: the app's lines are in serial.log
    assert "WiFi.ready()" in (tmp_path / "run" / "serial.log").read_text()
    # the board saw the cuts (the control port answered the ExternalPowerDriver's commands)
    board_log = farm["board"].log_path.read_text()
    assert "@net wifi=0" in board_log
    # acquired for the run, released after it
    assert "acquired: None" in client(farm["coordinator"], "show"), out.stderr

    # a place someone acquired stays acquired (photondbg does not release what it did not take)
    client(farm["coordinator"], "acquire")
    out = subprocess.run(
        [
            *PHOTONDBG,
            "campaign",
            "--labgrid-place",
            PLACE,
            "--cycles",
            "1",
            "--labgrid-env",
            str(farm["env"]),
            "--hold",
            "0.5:0.6",
            "--recovery",
            "8",
            "--out",
            str(tmp_path / "run2"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
        env={**os.environ, "LG_COORDINATOR": farm["coordinator"]},
    )
    assert out.returncode == 0, out.stderr
    assert "acquired: None" not in client(farm["coordinator"], "show")
    client(farm["coordinator"], "release")

    # capture-fault takes the place's console as the pyserial URL labgrid's SerialDriver built
    # (the board is reset through the place's power driver: after a NO_RECOVERY cycle the
    # 0.6.x server never listens again, a fresh boot prints its @boot line)
    probe = f"""
import serial, time
from photondbg.farm import PhotonPlace
with PhotonPlace({PLACE!r}, env_file={str(farm["env"])!r}, needs=()) as place:
    url = place.console_url()
    port = serial.serial_for_url(url, timeout=0.5)
    place.reset()
    seen, end = b"", time.monotonic() + 30
    while b"@boot" not in seen and time.monotonic() < end:
        seen += port.read(256)
    port.close()
print(url, b"@boot" in seen)
"""
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "LG_COORDINATOR": farm["coordinator"]},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == [f"socket://127.0.0.1:{farm['console']}/", "True"]

    # a place the coordinator does not know: one line, exit 2
    out = subprocess.run(
        [*PHOTONDBG, "campaign", "--labgrid-place", "no-such-place", "--cycles", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "LG_COORDINATOR": farm["coordinator"]},
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("photondbg: error: labgrid place 'no-such-place' not found")
    assert len(out.stderr.strip().splitlines()) == 1


def test_capture_fault_place_needs_the_photon_target(tmp_path):
    out = subprocess.run(
        [*PHOTONDBG, "capture-fault", "--labgrid-place", "photon-1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "photondbg: error: --labgrid-place needs --target photon"
