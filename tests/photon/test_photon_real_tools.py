"""The real programs, here, with no probe, no Photon and no Particle login: the error paths a
user without hardware meets must be one clear line, fast, with nothing left running."""

import os
import struct
import subprocess
import sys

import pytest
from recordings import openocd_log, recording
from support import require_tool

from photondbg import tools
from photondbg.errors import EXIT_USAGE, ToolFailure, UsageError
from photondbg.photon import dfu, flash, particle
from photondbg.photon.openocd import NoProbe, OpenOcdSession


@pytest.fixture
def no_login(tmp_path, monkeypatch):
    """particle-cli reads ~/.particle: a fresh HOME means no login can leak in or out."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def particle_or_fail():
    path = tools.which("particle")
    if path is None:
        pytest.fail("particle-cli is not installed: run scripts/bootstrap.sh")
    return path


@pytest.mark.parametrize("interface", ["cmsis-dap", "stlink"])
def test_openocd_without_probe_is_one_clear_error(owner, interface):
    require_tool("openocd")
    session = OpenOcdSession(owner, interface)
    with pytest.raises(NoProbe) as err:
        session.start(timeout=20)
    assert err.value.exit_code == EXIT_USAGE
    assert str(err.value).startswith("no debug probe found")
    assert "\n" not in str(err.value)
    assert not session.running and session.child.proc.returncode == 1
    # the live log is the recorded one (what tests/data/openocd says OpenOCD prints here)
    recorded, code = openocd_log(f"no-probe-{interface}.log")
    assert code == 1
    assert [ln for ln in session.lines if ln.strip()] == [ln for ln in recorded if ln.strip()]
    assert (owner.logdir / "openocd.log").read_text().count("Error:") == 1


def test_openocd_program_without_probe(tmp_path):
    require_tool("openocd")
    image = tmp_path / "mono.bin"
    image.write_bytes(struct.pack("<II", 0x20020000, 0x08020195) + bytes(56))
    with pytest.raises(NoProbe, match="no debug probe found"):
        flash.flash(image, "openocd", interface="stlink")


def test_particle_compile_without_login(no_login, tmp_path):
    particle_or_fail()
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.ino").write_text("void setup() {}\nvoid loop() {}\n")
    with pytest.raises(UsageError) as err:
        particle.compile_app(app, tmp_path / "app.bin", env=dict(os.environ))
    assert str(err.value) == (
        "particle compile: not logged in to the Particle cloud (run `particle login`)"
    )
    assert not (tmp_path / "app.bin").exists()
    assert (
        not (no_login / ".particle" / "particle.config.json").exists()
        or "access_token" not in (no_login / ".particle" / "particle.config.json").read_text()
    )


def test_particle_compile_raw_exit_code_and_message(no_login, tmp_path):
    path = particle_or_fail()
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.ino").write_text("void setup() {}\nvoid loop() {}\n")
    from photondbg.photon.run import run

    res = run(particle.compile_argv(path, app, tmp_path / "x.bin"), timeout=120)
    rec = recording("particle/compile-not-logged-in.txt")
    assert (res.exit_code, res.stdout) == (1, rec.stdout + "\n")


def test_particle_usb_and_serial_list_find_nothing(no_login):
    particle_or_fail()
    assert particle.usb_list() == []
    assert particle.serial_list() == []


def test_particle_flash_usb_no_device_is_usage_error(no_login, tmp_path):
    particle_or_fail()
    image = tmp_path / "app.bin"
    image.write_bytes(struct.pack("<II", 0x080A0000, 0x080A0100) + bytes(248))
    with pytest.raises((UsageError, ToolFailure)) as err:
        particle.flash_usb(image)
    assert "\n" not in str(err.value) and str(err.value).startswith("particle flash --usb")


def test_dfu_util_list_and_download_without_device(tmp_path):
    require_tool("dfu-util")
    assert dfu.list_devices() == []
    image = tmp_path / "app.bin"
    image.write_bytes(struct.pack("<II", 0x080A0000, 0x080A0100) + bytes(248))
    with pytest.raises(UsageError, match="no Photon in DFU mode"):
        dfu.download(image)


def test_gdb_connect_to_closed_port_is_one_line(owner):
    require_tool("gdb-multiarch")
    from photondbg.gdb.session import GdbSession
    from photondbg.ports import free_port

    gdb = GdbSession(None, owner).start()
    # GDB retries a refused TCP connect for `tcp connect-timeout` (15 s) unless told not to
    gdb.cli("set tcp auto-retry off")
    port = free_port()  # nothing listens there
    with pytest.raises(ToolFailure) as err:
        gdb.connect("127.0.0.1", port, timeout=10)
    assert f"127.0.0.1:{port}" in str(err.value) and "\n" not in str(err.value)


def test_cli_openocd_without_probe_exit_2():
    require_tool("openocd")
    res = subprocess.run(
        [sys.executable, "-m", "photondbg", "openocd", "--probe", "stlink"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "no debug probe found" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_doctor_photon_reports_missing_hardware_as_information():
    res = subprocess.run(
        [sys.executable, "-m", "photondbg", "doctor", "--target", "photon"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    for check in ("openocd cmsis-dap", "openocd stlink", "dfu-util -l", "particle usb list"):
        assert check in res.stdout
    assert "no Photon in DFU mode" in res.stdout
    assert "no debug probe found" in res.stdout
