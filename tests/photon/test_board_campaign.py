"""The real-board campaign, run for real against the simulated Photon posing as a board on the
LAN: `photondbg sim boot` serves HTTP, relays its console to a TCP port (read with pyserial's
socket:// URL) and takes `cut`/`restore`/`reset` lines on a control port, which
`photondbg sim netcut` sends — the commands a user would give for a relay on a real AP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import require_tool

from photondbg.errors import ToolFailure, UsageError
from photondbg.ports import free_port

PHOTONDBG = [sys.executable, "-m", "photondbg"]


def _ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


class SimBoard:
    """A `photondbg sim boot` child with HTTP, console and control on 127.0.0.1."""

    def __init__(self, owner, tmp_path: Path, variant: str, usb: bool = False):
        self.owner, self.tmp, self.usb = owner, tmp_path, usb
        self.http, self.console, self.control = _ports(3)
        self.child = None
        self.flash(variant)

    def flash(self, variant: str) -> None:
        """What flashing does to a real board: it runs the new firmware from reset."""
        if self.child is not None:
            self.child.stop()
        self.variant = variant
        out = self.tmp / f"board-{variant}.out"
        with open(out, "wb") as f:
            self.child = self.owner.spawn(
                f"sim-board-{variant}",
                [
                    *PHOTONDBG,
                    "sim",
                    "boot",
                    "--variant",
                    variant,
                    "--port",
                    str(self.http),
                    "--console-port",
                    str(self.console),
                    "--control-port",
                    str(self.control),
                    "--out",
                    str(self.tmp / f"board-{variant}"),
                ]
                + (["--console-usb"] if self.usb else []),
                stdout=f,
                stderr=subprocess.STDOUT,
            )
        for _ in range(600):  # bounded: 60 s for a build (cached) and a boot
            text = out.read_text(errors="replace")
            if "serving:" in text:
                return
            assert self.child.alive(), f"sim boot exited:\n{text}"
            time.sleep(0.1)
        pytest.fail(f"sim boot never served:\n{out.read_text(errors='replace')}")

    def cmd(self, action: str) -> str:
        extra = " --kind down" if action == "cut" else ""
        return (
            f"{sys.executable} -m photondbg sim netcut --control 127.0.0.1:{self.control} "
            f"{action}{extra}"
        )

    def campaign_args(self, *, reset: bool = True) -> list[str]:
        args = [
            "--target",
            "photon",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.http),
            "--serial",
            f"socket://127.0.0.1:{self.console}",
            "--netcut-cmd",
            self.cmd("cut"),
            "--netrestore-cmd",
            self.cmd("restore"),
            "--hold",
            "1:2",
            "--recovery",
            "5",
            "--boot-timeout",
            "20",
        ]
        return args + (["--reset-cmd", self.cmd("reset")] if reset else [])


def run_cli(args: list[str], timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PHOTONDBG, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_campaign_sees_crashes_of_variant_none(owner, tmp_path):
    board = SimBoard(owner, tmp_path, "none")
    out = tmp_path / "camp"
    res = run_cli(
        [
            "campaign",
            *board.campaign_args(),
            "--cycles",
            "3",
            "--seed",
            "1",
            "--variant",
            "none",
            "--json",
            "--out",
            str(out),
        ]
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["variant"] == "none" and summary["cycles"] == 3
    assert set(summary["outcomes"]) == {"OK", "CRASH", "LOCKUP", "HANG", "NO_RECOVERY"}
    assert summary["outcomes"]["CRASH"] >= 1
    assert summary["http"]["ok"] > 0
    full = json.loads((out / "campaign.json").read_text())
    assert full["target"] == "photon"
    crashes = [c for c in full["per_cycle"] if c["outcome"] == "CRASH"]
    # the sim console does not drop on a reset: the evidence is its @panic / @boot lines
    assert all(c["detail"].startswith(("@panic", "@boot")) for c in crashes)
    net = full["device"]["netcut"]
    assert [e["action"] for e in net] == ["cut", "restore"] * 3
    assert all(e["exit_code"] == 0 for e in net)
    assert "@panic" in (out / "serial.log").read_text(errors="replace")
    assert [s["name"] for s in full["steps"]][:2] == ["setup", "wait_serving"]


def test_a_console_that_drops_on_reset_like_usb(owner, tmp_path):
    """The Photon's USB serial vanishes at each reset: the campaign re-opens it and goes on."""
    board = SimBoard(owner, tmp_path, "none", usb=True)
    out = tmp_path / "camp"
    res = run_cli(
        [
            "campaign",
            *board.campaign_args(),
            "--cycles",
            "2",
            "--seed",
            "1",
            "--json",
            "--out",
            str(out),
        ]
    )
    assert res.returncode == 0, res.stderr
    full = json.loads((out / "campaign.json").read_text())
    assert full["outcomes"]["CRASH"] >= 1 and len(full["per_cycle"]) == 2
    serial = full["device"]["serial"]
    assert serial["drops"] >= 1 and serial["reopens"] >= 1
    # the console after the re-open still carries the board's lines
    log = (out / "serial.log").read_text(errors="replace")
    assert log.count("@panic") == full["outcomes"]["CRASH"]
    # variant none never ends a cycle OK, so the board resets after cycle 1 (its own reset after
    # a panic, or ours after NO_RECOVERY) and the port drops; cycle 2 then reads the board's
    # lines (its requests answered) from the re-opened port. A crash in the last cycle ends
    # the run before the board serves again, so only the cycles after a reset are checked.
    first, *after_reset = full["per_cycle"]
    assert first["outcome"] != "OK"
    assert all(c["console"]["lines"] > 0 and c["http"]["ok"] > 0 for c in after_reset)
    assert log.count("answered") > first["http"]["ok"]


def test_variant_clients_never_recovers_and_a_board_without_reset_stops(owner, tmp_path):
    board = SimBoard(owner, tmp_path, "clients")
    out = tmp_path / "camp"
    res = run_cli(
        [
            "campaign",
            *board.campaign_args(reset=False),
            "--cycles",
            "2",
            "--variant",
            "clients",
            "--json",
            "--out",
            str(out),
        ]
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    # PR #1250 alone: no crash, but the server never listens again; nothing can reset it
    assert summary["outcomes"]["NO_RECOVERY"] == 1 and summary["cycles"] == 1
    assert "needs a reset" in summary["stopped_early"]
    full = json.loads((out / "campaign.json").read_text())
    assert full["per_cycle"][0]["detail"].startswith("device alive (serial output")


def test_verify_fix_on_the_board_flashes_both_builds(owner, tmp_path):
    from photondbg.campaign.board import Board, verify_on_board
    from photondbg.cli.campaign import board_config
    from photondbg.photon.netcut import CommandNetCut

    board = SimBoard(owner, tmp_path, "none")
    flashed = []

    def flash(elf: Path):  # the injected step: the "board" reboots into the named variant
        flashed.append(elf.name)
        if board.variant != elf.stem:
            board.flash(elf.stem)

    netcut = CommandNetCut(board.cmd("cut"), board.cmd("restore"))
    target = Board(
        "127.0.0.1",
        board.http,
        netcut,
        serial=f"socket://127.0.0.1:{board.console}",
        reset_cmd=board.cmd("reset"),
    )
    cfgs = [
        board_config(
            variant=v,
            cycles=2,
            seed=3,
            hold=(1.0, 2.0),
            period=0.25,
            recovery=5,
            boot_timeout=20,
            elf=Path(f"/builds/{v}"),
            netcut=netcut,
        )
        for v in ("none", "all")
    ]
    res = verify_on_board(target, *cfgs, tmp_path / "verify", flash=flash)
    assert flashed == ["none", "all"]
    s = res.summary()
    assert s["baseline"]["outcomes"]["CRASH"] >= 1
    assert s["candidate"]["outcomes"]["OK"] == 2
    assert s["verdict"] in ("FIXED", "NOT FIXED", "INCONCLUSIVE") and s["recovery"] == "PASS"
    for name in ("verify.json", "verify.md", "outcomes.png"):
        assert (tmp_path / "verify" / name).stat().st_size > 0
    runs = json.loads((tmp_path / "verify" / "verify.json").read_text())["runs"]
    assert len(runs["candidate"]["device"]["netcut"]) == 4  # its own cuts only


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--port", "80", "--netcut-cmd", "true", "--netrestore-cmd", "true"],
            "--host is required",
        ),
        (
            ["--host", "127.0.0.1", "--netcut-cmd", "true", "--netrestore-cmd", "true"],
            "--port is required",
        ),
        (["--host", "127.0.0.1", "--port", "80", "--netcut-cmd", "true"], "go together"),
        (["--host", "127.0.0.1", "--port", "80"], "no terminal to ask on"),
        (
            [
                "--host",
                "127.0.0.1",
                "--port",
                "80",
                "--netcut-cmd",
                "'unclosed",
                "--netrestore-cmd",
                "true",
            ],
            "cannot parse",
        ),
        (
            [
                "--host",
                "bad host",
                "--port",
                "80",
                "--netcut-cmd",
                "true",
                "--netrestore-cmd",
                "true",
            ],
            "not a host name",
        ),
        (
            [
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--netcut-cmd",
                "true",
                "--netrestore-cmd",
                "true",
            ],
            "--port",
        ),
        (
            [
                "--host",
                "127.0.0.1",
                "--port",
                "80",
                "--netcut-cmd",
                "true",
                "--netrestore-cmd",
                "true",
                "--hold",
                "3:1",
            ],
            "MIN <= MAX",
        ),
        (
            [
                "--host",
                "127.0.0.1",
                "--port",
                "80",
                "--netcut-cmd",
                "true",
                "--netrestore-cmd",
                "true",
                "--probe",
                "jlink",
            ],
            "--probe",
        ),
    ],
)
def test_campaign_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    res = run_cli(["campaign", *args, "--out", str(tmp_path / "o")], timeout=30)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_campaign_bad_serial_port_is_usage_error(tmp_path):
    port = free_port()  # nothing listens there
    res = run_cli(
        [
            "campaign",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--netcut-cmd",
            "true",
            "--netrestore-cmd",
            "true",
            "--serial",
            f"socket://127.0.0.1:{port}",
            "--out",
            str(tmp_path / "o"),
        ],
        timeout=30,
    )
    assert res.returncode == 2, res.stderr
    assert "cannot open serial port socket://127.0.0.1" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_campaign_against_a_silent_host_fails_with_one_line(tmp_path):
    res = run_cli(
        [
            "campaign",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--netcut-cmd",
            "true",
            "--netrestore-cmd",
            "true",
            "--boot-timeout",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
        timeout=30,
    )
    assert res.returncode == 1
    assert "did not answer HTTP within 1 s" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "photon"], "--baseline-elf is required"),
        (["--host", "127.0.0.1"], "--host needs --target photon"),
        (
            [
                "--target",
                "photon",
                "--baseline-elf",
                "{elf}",
                "--candidate-elf",
                "/nonexistent.elf",
            ],
            "file not found",
        ),
        (
            [
                "--target",
                "photon",
                "--baseline-elf",
                "{elf}",
                "--candidate-elf",
                "{elf}",
                "--flash-method",
                "dfu",
            ],
            "same file",
        ),
        (
            ["--target", "photon", "--baseline-elf", "{elf}", "--candidate-elf", "{elf2}"],
            "--flash-method is required",
        ),
        (
            [
                "--target",
                "photon",
                "--baseline-elf",
                "{elf}",
                "--candidate-elf",
                "{elf2}",
                "--flash-method",
                "openocd",
                "--netcut-cmd",
                "true",
                "--netrestore-cmd",
                "true",
            ],
            "--host is required",
        ),
    ],
)
def test_verify_fix_photon_argument_checks(args, message, tmp_path):
    elf, elf2 = tmp_path / "a.elf", tmp_path / "b.elf"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    elf2.write_bytes(b"\x7fELF" + bytes(60))
    args = [a.format(elf=elf, elf2=elf2) for a in args]
    res = run_cli(["verify-fix", *args, "--out", str(tmp_path / "o")], timeout=30)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr


def test_verify_fix_photon_flash_by_openocd_without_a_probe(tmp_path):
    """The real flash step runs first; with no probe attached OpenOCD says so: exit 2."""
    require_tool("openocd")
    elf, elf2 = tmp_path / "a.elf", tmp_path / "b.elf"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    elf2.write_bytes(b"\x7fELF" + bytes(60))
    res = run_cli(
        [
            "verify-fix",
            "--target",
            "photon",
            "--baseline-elf",
            str(elf),
            "--candidate-elf",
            str(elf2),
            "--flash-method",
            "openocd",
            "--host",
            "127.0.0.1",
            "--port",
            "80",
            "--netcut-cmd",
            "true",
            "--netrestore-cmd",
            "true",
            "--out",
            str(tmp_path / "o"),
        ],
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert "no debug probe found" in res.stderr.strip().splitlines()[-1]


def test_control_server_line_protocol():
    from photondbg.sim.bridge import Bridge
    from photondbg.sim.lan import ControlServer, control_request

    resets = []
    with Bridge(None) as bridge:
        server = ControlServer(bridge, 0, on_reset=lambda: resets.append(1))
        addr = f"127.0.0.1:{server.port}"
        try:
            assert control_request(addr, "status") == "ok up"
            assert control_request(addr, "cut uplink") == "ok cut uplink"
            assert control_request(addr, "status") == "ok uplink"
            assert control_request(addr, "restore") == "ok restore"
            assert control_request(addr, "status") == "ok up"
            assert control_request(addr, "reset") == "ok reset" and resets == [1]
            with pytest.raises(ToolFailure, match="unknown request"):
                control_request(addr, "cut sideways")
        finally:
            server.close()
    with pytest.raises(ToolFailure, match="nothing listens"):
        control_request(addr, "status")
    with pytest.raises(UsageError, match="only listens on 127.0.0.1"):
        control_request("192.168.1.2:5000", "status")


def test_serial_url_stream_counts_a_dropped_port():
    """A real Photon's USB serial vanishes on reset and comes back: a drop, then a re-open."""
    from photondbg.campaign.board import UrlSerialStream

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(2)
    srv.settimeout(10)
    stream = UrlSerialStream(f"socket://127.0.0.1:{srv.getsockname()[1]}", retry=0.05)
    got = []
    reader = threading.Thread(
        target=lambda: got.extend(iter(lambda: stream.recv(100), b"")), daemon=True
    )
    reader.start()
    try:
        first, _ = srv.accept()
        first.sendall(b"@boot reason=0\r\n")
        first.close()  # the port drops ...
        second, _ = srv.accept()  # ... and the reader re-opens it
        # pyserial empties the input at open(): what the board says before the port is open
        # again is lost (on a real Photon too), so speak once the re-open has completed
        for _ in range(200):
            if stream.reopens:
                break
            time.sleep(0.05)
        second.sendall(b"@boot reason=130\r\n")
        for _ in range(100):  # bounded wait for the bytes to arrive
            if b"reason=130" in b"".join(got):
                break
            time.sleep(0.05)
        assert b"".join(got) == b"@boot reason=0\r\n@boot reason=130\r\n"
        assert len(stream.drops) == 1 and stream.reopens == 1
        second.close()
    finally:
        stream.close()
        reader.join(timeout=5)
        srv.close()


@pytest.mark.parametrize(
    "line",
    [
        "Error: [stm32f2x.cpu] clearing lockup after double fault",  # OpenOCD 0.12
        "Error: stm32f2x.cpu -- clearing lockup after double fault",  # 0.11 and older
    ],
)
def test_openocd_lockup_line_makes_a_lockup_cycle(owner, tmp_path, line):
    """The probe's evidence, as the session parses OpenOCD's log; then the reset means."""
    from photondbg.campaign.board import Board, BoardCampaign
    from photondbg.cli.campaign import board_config
    from photondbg.photon.netcut import CommandNetCut
    from photondbg.photon.openocd_events import parse_line
    from photondbg.targets.photon import PhotonTarget

    board = Board(
        "127.0.0.1", 7123, CommandNetCut("true", "true"), probe="cmsis-dap", reset_cmd="true"
    )
    cfg = board_config(
        variant="x",
        cycles=1,
        seed=0,
        hold=None,
        period=0.5,
        recovery=None,
        boot_timeout=None,
        netcut=board.netcut,
    )
    camp = BoardCampaign(cfg, board, owner, logdir=tmp_path)
    camp.probe = PhotonTarget(None, owner, logdir=tmp_path, interface="cmsis-dap")
    before = time.monotonic()
    assert camp.crashed(before) is None
    session = camp.probe.session
    session.events += [
        e
        for e in (
            parse_line(line, time.monotonic()),
            parse_line("xPSR: 0x01000003 pc: 0x08001234 msp: 0x2001ff80", time.monotonic()),
        )
        if e
    ]
    outcome, t, detail = camp.crashed(before)
    assert outcome == "LOCKUP" and t >= before
    assert "clearing lockup" in detail and detail.endswith("pc=0x08001234")
    assert camp.crashed(time.monotonic() + 1) is None  # evidence older than the cycle: not it
    # OpenOCD not running: the next means of reset is the user's command
    assert camp.reset_means() == "command"
    assert cfg.hold == (20.0, 40.0) and cfg.hang_after > cfg.recovery
