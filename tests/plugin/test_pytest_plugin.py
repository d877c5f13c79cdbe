"""The pytest plugin, run by pytester on real boards: QEMU, the bridge, gdb-multiarch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import require_tool

pytest_plugins = ["pytester"]
NO_LABGRID = ("-p", "no:labgrid")  # labgrid's own plugin: one step logger per process


@pytest.fixture(scope="module")
def elf():
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from photondbg import firmware

    return Path(firmware.build(app="multi-server", variant="all"))


def test_plugin_is_registered_by_its_entry_point(pytester):
    result = pytester.runpytest_subprocess("--help", *NO_LABGRID)
    result.stdout.fnmatch_lines(["*photondbg*", "*--photon-target*", "*--photon-debug*"])


def test_options_resolve_marker_then_cli_then_ini_then_default(pytester):
    pytester.makeini("[pytest]\nphoton_app = simple-server\nphoton_variant = none\n")
    pytester.makepyfile("""
        import pytest
        from photondbg.pytest_plugin import option

        def test_plain(request):
            assert option(request, "target") == "sim"             # default
            assert option(request, "app") == "simple-server"      # ini
            assert option(request, "variant") == "clients"        # command line over ini
            assert option(request, "debug") is False

        @pytest.mark.photon(variant="all", debug=True)
        def test_marked(request):
            assert option(request, "variant") == "all"            # marker over command line
            assert option(request, "debug") is True
    """)
    result = pytester.runpytest("--photon-variant", "clients", *NO_LABGRID)
    result.assert_outcomes(passed=2)


def test_photon_fixture_boots_serves_and_recovers_from_a_cut(pytester, elf):
    pytester.makepyfile("""
        def test_board(photon):
            status, body = photon.get("/")
            assert status == 200 and "<html" in body.lower()
            assert photon.wait_for(r"^@boot .*app=multi-server", 10) is not None
            assert any(line.startswith("@boot") for line in photon.lines)
            photon.netcut("down")
            photon.restore()
            photon.wait_serving(30)
            assert photon.get("/")[0] == 200
    """)
    result = pytester.runpytest("--photon-elf", str(elf), "-p", "no:cacheprovider", *NO_LABGRID)
    result.assert_outcomes(passed=1)


def test_a_failing_test_with_the_debugger_gets_a_capture(pytester, elf, tmp_path):
    require_tool("gdb-multiarch")
    captures = tmp_path / "caps"
    pytester.makepyfile("""
        def test_fails(photon):
            assert photon.get("/")[0] == 200
            assert False, "the test gave up on the board"

        def test_passes(photon):
            assert photon.get("/")[0] == 200
    """)
    xml = tmp_path / "junit.xml"
    reprec = pytester.inline_run(
        "--photon-elf",
        str(elf),
        "--photon-debug",
        "--photon-captures",
        str(captures),
        f"--junitxml={xml}",
        "-p",
        "no:cacheprovider",
        *NO_LABGRID,
    )
    reprec.assertoutcome(passed=1, failed=1)
    failed = next(
        r for r in reprec.getreports("pytest_runtest_logreport") if r.when == "call" and r.failed
    )
    props = dict(failed.user_properties)
    capdir = Path(props["photon_capture"])
    assert capdir.parent == captures
    report = json.loads((capdir / "report.json").read_text())
    assert report["schema"] == "photondbg.capture/1" and report["status"] == "complete"
    assert report["trigger"]["kind"] == "test-failure"
    assert report["outcome"] == "none"  # the firmware did not fault: a snapshot of where it was
    assert 0x08000000 <= report["stop"]["pc"] < 0x08100000
    assert report["backtrace"], report
    assert (capdir / "ram.bin").stat().st_size == 128 * 1024
    # where each thread of the board's scheduler was (photondbg/capture/threads.py)
    assert {"app_thread", "IDLE"} <= {t["name"] for t in report["threads"]}
    assert [t["current"] for t in report["threads"]].count(True) == 1
    assert report["stop"]["stack_pointers"]["method"] == "mrs-stub"
    assert (capdir / "serial.log").read_text().startswith("@boot") or "@boot" in (
        capdir / "serial.log"
    ).read_text()
    sections = dict(failed.sections)
    assert str(capdir) in sections["photon capture"]
    assert "@boot" in sections["photon console"]
    assert "photon_capture" in xml.read_text()
    # the passing test took no capture
    assert [p.name for p in captures.iterdir()] == [capdir.name]


def test_photon_target_without_a_host_fails_with_one_line(pytester):
    pytester.makepyfile("""
        def test_board(photon):
            pass
    """)
    result = pytester.runpytest("--photon-target", "photon", *NO_LABGRID)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--photon-target photon needs --photon-host and --photon-port*"])


DOC = Path(__file__).resolve().parents[2] / "docs" / "pytest-plugin.md"


def doc_example() -> str:
    text = DOC.read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("variant", ["all", "clients"])
def test_the_documented_example(pytester, variant):
    """As docs/pytest-plugin.md says: the full fix passes; PR #1250 alone never serves again
    after the uplink cut (DESIGN §1), and the plugin's test says so."""
    require_tool("arm-none-eabi-gcc")
    pytester.makepyfile(test_wifi_loss=doc_example())
    result = pytester.runpytest("--photon-variant", variant, "-p", "no:cacheprovider", *NO_LABGRID)
    if variant == "all":
        result.assert_outcomes(passed=3)
    else:
        result.assert_outcomes(passed=2, failed=1)
        result.stdout.fnmatch_lines(["*FAILED*test_server_answers_again_after_the_ap_uplink*"])


def test_photon_target_drives_a_board_on_the_lan(pytester, owner, tmp_path):
    """--photon-target photon against `photondbg sim boot` standing in for a Photon on the LAN
    (HTTP port, console as socket://, the relay commands)."""
    import sys

    from photondbg.ports import free_port

    require_tool("qemu-system-arm")
    http, console, control = free_port(), free_port(), free_port()
    root = Path(__file__).resolve().parents[2]
    board = owner.spawn(
        "sim-boot",
        [
            sys.executable,
            "-m",
            "photondbg",
            "sim",
            "boot",
            "--variant",
            "all",
            "--port",
            str(http),
            "--console-port",
            str(console),
            "--control-port",
            str(control),
            "--out",
            str(tmp_path / "board"),
        ],
        cwd=root,
    )
    import time

    end = time.monotonic() + 60
    while "serving:" not in board.log_path.read_text() and time.monotonic() < end:
        time.sleep(0.2)
    netcut = f"{sys.executable} -m photondbg sim netcut --control 127.0.0.1:{control}"
    pytester.makepyfile("""
        def test_lan_board(photon):
            assert photon.kind == "photon"
            assert photon.get("/")[0] == 200
            mark = len(photon.lines)
            photon.netcut()
            assert photon.wait_for(r"^@net wifi=0", 15, start=mark) is not None
            photon.restore()
            photon.wait_serving(20)
    """)
    result = pytester.runpytest(
        "--photon-target",
        "photon",
        "--photon-host",
        "127.0.0.1",
        "--photon-port",
        str(http),
        "--photon-serial",
        f"socket://127.0.0.1:{console}",
        "--photon-netcut-cmd",
        f"{netcut} cut",
        "--photon-netrestore-cmd",
        f"{netcut} restore",
        "-p",
        "no:cacheprovider",
        *NO_LABGRID,
    )
    result.assert_outcomes(passed=1)
