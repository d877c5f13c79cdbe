"""The default capture end to end: the multi-server app (variant none) on the simulated Photon,
HTTP load and WiFi cuts, until the stale ``clients[]`` pointer is called through. The crash is
not scheduled: it comes when freed memory was reused, so the time-out is generous (bounded)."""

from __future__ import annotations

import re

from support import require_tool


def test_default_capture_catches_the_stale_client_pointer(tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from photondbg.capture.engine import CaptureRequest, run
    from photondbg.capture.report import summary

    r = run(CaptureRequest(seed=1, timeout=150, follow=1.0, out=tmp_path / "captures"))
    assert r.outcome in ("fault", "lockup"), r.report.get("scenario")
    f = r.report["fault"]
    assert f["vector"] == "HardFault" and "FORCED" in {x.split(":")[0] for x in f["reasons"]}
    # the network management runs in the application thread: the fault is taken from its PSP
    assert f["exc_return"] & 4 and f["stack"] == "psp"
    names = [b["function"] for b in r.report["backtrace"]]
    # the stale pointer is used in the server's walk over clients[] on WiFi loss, in the
    # application thread: the backtrace runs through the socket layer's close path to the entry
    assert "tcp_server_t::close" in names and "socket_close_all" in names
    assert names.index("tcp_server_t::close") < names.index("socket_close_all")
    assert names[-1] == "thread_start"
    assert "tcp_server_t::close" in (f["faulting_symbol"], f["caller"]["symbol"])
    assert f["caller"]["location"].startswith("platform/socket_hal.cpp:")
    # a garbage address from freed memory faults where silicon would: through the sim's MPU,
    # and the report says that this fault class is the simulator's
    kinds = {x.split(":")[0] for x in f["reasons"]}
    if "DACCVIOL" in kinds:
        assert "unmapped-access-mpu" in {a["id"] for a in r.report["sim_artefacts"]}
        assert "sim: unmapped access modelled as MemManage via MPU" in summary(r.report, r.capdir)
    # photondbg's exact PSP reading is the stack pointer the firmware's own handler used
    serial = (r.capdir / "serial.log").read_text(errors="replace")
    own = re.search(r"@panic code=\d+ .* sp=0x([0-9a-f]{8}) exc=0x([0-9a-f]{8})", serial)
    if own:   # the panic line comes once the capture lets the firmware run on (follow)
        assert int(own.group(1), 16) == f["stack_pointers"]["psp"]
        assert int(own.group(2), 16) == f["exc_return"]
    cuts = [e for e in r.report["scenario"]["events"] if e["name"] == "cut"]
    assert cuts, "the fault must come with a WiFi cut"
    assert (r.capdir / "serial.log").read_text().count("@boot") >= 1
