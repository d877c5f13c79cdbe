"""The default capture end to end: the multi-server app (variant none) on the simulated Photon,
HTTP load and WiFi cuts, until the stale ``clients[]`` pointer is called through. The crash is
not scheduled: it comes when freed memory was reused, so the time-out is generous (bounded)."""

from __future__ import annotations

from support import require_tool


def test_default_capture_catches_the_stale_client_pointer(tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from photondbg.capture.engine import CaptureRequest, run

    r = run(CaptureRequest(seed=1, timeout=150, follow=1.0, out=tmp_path / "captures"))
    assert r.outcome in ("fault", "lockup"), r.report.get("scenario")
    f = r.report["fault"]
    assert f["vector"] == "HardFault" and "FORCED" in {x.split(":")[0] for x in f["reasons"]}
    # the network management runs in the application thread: the fault is taken from its PSP
    assert f["exc_return"] & 4 and f["stack"] == "psp"
    names = [b["function"] for b in r.report["backtrace"]]
    # the call through the stale pointer, from the server's walk over clients[] on WiFi loss.
    # QEMU's stub has no $psp, so GDB's own unwinder stops at the PSP exception frame; the
    # unwinding through thread stacks (socket_close_all and up) is capture's (contract C).
    assert "tcp_server_t::close" in names
    if "socket_close_all" in names:
        assert names.index("tcp_server_t::close") < names.index("socket_close_all")
    assert f["caller"]["symbol"] == "tcp_server_t::close"
    assert f["caller"]["location"].startswith("platform/socket_hal.cpp:")
    cuts = [e for e in r.report["scenario"]["events"] if e["name"] == "cut"]
    assert cuts, "the fault must come with a WiFi cut"
    assert (r.capdir / "serial.log").read_text().count("@boot") >= 1
