"""PhotonTarget on the fake OpenOCD: recorded OpenOCD log lines, GDB relayed to a real QEMU.

The firmware (tests/data/firmware/lockup.S) really locks the core up in QEMU; the fake then
prints OpenOCD's lock-up line in the chosen version's form with the registers from QEMU's dump,
and PhotonTarget must turn that into the same LockupDump the sim target gives.
"""

import os
import subprocess
import sys

import pytest
from recordings import DATA, FAKE_OPENOCD
from support import link_bare_metal, require_tool

from photondbg.deadline import Deadline
from photondbg.errors import EXIT_USAGE
from photondbg.photon.openocd import NoProbe, OpenOcdSession
from photondbg.targets.photon import PhotonTarget
from photondbg.targets.sim import SimTarget, parse_lockup


@pytest.fixture(scope="module")
def lockup_elf(tmp_path_factory):
    out = tmp_path_factory.mktemp("fw") / "lockup.elf"
    link_bare_metal(DATA / "firmware" / "lockup.S", out)
    return out


def fake_env(sim: SimTarget, scenario: str) -> dict:
    return dict(
        os.environ,
        FAKE_OPENOCD_UPSTREAM=f"127.0.0.1:{sim.gdb_port}",
        FAKE_OPENOCD_SCENARIO=str(DATA / "openocd" / scenario),
        FAKE_OPENOCD_QEMU_STDERR=str(sim.logdir / "qemu-stderr.log"),
    )


def photon_env(sim: SimTarget) -> dict:
    """photondbg's environment for `--target photon` on the fake OpenOCD relaying to ``sim``."""
    return fake_env(sim, "session-lockup-0.12.log") | {"PHOTONDBG_OPENOCD": str(FAKE_OPENOCD)}


def photon_capture_argv(elf, out, *extra: str) -> list[str]:
    """`photondbg capture-fault --target photon` of ``elf`` (no scenario) into ``out``."""
    return [
        *[sys.executable, "-m", "photondbg", "capture-fault", "--target", "photon"],
        *["--elf", str(elf), "--scenario", "none", "--timeout", "60", "--out", str(out)],
        *extra,
    ]


def capture_photon(sim: SimTarget, elf, out, *extra: str) -> subprocess.CompletedProcess:
    """Run :func:`photon_capture_argv` with ``--json`` to its end (at most 120 s)."""
    argv = photon_capture_argv(elf, out, *extra, "--json")
    return subprocess.run(
        argv, env=photon_env(sim), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "scenario,line,plain_stop",
    [
        (
            "session-lockup-0.12.log",
            "Error: [stm32f2x.cpu] clearing lockup after double fault",
            True,
        ),
        (
            "session-lockup-0.11.log",
            "Error: stm32f2x.cpu -- clearing lockup after double fault",
            False,
        ),
    ],
)
def test_lockup_through_fake_openocd(owner, tmp_path, lockup_elf, scenario, line, plain_stop):
    """0.12 halts the locked-up core: GDB gets a plain stop (SIGINT) and reads the registers,
    the lock-up line already in the log; the older fake closed GDB's connection instead."""
    require_tool("qemu-system-arm")
    require_tool("gdb-multiarch")
    from photondbg.gdb.mi import TargetDied
    from photondbg.gdb.session import GdbSession

    sim = SimTarget(lockup_elf, owner, logdir=tmp_path / "qemu", gdb=True).start()
    target = PhotonTarget(
        lockup_elf,
        owner,
        logdir=tmp_path / "photon",
        openocd_bin=str(FAKE_OPENOCD),
        env=fake_env(sim, scenario),
    )
    target.start()
    assert target.running and target.gdb_port not in (None, sim.gdb_port)
    assert target.lockup() is None

    gdb = GdbSession(lockup_elf, owner, logdir=tmp_path / "photon").start()
    gdb.connect("127.0.0.1", target.gdb_port)
    printed = [gdb.cli(cmd, timeout=10) for cmd in target.gdb_init_commands]
    assert "hard_err: catch" in printed[0] and "reset: catch" in printed[0]
    assert gdb.cli("p/x $pc", timeout=10).strip().endswith("0x8000010")  # reset vector
    gdb.cont()
    if plain_stop:
        stop = gdb.wait_stopped(Deadline(20))
        assert stop is not None and stop.get("signal-name") == "SIGINT", stop
        assert line in target.stderr_text()  # logged before GDB heard of the halt
        regs = gdb.registers()
        assert regs["pc"] == 0xA0000100 and regs["r4"] == 0x44
    else:
        with pytest.raises(TargetDied):
            gdb.wait_stopped(Deadline(20))
    target.wait_exit(5.0)

    qemu_dump = parse_lockup(sim.stderr_text())
    assert qemu_dump is not None and qemu_dump.pc == 0xA0000100
    dump = target.lockup()
    assert dump.message == line
    # pc/sp/xpsr from the halt line after the lock-up, r0..r12/lr from OpenOCD's `reg`
    assert dump.registers == qemu_dump.registers
    assert dump.registers["r4"] == 0x44 and dump.registers["r5"] == 0x55
    assert target.session.wait_for("halted", 1.0).fields["exception"] == "HardFault"

    gdb.close()
    target.stop()
    # the polite stop (telnet `shutdown`) worked: the fake exited 0 by itself, not by a signal
    assert target.returncode == 0
    assert "shutdown command invoked" in target.stderr_text()
    assert (tmp_path / "photon" / "openocd.log").read_text().count(line) == 1


def test_fake_without_scenario_replays_the_recorded_no_probe(owner):
    session = OpenOcdSession(
        owner,
        "cmsis-dap",
        openocd_bin=str(FAKE_OPENOCD),
        env={k: v for k, v in os.environ.items() if not k.startswith("FAKE_OPENOCD")},
    )
    with pytest.raises(NoProbe) as err:
        session.start(timeout=20)
    assert err.value.exit_code == EXIT_USAGE
    assert "unable to find a matching CMSIS-DAP device" in str(err.value)


def test_openocd_that_never_listens_times_out_cleanly(owner, tmp_path):
    # an OpenOCD that starts but whose GDB server never comes up: one error, child stopped
    scenario = tmp_path / "hang.log"
    scenario.write_text("Open On-Chip Debugger 0.12.0\nInfo : clock speed 1000 kHz\n")
    session = OpenOcdSession(
        owner,
        "stlink",
        openocd_bin=[sys.executable, str(FAKE_OPENOCD)],
        env=dict(os.environ, FAKE_OPENOCD_SCENARIO=str(scenario)),
    )
    from photondbg.errors import ToolFailure

    with pytest.raises(ToolFailure, match="did not listen"):
        session.start(timeout=1.0)
    assert not session.running


def test_capture_fault_target_photon_end_to_end(owner, tmp_path, lockup_elf):
    """`photondbg capture-fault --target photon`: the real capture path (engine, GdbSession,
    PhotonTarget, OpenOcdSession) against the fake OpenOCD relaying to QEMU."""
    require_tool("qemu-system-arm")
    import json

    sim = SimTarget(lockup_elf, owner, logdir=tmp_path / "qemu", gdb=True).start()
    res = capture_photon(sim, lockup_elf, tmp_path / "out")
    assert res.returncode == 0, res.stderr
    line = json.loads(res.stdout)
    report = json.loads(open(line["report"]).read())
    assert report["target"]["kind"] == "photon" and report["status"] == "complete"
    assert report["lockup"]["source"] == "openocd"
    assert report["lockup"]["message"] == "Error: [stm32f2x.cpu] clearing lockup after double fault"
    assert report["lockup"]["registers"] == parse_lockup(sim.stderr_text()).registers
    # the first fault was caught at the HardFault breakpoint and kept; the lock-up beside it
    assert report["fault"]["vector"] == "HardFault" and report["fault"]["stack"] == "msp"
    assert report["fault"]["stack_pointers"]["msp"] == report["fault"]["registers"]["sp"]
    assert [e["kind"] for e in report["after_fault_events"]] == ["lockup"]
    capdir = tmp_path / "out" / os.path.basename(os.path.dirname(line["report"]))
    assert "shutdown command invoked" in (capdir / "openocd.log").read_text()
    # the engine's "plain stop + lock-up line" branch: GDB heard a stop, not a closed link
    mi = (capdir / "gdb-mi.log").read_text()
    assert 'signal-name="SIGINT"' in mi and "Remote connection closed" not in mi


SPIN_S = """    .syntax unified
    .cpu cortex-m3
    .thumb
    .section .vectors, "a"
    .word   0x20008000
    .word   reset_handler
    .text
    .thumb_func
    .global reset_handler
reset_handler:
    b       reset_handler
"""


def test_openocd_dying_mid_capture_is_a_tool_failure(owner, tmp_path):
    """OpenOCD (the probe's server) exits while the capture runs: exit 1, one error line, a
    partial report that says so, nothing left running."""
    import json
    import signal
    import time

    src = tmp_path / "spin.S"
    src.write_text(SPIN_S)
    elf = tmp_path / "spin.elf"
    link_bare_metal(src, elf)
    sim = SimTarget(elf, owner, logdir=tmp_path / "qemu", gdb=True).start()
    out = tmp_path / "out"
    proc = subprocess.Popen(
        photon_capture_argv(elf, out),
        env=photon_env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    from support import StderrLines, child_processes

    err = StderrLines(proc.stderr)
    try:
        assert err.wait_for(r"^photondbg: stage: run$", 60), err.text(1)
        fake = [p for p, c in child_processes(proc.pid) if "fake_openocd" in c]
        assert fake
        time.sleep(0.5)  # the core runs; then the probe's server dies
        for pid in fake:
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.text()
    assert proc.returncode == 1, text
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1].startswith("photondbg: error: ")
    report = json.loads(next(out.glob("*/report.json")).read_text())
    assert report["status"] == "partial" and report["error"]


def test_port_taken_before_openocd_binds_is_retried(owner, tmp_path, monkeypatch):
    """OpenOCD prints `couldn't bind gdb to socket on port N: Address already in use` when the
    free port we chose was taken meanwhile; the session starts again on new ports."""
    import socket

    from photondbg.photon import openocd as oo

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    ports = iter([taken.getsockname()[1]])
    real_free_port = oo.free_port
    monkeypatch.setattr(oo, "free_port", lambda: next(ports, None) or real_free_port())
    scenario = tmp_path / "ready.log"
    lines = (DATA / "openocd" / "session-lockup-0.12.log").read_text().splitlines()
    scenario.write_text("\n".join(lines[: lines.index("@wait-upstream")]) + "\n")
    session = OpenOcdSession(
        owner,
        "cmsis-dap",
        openocd_bin=str(FAKE_OPENOCD),
        env=dict(os.environ, FAKE_OPENOCD_SCENARIO=str(scenario)),
    )
    try:
        session.start(timeout=20)
        assert session.running and session.gdb_port != taken.getsockname()[1]
        log = (owner.logdir / "openocd.log").read_text()
        assert f"couldn't bind gdb to socket on port {taken.getsockname()[1]}" in log
    finally:
        session.stop()
        taken.close()


def test_vector_catch_halt_in_a_handler_nobody_armed(owner, tmp_path):
    """The engine's "vector-catch halt" branch: the fault handler (installed at run time in a
    RAM vector table) has no breakpoint; the probe's vector catch halts the core in it, GDB
    gets a plain SIGTRAP stop at an unarmed address, and the engine still captures the fault
    because the core is in HardFault (IPSR 3)."""
    import json

    elf = tmp_path / "vcatch.elf"
    link_bare_metal(DATA / "firmware" / "vcatch.S", elf)
    nm = subprocess.run(
        [require_tool("arm-none-eabi-nm"), str(elf)], capture_output=True, text=True, check=True
    ).stdout
    addr = {
        line.split()[2]: int(line.split()[0], 16)
        for line in nm.splitlines()
        if len(line.split()) == 3
    }
    sim = SimTarget(elf, owner, logdir=tmp_path / "qemu", gdb=True).start()
    res = capture_photon(sim, elf, tmp_path / "out", "--follow", "0")
    assert res.returncode == 0, res.stderr
    line = json.loads(res.stdout.strip().splitlines()[-1])
    report = json.loads(open(line["report"]).read())
    assert report["outcome"] == "fault" and report["lockup"] is None
    fault = report["fault"]
    assert fault["vector"] == "HardFault"
    assert fault["registers"]["pc"] == addr["ram_hardfault"]
    armed = {h["address"] for h in report["armed"]["handlers"]}
    assert addr["flash_hardfault"] in armed and addr["ram_hardfault"] not in armed
    mi = tmp_path / "out" / os.path.basename(os.path.dirname(line["report"])) / "gdb-mi.log"
    assert 'signal-name="SIGTRAP"' in mi.read_text()
