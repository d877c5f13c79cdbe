"""The real multi-server bug (variant none) captured on the simulated Photon, QEMU stopped, then
replayed: GDB's backtrace through the process stack, the registers, the memory at the stacked
frame and the `fault` command equal what the live capture session recorded; the HTML page of the
capture shows the fault and its backtrace in Chromium. Which close-path call faults depends on
what reused the freed memory (tests/capture/test_real_bug.py), so no one signature is assumed."""

from __future__ import annotations

import re

from replay_support import FAULT_CMD, by_command, gdb_batch
from support import require_tool, watched_children
from test_report_render import chromium_dom, cli, visible_text

from photondbg.replay import image
from photondbg.replay.server import ReplayServer


def frame_pcs(bt: str) -> list[tuple[int, str]]:
    """(pc, function) of GDB's frames after '<signal handler called>'."""
    lines = bt.splitlines()
    start = next(i for i, ln in enumerate(lines) if "<signal handler called>" in ln) + 1
    out = []
    for ln in lines[start:]:
        m = re.match(r"#\d+\s+(?:(0x[0-9a-f]+) in )?(\S+)", ln)
        if m:
            out.append((int(m.group(1), 16) if m.group(1) else None, m.group(2)))
    return out


def test_real_bug_replays_as_it_was_captured(tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from photondbg.capture.engine import CaptureRequest, run

    r = run(CaptureRequest(seed=1, timeout=150, out=tmp_path / "captures"))
    assert r.outcome in ("fault", "lockup"), r.report.get("scenario")
    assert not [c for _, c in watched_children() if "qemu" in c]
    f = r.report["fault"]
    img = image.load(r.capdir)
    sp = f["stack_pointer"]
    cmds = [FAULT_CMD, "fault", "bt", "info registers", f"x/16x 0x{sp:x}", "p/x $psp"]
    with ReplayServer(img).start(once=True) as srv:
        out = by_command(gdb_batch(img.elf, srv.port, cmds))
    # the `fault` command: the live session's text up to the stacked frame, which the live
    # GDB could not read (QEMU has no PSP) and the replay shows as the capture found it
    # (unless photondbg handed the live GDB the PSP it read: then the whole text is the same,
    # but for the line saying where that PSP came from)
    live = [
        ln
        for ln in (r.capdir / "gdb-fault.txt").read_text().strip().splitlines()
        if not ln.startswith("PSP ")
    ]
    if any(ln.startswith("Stacked frame at") for ln in live):
        assert out["fault"].splitlines() == live
    cut = next(i for i, ln in enumerate(live) if "stacked frame" in ln.lower())
    assert out["fault"].splitlines()[:cut] == live[:cut]
    for name, value in (f["frame"] or {}).items():
        assert re.search(rf"^\s+{name}\s+= 0x{value:08x}$", out["fault"], re.MULTILINE), name
    # registers as captured
    for name, value in f["registers"].items():
        assert re.search(rf"^{name}\s+0x{value:x}\b", out["info registers"], re.MULTILINE), name
    # the stacked frame's memory as dumped
    ram = (r.capdir / "ram.bin").read_bytes()
    words = [
        int(w, 16)
        for ln in out[f"x/16x 0x{sp:x}"].splitlines()
        for w in ln.split(":", 1)[1].split()
    ]
    assert words == [
        int.from_bytes(ram[sp - 0x20000000 + 4 * i :][:4], "little") for i in range(16)
    ]
    # bt: GDB unwinds through the PSP frame to the same calls the capture recorded
    got = frame_pcs(out["bt"])
    want = [(b["pc"], b["function"]) for b in r.report["backtrace"]]
    names = [fn for _, fn in got]
    assert "app_setup_and_loop" in names and any(n.endswith("::close") for n in names), names
    # the capture's frames, in order, among GDB's (which adds the inlined ones, without pc)
    gdb_pcs = [p for p, _ in got if p is not None]
    it = iter(gdb_pcs)
    assert all(pc in it for pc, _ in want[1:]), (want, got)
    for _, fn in want[1:]:
        assert fn.rsplit("::", 1)[-1] in out["bt"], fn
    # every other thread, from the context its switch saved, as the capture listed it
    others = [t for t in r.report.get("threads") or [] if not t.get("current")]
    assert others, "the sim firmware runs more than one thread"
    tcmds = ["info threads"] + [
        c for n, _ in enumerate(others, 2) for c in (f"thread {n}", f"bt {n}")
    ]
    with ReplayServer(img).start(once=True) as srv:
        tout = by_command(gdb_batch(img.elf, srv.port, tcmds))
    for n, t in enumerate(others, 2):
        assert f"{t['name']} ({t['state']})" in tout["info threads"]
        got = [
            ln.split(" in ")[-1].split(" (")[0].split()[-1]
            for ln in tout[f"bt {n}"].splitlines()
            if ln.startswith("#")
        ]
        want = [b["function"] for b in t["backtrace"] if b.get("function")]
        assert got[: len(want)] == want[: len(got)] and got, (got, want)
    # the timeline: a WiFi cut, then the fault, on one clock; the serial tail is the console's
    events = r.report["timeline"]["events"]
    t_fault = next(e["t"] for e in events if e["event"] == "fault")
    assert any(e["event"] == "cut" and e["t"] <= t_fault for e in events), events
    tail = r.report["timeline"]["serial_tail"]
    assert tail and tail == (r.capdir / "serial.log").read_text().splitlines()[-len(tail) :]
    # the page
    assert cli("report", r.capdir, "--format", "html").returncode == 0
    shown = visible_text(chromium_dom(r.capdir / "report.html"))
    for fr in r.report["backtrace"]:
        assert (fr["function"] or "??") in shown, fr
    assert f"Fault: {f['kind']}" in shown and "Timeline" in shown
    for d in (r.report.get("root_cause") or {}).get("dangling") or []:  # the memory view
        view = shown.split("Memory of the stale object", 1)[1]
        assert d["path"] in view and f"block 0x{d['block']['addr']:08x}" in view
