"""The default capture end to end: the multi-server app (variant none) on the simulated Photon,
HTTP load and WiFi cuts, until garbage left in a freed ``tcp_server_client_t`` (the stale
``clients[]`` entry of Device OS 0.6.4) is used on the socket layer's close path. The crash is not
scheduled: it comes when freed memory was reused, so the time-out is generous (bounded).

What must stay true is not one signature: the backtrace passes through the socket layer (its
close path, or the WICED/LwIP model the garbage was handed to) to the thread's entry, and the
faulting access is a garbage address or the PC left the code."""

from __future__ import annotations

import re

from support import require_tool

# the close path of v0.6.4 socket_close_all() down into our WICED/LwIP model
CLOSE_PATH = {
    "socket_close_all",
    "SocketList::close_all",
    "socket_t::dispose",
    "socket_t::close",
    "socket_t::~socket_t",
    "tcp_server_t::close",
    "tcp_server_client_t::close",
    "tcp_server_t::disconnect",
    "wiced_tcp_disconnect",
    "wiced_tcp_server_disconnect_socket",
    "wiced_tcp_server_stop",
    "wiced_packet_delete",
    "netconn_delete",
    "netbuf_delete",
    "pbuf_free",
    "tcp_packet_t::dispose_packet",
}
SOCKET_LAYER = ("platform/socket_hal.cpp", "platform/lwip_model.cpp")
FLASH = range(0x08000000, 0x08100000)
SRAM = range(0x20000000, 0x20020000)


def test_default_capture_catches_garbage_from_a_freed_client(tmp_path):
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
    frames = r.report["backtrace"]
    names = {b["function"] for b in frames} | {f.get("faulting_symbol")}
    files = {str(b.get("file") or "") for b in frames} | {str(f.get("faulting_location") or "")}
    assert CLOSE_PATH & names or any(x.startswith(SOCKET_LAYER) for x in files), (names, files)
    # to the application thread's entry (xTaskCreate starts it directly)
    assert [b["function"] for b in frames][-1] == "app_setup_and_loop", frames
    addr, pc = f.get("fault_address"), f.get("faulting_pc")
    assert (addr is not None and addr not in SRAM and addr not in FLASH) or (
        pc is not None and (pc & ~1) not in FLASH
    ), f"no garbage access or PC: {f}"
    # a garbage address faults where silicon would: through the sim's MPU, and the report says
    # that this fault class is the simulator's
    kinds = {x.split(":")[0] for x in f["reasons"]}
    if kinds & {"DACCVIOL", "IACCVIOL"}:
        assert "unmapped-access-mpu" in {a["id"] for a in r.report["sim_artefacts"]}
        assert "sim: unmapped access modelled as MemManage via MPU" in summary(r.report, r.capdir)
    # photondbg's exact PSP reading is the stack pointer the firmware's own handler used
    serial = (r.capdir / "serial.log").read_text(errors="replace")
    own = re.search(r"@panic code=\d+ .* sp=0x([0-9a-f]{8}) exc=0x([0-9a-f]{8})", serial)
    if own:  # the panic line comes once the capture lets the firmware run on (follow)
        assert int(own.group(1), 16) == f["stack_pointers"]["psp"]
        assert int(own.group(2), 16) == f["exc_return"]
    cuts = [e for e in r.report["scenario"]["events"] if e["name"] == "cut"]
    assert cuts, "the fault must come with a WiFi cut"
    assert serial.count("@boot") >= 1
