"""`photondbg report`: Markdown, JSON and one self-contained HTML page rendered by headless
Chromium (what shows is read back from the DOM), `--check` of the ELF, and a capture's own
`reproduce.rerun` command run again giving the same fault."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from support import require_tool

CHROMIUM_TIMEOUT = 180  # a loaded 2-core machine


def cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "photondbg", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def chromium_dom(page) -> str:
    """The DOM after Chromium loaded and laid out the page (nothing fetched: no network)."""
    chromium = require_tool("chromium")
    res = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-extensions",
            "--no-first-run",
            "--dump-dom",
            f"file://{page}",
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def visible_text(dom: str) -> str:
    text = re.sub(r"<style.*?</style>", "", dom, flags=re.DOTALL)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", text).replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")


def assert_self_contained(html: str) -> None:
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "url(" not in html


def test_html_page_shows_fault_and_backtrace_in_chromium(fault_elves, capture):
    r = capture(fault_elves["deep_chain"])
    res = cli("report", r.capdir, "--format", "html")
    assert res.returncode == 0, res.stderr
    page = r.capdir / "report.html"
    assert res.stdout.strip() == str(page)
    html = page.read_text()
    assert_self_contained(html)
    shown = visible_text(chromium_dom(page))
    f = r.report["fault"]
    assert f"Fault: {f['kind']}" in shown
    assert "UNDEFINSTR: undefined instruction" in shown
    for fr in r.report["backtrace"]:
        assert fr["function"] in shown
    # backtrace with source lines: the faulting line of deep_chain.c
    assert 'depth_seen = 6; __asm volatile("udf #6");' in shown
    assert "Timeline" in shown and "Reproduce" in shown and "capture-fault" in shown


def test_markdown_and_json(fault_elves, capture):
    r = capture(fault_elves["bad_pc"])
    md = cli("report", r.capdir)
    assert md.returncode == 0, md.stderr
    assert "## Fault: HardFault" in md.stdout and "jump_to_garbage" in md.stdout
    assert "## Reproduce" in md.stdout and "## Timeline" in md.stdout
    assert md.stdout.strip() == (r.capdir / "report.md").read_text().strip()
    js = cli("report", r.capdir, "--format", "json")
    assert json.loads(js.stdout) == json.loads(r.report_path.read_text())


def test_check_says_whether_the_elf_matches(fault_elves, capture):
    r = capture(fault_elves["undef"])
    ok = cli("report", r.capdir, "--check")
    assert ok.returncode == 0 and ok.stdout.startswith("match:"), ok.stdout + ok.stderr
    assert cli("report", r.capdir, "--check", "--elf", fault_elves["undef"]).returncode == 0
    other = cli("report", r.capdir, "--check", "--elf", fault_elves["bad_pc"])
    assert other.returncode == 3 and other.stdout.startswith("MISMATCH:")
    gone = cli("report", r.capdir, "--check", "--elf", r.capdir / "nope.elf")
    assert gone.returncode == 2 and gone.stderr.startswith("photondbg: error: ")
    stray = cli("report", r.capdir, "--elf", fault_elves["undef"])
    assert stray.returncode == 2 and "--elf goes with --check" in stray.stderr
    bad = cli("report", r.capdir / "nope")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_memory_view_of_a_stale_object(fault_elves, capture):
    """The root-cause section names a block; the page shows that block's bytes from ram.bin
    (a root_cause written into the report here: the renderer is what is under test)."""
    r = capture(fault_elves["deep_chain"])
    rep = json.loads(r.report_path.read_text())
    ram = (r.capdir / "ram.bin").read_bytes()
    addr = rep["fault"]["registers"]["sp"]
    rep["root_cause"] = {
        "kind": "use-after-free",
        "summary": "test block",
        "dangling": [
            {
                "path": "listeners[0]->clients[3]",
                "value": addr + 8,
                "slot": 0,
                "type": "tcp_server_client_t",
                "reason": "points into a free block",
                "certain": True,
                "owner": None,
                "block": {"addr": addr, "size": 32, "state": "free", "contents_hint": "text"},
            }
        ],
        "provenance": None,
        "checked": ["heap"],
        "freed_by": None,
        "reused_by": None,
    }
    r.report_path.write_text(json.dumps(rep))
    assert cli("report", r.capdir, "--format", "html").returncode == 0
    shown = visible_text(chromium_dom(r.capdir / "report.html"))
    assert "listeners[0]->clients[3]" in shown
    off = addr - 0x20000000
    first_row = " ".join(f"{b:02x}" for b in ram[off : off + 16 - addr % 16])
    assert f"0x{addr - addr % 16:08x}" in shown and first_row in shown


def test_the_rerun_command_reproduces_the_fault(fault_elves, capture, tmp_path):
    r = capture(fault_elves["div_zero"])
    rep = r.report["reproduce"]
    argv = shlex.split(rep["rerun"])
    assert argv[:2] == ["photondbg", "capture-fault"] and "firmware.elf" in rep["rerun"]
    assert rep["tools"]["qemu-system-arm"].startswith("QEMU emulator version")
    assert rep["tools"]["gdb-multiarch"].startswith("GNU gdb")
    again = cli(*argv[1:], "--out", tmp_path / "again", "--json", timeout=300)
    assert again.returncode == 0, again.stderr
    path = json.loads(again.stdout.strip().splitlines()[-1])["report"]
    second = json.loads(Path(path).read_text())
    for key in ("vector", "faulting_pc", "faulting_symbol", "reasons", "registers"):
        assert second["fault"][key] == r.report["fault"][key], key
    assert [b["pc"] for b in second["backtrace"]] == [b["pc"] for b in r.report["backtrace"]]


def test_a_minimal_or_partial_capture_still_renders(tmp_path):
    """A capture interrupted before anything was read (status partial, outcome none, no dumps,
    no reproduce/timeline): every format renders, the page says what is missing."""
    d = tmp_path / "cap"
    d.mkdir()
    (d / "report.json").write_text(
        json.dumps(
            {
                "schema": "photondbg.capture/1",
                "status": "partial",
                "created": "2026-11-30T22:00:00Z",
                "target": {"kind": "sim", "elf": None, "elf_sha256": None, "variant": "none"},
                "outcome": "none",
                "fault": None,
                "lockup": None,
                "backtrace": [],
                "artifacts": {},
                "error": "interrupted (Ctrl-C)",
            }
        )
    )
    for fmt in ("md", "json", "html"):
        res = cli("report", d, "--format", fmt)
        assert res.returncode == 0, res.stderr
    html = (d / "report.html").read_text()
    assert_self_contained(html)
    text = visible_text(html)
    assert "partial" in text and "interrupted (Ctrl-C)" in text
    assert "no backtrace in this capture" in text
    check = cli("report", d, "--check")
    assert check.returncode == 2 and "names no ELF" in check.stderr
    rep = cli("replay", d, "--once")
    assert rep.returncode == 2 and "nothing to replay" in rep.stderr
