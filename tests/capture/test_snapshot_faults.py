"""The pytest plugin's capture of a board a test drives (capture/snapshot.py) reads a fault as
``capture-fault`` does (capture/faultread.py): on a stacking fault the exception wrote no frame,
so the snapshot reports "no frame", no backtrace from the stale stack, and the ``stack_check``
finding; checked against the ground truth each firmware records at its handler's entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import require_tool
from truth import ground_truth

from photondbg.capture.snapshot import snapshot
from photondbg.dut import SimDut

MACHINE = "netduino2"
pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("name", "stack", "exc_return", "of"),
    [
        ("stack_guard", "msp", 0xFFFFFFF9, "main stack"),
        ("thread_guard", "psp", 0xFFFFFFFD, "thread stack"),
    ],
)
def test_snapshot_of_a_stacking_fault_has_no_frame(
    fault_elves, owner, tmp_path, name, stack, exc_return, of
):
    require_tool("gdb-multiarch")
    elf = fault_elves[name]
    t = ground_truth(elf, MACHINE, extra=["depth", "guard_base", "guard_end"])
    dut = SimDut(elf, name, owner, tmp_path / "logs", debug=True)
    dut._boot()  # QEMU + GDB, fault handlers armed, running (a bare firmware: no bridge)
    assert dut.wait_halt(30) == "MemManage_Handler"  # the armed vector's breakpoint
    capdir = snapshot(dut, tmp_path / "caps", why="the test gave up")
    report = json.loads((capdir / "report.json").read_text())
    assert report["status"] == "complete" and report["outcome"] == "fault", report.get("error")
    assert report["trigger"]["kind"] == "test-failure"
    f, sc = report["fault"], report["stack_check"]
    assert f["vector"] == "MemManage" and f["vector_number"] == t["ipsr"] == 4
    assert {r.split(":")[0] for r in f["reasons"]} == {
        "DACCVIOL",
        "MSTKERR",
        "MMARVALID",
        "no frame",
    }
    assert f["exc_return"] == t["exc_return"] == exc_return and f["stack"] == stack
    assert f["stack_pointer"] == t[stack] == sc["sp"]
    assert f["stack_pointers"]["msp"] == t["msp"]
    # nothing of the interrupted code is read from the stale stack
    assert f["frame"] is None and f["frame_error"].startswith("no frame: MSTKERR: ")
    assert f["faulting_pc"] is None and f["caller"] is None and f["instruction"] is None
    assert report["backtrace"] == [] and report["backtrace_method"] == "none"
    assert report["backtrace_source"].startswith("none: no exception frame (MSTKERR)")
    assert sc["frame"] == "not written" and sc["findings"][0].startswith("no frame: MSTKERR: ")
    assert sc["position"] == "in-guard" and sc["overflow"] == t["guard_end"] - t[stack]
    assert (sc["guard"]["base"], sc["guard"]["end"]) == (t["guard_base"], t["guard_end"])
    assert sc["guard"]["of"] == of
    count = t["depth"] - 1
    assert sc["recursion"] == {"function": "recurse", "count": count, "unbounded": True}
    assert f"recurse() appears {count} times: unbounded recursion" in sc["findings"]
    assert "## Stack check" in (capdir / "report.md").read_text()


def test_plugin_captures_a_stacking_fault_when_the_test_fails(fault_elves, pytester, tmp_path):
    """Through the plugin's failure hook: a board (stack_guard under GDB, as the ``photon``
    fixture sets one up with ``--photon-debug``) crashes, the test waits for it and fails;
    the capture the plugin writes says "no frame" and carries the stack_check finding."""
    require_tool("gdb-multiarch")
    elf, caps = fault_elves["stack_guard"], tmp_path / "caps"
    pytester.makepyfile(f"""
        from pathlib import Path

        import pytest

        from photondbg.dut import SimDut
        from photondbg.procs import ProcessOwner

        @pytest.fixture
        def board(request, tmp_path):
            owner = ProcessOwner(logdir=tmp_path)
            dut = SimDut(Path(r"{elf}"), "stack_guard", owner, tmp_path, debug=True)
            request.node._photon_dut = dut  # as the photon fixture does
            request.node._photon_captures = Path(r"{caps}")
            try:
                dut._boot()  # a bare firmware: no bridge, no server to wait for
                yield dut
            finally:
                owner.close()

        def test_crash(board):
            assert board.wait_halt(30) == "MemManage_Handler"
            assert False, "the board crashed"
    """)
    reprec = pytester.inline_run("-p", "no:cacheprovider", "-p", "no:labgrid")
    reprec.assertoutcome(failed=1)
    failed = next(
        r for r in reprec.getreports("pytest_runtest_logreport") if r.when == "call" and r.failed
    )
    capdir = Path(dict(failed.user_properties)["photon_capture"])
    report = json.loads((capdir / "report.json").read_text())
    assert report["status"] == "complete" and report["outcome"] == "fault"
    assert report["stop"]["reason"] == "breakpoint-hit"
    f, sc = report["fault"], report["stack_check"]
    assert f["frame"] is None and f["frame_error"].startswith("no frame: MSTKERR: ")
    assert report["backtrace"] == [] and sc["position"] == "in-guard"
    assert sc["recursion"]["function"] == "recurse" and sc["recursion"]["unbounded"]
    summary = dict(failed.sections)["photon capture"]
    assert "fault: MemManage at ??" in summary and "why no frame: MSTKERR" in summary
