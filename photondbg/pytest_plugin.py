"""photondbg's pytest plugin (entry point ``pytest11``): a booted Photon as a fixture.

    def test_server_comes_back_after_a_wifi_cut(photon):
        assert photon.get("/")[0] == 200
        photon.netcut("uplink")
        photon.restore()
        photon.wait_serving(30)

The ``photon`` fixture is a :class:`photondbg.dut.Dut`: ``url``, ``get(path)``, ``lines`` and
``wait_for(pattern)`` on the console, ``netcut(kind)`` / ``restore()``, ``reset()``. Which board:

- ``--photon-target sim`` (default): the simulated Photon, built from ``--photon-app`` and
  ``--photon-variant`` (or ``--photon-elf``), one QEMU + bridge per test on 127.0.0.1.
- ``--photon-target photon``: a board on the LAN (``--photon-host``, ``--photon-port``,
  ``--photon-serial``, ``--photon-netcut-cmd`` / ``--photon-netrestore-cmd``,
  ``--photon-reset-cmd``).

With ``--photon-debug`` (sim) the board runs under gdb-multiarch with every fault vector armed;
when a test using it fails, the core is stopped and a capture (report.json, report.md, RAM dump,
logs) is written under ``--photon-captures``; its path goes into the test report
(``user_properties`` as ``photon_capture`` and a "photon capture" section; ``--junitxml`` keeps
both). Each option also reads from the ini file (``photon_target = sim`` ...) and a test can
override any of them with ``@pytest.mark.photon(app=..., variant=..., debug=...)``: marker,
then command line, then ini, then the default. See docs/pytest-plugin.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

OPTIONS = {
    # name: (default, help)
    "target": ("sim", "sim: the simulated Photon (QEMU); photon: a board on the LAN"),
    "app": ("multi-server", "sim: the app to build (multi-server, simple-server)"),
    "variant": ("all", "sim: the socket-layer variant to build (none, clients, all)"),
    "elf": (None, "sim: run this ELF instead of building app/variant"),
    "debug": (False, "sim: attach gdb-multiarch, arm the fault vectors, capture on failure"),
    "captures": ("captures", "where captures of failing tests go"),
    "host": (None, "photon: the board's address on the LAN"),
    "port": (None, "photon: the board's HTTP port"),
    "serial": (None, "photon: its console, a serial port or pyserial URL"),
    "netcut_cmd": (None, "photon: command that cuts the AP uplink"),
    "netrestore_cmd": (None, "photon: command that restores it"),
    "reset_cmd": (None, "photon: command that resets the board"),
}
FLAGS = ("debug",)
TARGETS = ("sim", "photon")
CONSOLE_TAIL = 40  # console lines put into a failing test's report


def pytest_addoption(parser):
    group = parser.getgroup("photondbg", "photondbg: a booted Photon as a fixture")
    for name, (default, help_) in OPTIONS.items():
        flag = "--photon-" + name.replace("_", "-")
        if name in FLAGS:
            group.addoption(flag, action="store_true", default=None, help=help_)
            parser.addini(f"photon_{name}", help_, type="bool", default=default)
        elif name == "target":
            group.addoption(flag, choices=TARGETS, default=None, help=help_)
            parser.addini(f"photon_{name}", help_, default=default)
        else:
            group.addoption(flag, default=None, help=help_)
            parser.addini(f"photon_{name}", help_, default=default)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "photon(**options): photondbg board options for this test (app, variant, "
        "elf, debug, target, ...), over the command line and ini file",
    )


def option(request, name: str):
    """One option's value: the test's ``photon`` marker, the command line, the ini, the default."""
    marker = request.node.get_closest_marker("photon")
    if marker is not None and name in marker.kwargs:
        return marker.kwargs[name]
    value = request.config.getoption("photon_" + name)
    if value is not None:
        return value
    value = request.config.getini("photon_" + name)
    return value if value not in ("", None) else OPTIONS[name][0]


@pytest.fixture
def photon(request, tmp_path_factory):
    """A booted board (a :class:`photondbg.dut.Dut`), stopped after the test."""
    from photondbg.procs import ProcessOwner

    target = option(request, "target")
    if target not in TARGETS:
        pytest.fail(f"--photon-target {target!r}: choose sim or photon", pytrace=False)
    logdir = tmp_path_factory.mktemp(f"photon-{_safe(request.node.name)}")
    owner = ProcessOwner(logdir=logdir)
    try:
        dut = _sim(request, owner, logdir) if target == "sim" else _lan(request, owner, logdir)
        request.node._photon_dut = dut
        request.node._photon_captures = Path(option(request, "captures"))
        yield dut
    finally:
        owner.close()


def _sim(request, owner, logdir):
    from photondbg.dut import SimDut
    from photondbg.errors import PhotondbgError

    app = option(request, "app")
    elf = option(request, "elf")
    try:
        if elf is None:
            from photondbg import firmware

            elf = firmware.build(app=app, variant=option(request, "variant"))
        return SimDut(
            Path(elf), app, owner, logdir, debug=_truthy(option(request, "debug"))
        ).start()
    except PhotondbgError as e:
        pytest.fail(f"photon fixture: {e}", pytrace=False)


def _lan(request, owner, logdir):
    from photondbg.dut import LanDut
    from photondbg.errors import PhotondbgError
    from photondbg.photon.netcut import netcut_from_options

    host, port = option(request, "host"), option(request, "port")
    if not host or not port:
        pytest.fail("--photon-target photon needs --photon-host and --photon-port", pytrace=False)
    cut, restore = option(request, "netcut_cmd"), option(request, "netrestore_cmd")
    try:
        netcut = (
            netcut_from_options(cut, restore, ask=_no_prompt) if (cut or restore) else _NoNetCut()
        )
        return LanDut(
            owner,
            logdir,
            host=host,
            port=int(port),
            netcut=netcut,
            serial=option(request, "serial"),
            reset_cmd=option(request, "reset_cmd"),
        ).start()
    except PhotondbgError as e:
        pytest.fail(f"photon fixture: {e}", pytrace=False)


class _NoNetCut:
    def cut(self):
        pytest.fail(
            "no --photon-netcut-cmd / --photon-netrestore-cmd for this board", pytrace=False
        )

    restore = cut


def _no_prompt(text: str) -> str:
    raise EOFError


def _truthy(v) -> bool:
    return v is True or str(v).lower() in ("1", "true", "yes", "on")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    dut = getattr(item, "_photon_dut", None)
    if dut is None or report.when != "call" or not report.failed:
        return
    if dut.lines:
        report.sections.append(("photon console", "\n".join(dut.lines[-CONSOLE_TAIL:])))
    if dut.gdb is None:
        return
    try:
        capdir = dut.capture(item._photon_captures, why=f"{item.nodeid} failed")
    except Exception as e:  # noqa: BLE001 - a capture problem must not hide the failure
        report.sections.append(("photon capture", f"no capture: {type(e).__name__}: {e}"))
        return
    if capdir is not None:
        report.user_properties.append(("photon_capture", str(capdir)))
        item.user_properties.append(("photon_capture", str(capdir)))  # junitxml reads these
        report.sections.append(("photon capture", _summary(capdir)))


def _summary(capdir: Path) -> str:
    import json

    r = json.loads((capdir / "report.json").read_text())
    lines = [f"capture: {capdir}", f"outcome: {r.get('outcome')}"]
    f = r.get("fault")
    if f:
        lines.append(
            f"fault: {f.get('vector')} at {f.get('faulting_symbol') or '??'} "
            f"({f.get('faulting_location') or 'no line'})"
        )
        lines += [f"  why {why}" for why in f.get("reasons", [])]
    stop = r.get("stop") or {}
    if stop and not f:
        lines.append(f"stopped at 0x{stop.get('pc', 0):08x} {stop.get('symbol') or '??'}")
    for fr in r.get("backtrace", [])[:8]:
        lines.append(
            f"  0x{fr['pc']:08x} {fr.get('function') or '??'} "
            f"{fr.get('file') or ''}:{fr.get('line') or ''}"
        )
    return "\n".join(lines)
