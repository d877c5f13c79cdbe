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
