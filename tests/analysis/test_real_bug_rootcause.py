"""The analysis on the real thing: a capture of the multi-server app, variant none (the 0.6.x
socket layer), on the simulated Photon names the stale ``clients[]`` entry the fault came
through. The crash is not scheduled (it needs freed memory to be reused): bounded time-out."""

from __future__ import annotations

import re

from support import require_tool


def test_capture_of_variant_none_names_the_stale_clients_entry(tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from photondbg.capture.engine import CaptureRequest, run

    r = run(CaptureRequest(seed=1, timeout=150, follow=0.0, out=tmp_path / "captures"))
    assert r.outcome in ("fault", "lockup"), r.report.get("scenario")
    rc = r.report["root_cause"]
    assert rc["kind"] == "use-after-free", rc
    heap = rc["heaps"][0]
    assert not heap["corrupt"], heap["problems"]
    assert rc["culprit"] is not None
    for path in rc["culprit"]["candidates"]:
        assert re.search(r"clients\[\d+\]$", path), path
    stale = next(d for d in rc["dangling"] if d["path"] == rc["culprit"]["path"])
    assert stale["type"].startswith("tcp_server_client_t")
    assert stale["block"]["state"] == "free" or "reused" in stale["reason"]
    md = (r.capdir / "report.md").read_text()
    assert "## Root cause" in md and "use-after-free" in md


def test_track_heap_builds_the_traced_firmware_and_reads_its_ring(tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from photondbg.capture.engine import CaptureRequest, run

    r = run(
        CaptureRequest(seed=1, timeout=150, follow=0.0, out=tmp_path / "captures", track_heap=True)
    )
    assert r.report["target"]["elf"].endswith("multi-server-none-htrace/multi-server.elf")
    assert r.report["heap_track"]["method"] == "ring"
    assert r.outcome in ("fault", "lockup"), r.report.get("scenario")
    rc = r.report["root_cause"]
    assert rc["kind"] == "use-after-free", rc["summary"]
    assert "trace ring" in rc["heap_track_source"]
    for d in rc["dangling"]:  # whatever the ring still holds is consistent with the pointer
        if d.get("allocated_by"):
            assert d["allocated_by"]["ptr"] == d["value"]
            assert d["allocated_by"]["size"] == d["type_size"]
            assert d["freed_by"]["ptr"] == d["value"]
            assert d["freed_by"]["n"] > d["allocated_by"]["n"]
