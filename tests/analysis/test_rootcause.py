"""Root cause from real captures: heap walk, dangling pointers by path, provenance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PHOTONDBG = [sys.executable, "-m", "photondbg"]
HEAP = Path(__file__).resolve().parents[1] / "firmware" / "heap"


def _rc(heap_captures, name):
    r = heap_captures[name]
    assert r.outcome == "fault"
    assert "analysis" in [s["name"] for s in r.report["stages"]]
    return r.report["root_cause"]


def test_use_after_free_is_named_by_its_path(heap_captures):
    rc = _rc(heap_captures, "uaf")
    assert rc["kind"] == "use-after-free"
    assert rc["culprit"]["path"] == "listeners[0]->clients[3]"
    by_path = {d["path"]: d for d in rc["dangling"]}
    reused = by_path["listeners[0]->clients[3]"]
    assert reused["block"]["state"] == "used"
    assert "Wed, 30 Nov" in reused["block"]["contents_hint"]
    assert reused["owner"]["fields"]["port"] == 7123
    # the second stale slot points into memory that is still free
    assert by_path["listeners[0]->clients[1]"]["block"]["state"] == "free"
    assert set(by_path) == {"listeners[0]->clients[1]", "listeners[0]->clients[3]"}
    heap = rc["heaps"][0]
    assert heap["allocator"] == "newlib-nano" and not heap["corrupt"]
    assert (heap["used"], heap["free"]) == (4, 1)


def test_provenance_follows_the_loads_back_to_the_stale_slot(heap_captures):
    r = heap_captures["uaf"]
    prov = r.report["root_cause"]["provenance"]
    assert prov["kind"] == "bad-branch" and prov["register"] == "r3"
    assert prov["site"]["function"] == "close_all"
    first, second = prov["chain"][:2]
    assert first["loaded_by"]["instruction"].startswith("ldr r3, [r0, #8]")
    assert first["confirmed"] is True
    stale = next(
        d for d in r.report["root_cause"]["dangling"] if d["path"] == "listeners[0]->clients[3]"
    )
    assert first["base_value"] == stale["value"]
    assert second["address"] == stale["slot"] and second["confirmed"] is True
    md = (r.capdir / "report.md").read_text()
    assert "## Root cause" in md and "`listeners[0]->clients[3]`" in md


def test_fault_unrelated_to_the_heap_finds_nothing(heap_captures):
    rc = _rc(heap_captures, "heap_ok")
    assert rc["kind"] == "none-found"
    assert rc["dangling"] == [] and rc["culprit"] is None
    assert any("consistent" in c for c in rc["checked"])
    assert any("pointers checked" in c for c in rc["checked"])
    assert "no heap explanation" in rc["summary"]


def test_corrupt_heap_is_reported_not_followed(heap_captures):
    rc = _rc(heap_captures, "heap_corrupt")
    assert rc["kind"] == "heap-corrupt"
    problems = " ".join(rc["heaps"][0]["problems"])
    assert "0x2000beef" in problems and "not followed" in problems
    assert "0x41414141" in problems


def test_heap4_layout_walker(heap_captures):
    rc = _rc(heap_captures, "heap4_uaf")
    heap = next(h for h in rc["heaps"] if h["allocator"] == "heap_4")
    assert not heap["corrupt"] and heap["free"] == 2
    assert rc["kind"] == "use-after-free"
    assert rc["culprit"]["path"] == "listeners[0]->clients[0]"
    states = {d["path"]: d["block"]["state"] for d in rc["dangling"]}
    assert states == {"listeners[0]->clients[0]": "used", "listeners[0]->clients[2]": "free"}


def test_analyze_verb_re_renders_and_checks_its_input(heap_captures, heap_elves, tmp_path):
    capdir = heap_captures["uaf"].capdir
    out = subprocess.run(
        [*PHOTONDBG, "analyze", str(capdir), "--json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["culprit"]["path"] == "listeners[0]->clients[3]"

    def bad(*args):
        res = subprocess.run(
            [*PHOTONDBG, "analyze", *map(str, args)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 2
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("photondbg: error: ")
        assert "Traceback" not in res.stderr
        return res.stderr

    assert "not a capture directory" in bad(tmp_path)
    assert "no such ELF" in bad(capdir, "--elf", tmp_path / "missing.elf")
    assert "not the ELF" in bad(capdir, "--elf", heap_elves["heap_ok"])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "report.json").write_text((capdir / "report.json").read_text())
    (broken / "ram.bin").write_bytes((capdir / "ram.bin").read_bytes()[:1000])
    assert "truncated" in bad(broken)
    (broken / "report.json").write_text("{not json")
    assert "unreadable report" in bad(broken)


def _line_of(source, text):
    lines = (HEAP / source).read_text().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if text in line)


def test_track_heap_says_who_freed_and_who_reused(heap_elves, tmp_path):
    from photondbg.capture.engine import CaptureRequest, run

    r = run(
        CaptureRequest(
            elf=heap_elves["uaf"],
            scenario="none",
            variant=None,
            out=tmp_path,
            timeout=30.0,
            follow=0.0,
            track_heap=True,
        )
    )
    assert r.report["heap_track"]["enabled"]
    rc = r.report["root_cause"]
    assert rc["kind"] == "use-after-free"
    freed, reused = rc["freed_by"], rc["reused_by"]
    assert (freed["function"], freed["line"]) == ("main", _line_of("uaf.c", "free(s->clients[3])"))
    assert (reused["function"], reused["line"]) == (
        "main",
        _line_of("uaf.c", "date_header = malloc"),
    )
    assert reused["ptr"] == rc["dangling"][1]["value"] and reused["size"] == 24
    stale = {d["path"]: d for d in rc["dangling"]}
    first = stale["listeners[0]->clients[1]"]
    assert first["freed_by"]["line"] == _line_of("uaf.c", "free(s->clients[1])")
    assert first["reused_by"] is None  # its memory is still free
    assert first["allocated_by"]["function"] == "accept_client"
    assert "freed by `main`" in (r.capdir / "report.md").read_text()


def test_trace_ring_says_who_allocated_freed_and_reused(heap_captures):
    """The sim's instrumented build (heap_trace.c): the history comes from RAM, not GDB."""
    rc = _rc(heap_captures, "uaf_traced")
    assert rc["kind"] == "use-after-free"
    assert "trace ring" in rc["heap_track_source"]
    stale = {d["path"]: d for d in rc["dangling"]}
    reused = stale["listeners[0]->clients[3]"]
    assert reused["allocated_by"]["function"] == "accept_client"
    assert reused["freed_by"]["line"] == _line_of("uaf.c", "free(s->clients[3])")
    # reused by a malloc of the same size: the later lifetime at that address
    assert reused["reused_by"]["line"] == _line_of("uaf.c", "date_header = malloc")
    assert rc["freed_by"] == reused["freed_by"] and rc["reused_by"] == reused["reused_by"]
    free = stale["listeners[0]->clients[1]"]
    assert free["freed_by"]["line"] == _line_of("uaf.c", "free(s->clients[1])")
    assert free["reused_by"] is None


def test_root_cause_section_has_its_model(heap_captures):
    from photondbg.capture.model import CaptureReport, DanglingPointer, RootCause

    report = json.loads((heap_captures["uaf_traced"].capdir / "report.json").read_text())
    model = CaptureReport.from_dict(report)
    assert model.to_dict() == report
    rc = model.root_cause
    assert isinstance(rc, RootCause) and isinstance(rc.dangling[0], DanglingPointer)
    assert rc.freed_by.function == "main" and rc.dangling[0].block.state in ("used", "free")
    assert rc.provenance.chain[0].register == "r3"
