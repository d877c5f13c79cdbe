"""Capture on the simulated Photon's own runtime (firmware/platform: newlib-nano heap, the
preemptive scheduler in FreeRTOS 7.5.2's layout, the 0.6.x fault path), with a test-fixture
app whose extra thread calls through a pointer in freed-and-reused heap memory
(tests/firmware/platform_apps/thread-fault). Expected values come from the firmware itself:
its HardFault path prints the stack pointer it used (`@panic ... sp=0x... exc=0x...`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from photondbg.capture.elfinfo import ElfInfo
from photondbg.paths import FIRMWARE

APPDIR = Path(__file__).resolve().parents[1] / "firmware" / "platform_apps" / "thread-fault"
PANIC_LINE = re.compile(r"@panic code=(\d+) .*? sp=0x([0-9a-f]{8}) exc=0x([0-9a-f]{8})")


def build_app(name: str, build: Path) -> Path:
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(FIRMWARE),
            f"APP={name}",
            f"APPDIR={APPDIR.parent / name}",
            f"BUILD={build}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return build / f"{name}-none" / f"{name}.elf"


@pytest.fixture(scope="module")
def thread_fault_elf(tmp_path_factory) -> Path:
    return build_app("thread-fault", tmp_path_factory.mktemp("platform-build"))


@pytest.fixture(scope="module")
def captured(thread_fault_elf, tmp_path_factory):
    from photondbg.capture.engine import CaptureRequest, run

    # follow: a bound; the release build's panic resets the core after two SOS rounds
    return run(
        CaptureRequest(
            elf=thread_fault_elf,
            scenario="none",
            variant=None,
            timeout=60,
            follow=60,
            out=tmp_path_factory.mktemp("captures"),
        )
    )


def test_psp_equals_what_the_firmware_recorded(captured):
    f = captured.report["fault"]
    assert captured.outcome == "fault" and f["stack"] == "psp"
    m = PANIC_LINE.search((captured.capdir / "serial.log").read_text(errors="replace"))
    assert m, "the firmware's @panic line is missing from serial.log"
    assert int(m.group(1)) == 1  # HardFault
    assert f["stack_pointers"]["psp"] == int(m.group(2), 16) == f["stack_pointer"]
    assert f["exc_return"] == int(m.group(3), 16) == 0xFFFFFFFD
    assert f["stack_pointers"]["method"] == "mrs-stub" and f["stack_pointers"]["restored"]
    assert [e["kind"] for e in captured.report["after_fault_events"]] == ["panic", "reset"]


def test_every_platform_thread_listed(captured, thread_fault_elf):
    threads = {t["name"]: t for t in captured.report["threads"]}
    assert set(threads) == {"worker", "app_thread", "IDLE"}
    worker = threads["worker"]
    assert worker["current"] and worker["state"] == "running"
    assert worker["sp"] == captured.report["fault"]["stack_pointers"]["psp"]
    assert [t["current"] for t in threads.values()].count(True) == 1
    info = ElfInfo(thread_fault_elf)
    heap = (info.symbol("__heap_start__").address, info.symbol("__heap_end__").address)
    for t in threads.values():
        assert heap[0] <= t["stack_lo"] < t["stack_hi"] <= heap[1]  # stacks come from malloc
        assert heap[0] <= t["tcb"] < heap[1]
        assert t["stack_lo"] <= t["sp"] < t["stack_hi"]
        assert t["high_water"] + t["unused"] == t["stack_hi"] - t["stack_lo"]
        assert t["high_water"] > 0
    app = threads["app_thread"]  # the newlib-nano chunk that holds its 6144-byte stack
    assert 6144 <= app["stack_hi"] - app["stack_lo"] < 6144 + 16
    assert {t["stack_bounds_source"] for t in threads.values()} == {"heap block (newlib-nano)"}
    kernel = captured.report["rtos"]
    assert (kernel["kernel"], kernel["port"], kernel["state_item"]) == (
        "FreeRTOS",
        "ARM_CM3",
        "xGenericListItem",
    )
    assert kernel["current_task"] == "worker" and kernel["tasks"] == kernel["counted"] == 3
    assert threads["app_thread"]["state"] == "blocked"  # waiting for the network


def test_backtraces_through_thread_stacks_to_the_entry(captured):
    bt = {t["name"]: [b["function"] for b in t["backtrace"]] for t in captured.report["threads"]}
    assert bt["worker"][1:] == ["close_stale", "worker_main"]
    assert bt["worker"][0] is None  # the garbage PC itself
    assert bt["app_thread"][-2:] == ["system_process", "app_setup_and_loop"]
    assert bt["IDLE"] == ["idle_main"]
    stops = {t["name"]: t["backtrace_stop"] for t in captured.report["threads"]}
    assert all("thread_exit" in stop for stop in stops.values()), stops
    f = captured.report["fault"]
    assert f["faulting_pc"] == 0xAEAEAEAE & ~1  # from the reused heap block
    assert [b["function"] for b in captured.report["backtrace"]] == bt["worker"]


def test_report_md_shows_threads_and_stack_pointers(captured):
    md = (captured.capdir / "report.md").read_text()
    psp = captured.report["fault"]["stack_pointers"]["psp"]
    assert f"PSP 0x{psp:08x} (read by mrs-stub)" in md
    assert "## Threads" in md and "| worker (current) | running |" in md
    assert "app_thread: `os_event_take`" in md
    assert "panic (panic_) -> reset (Reset_Handler)" in md


def test_typed_model_reads_the_sections(captured):
    from photondbg.capture.model import AfterFault, CaptureReport, StackPointers, Thread

    rep = CaptureReport.load(captured.capdir)
    assert isinstance(rep.fault.stack_pointers, StackPointers)
    assert rep.fault.stack_pointers.restored is True and rep.fault.stack_pointers.extra == {}
    assert all(isinstance(t, Thread) and t.extra == {} for t in rep.threads)
    assert [type(e) for e in rep.after_fault_events] == [AfterFault, AfterFault]
    assert rep.to_dict()["threads"] == captured.report["threads"]


def test_cli_summary_names_the_stack_and_the_threads(captured):
    from photondbg.capture.report import summary

    text = summary(captured.report, captured.report_path)
    psp = captured.report["fault"]["stack_pointers"]["psp"]
    assert f"  on   PSP 0x{psp:08x}, thread worker (read by mrs-stub)" in text
    assert "  threads: worker (running), app_thread (blocked, in os_event_take)" in text


def test_panic_in_a_thread_unwinds_from_the_panic_entry(tmp_path_factory):
    """operator new panics OutOfHeap from the worker thread (thread mode, PSP): no fault, the
    capture stops at panic_ and the running thread is unwound from the core's registers,
    through a noreturn call at the very end of operator new."""
    from photondbg.capture.engine import CaptureRequest, run

    elf = build_app("thread-panic", tmp_path_factory.mktemp("platform-build"))
    r = run(
        CaptureRequest(
            elf=elf,
            scenario="none",
            variant=None,
            timeout=60,
            follow=0,
            out=tmp_path_factory.mktemp("captures"),
        )
    )
    p = r.report["panic"]
    assert r.outcome == "panic" and p["code"] == 8 and p["name"] == "OutOfHeap"
    assert p["stack_pointers"]["psp"] == p["registers"]["sp"]  # Thread mode on the PSP
    assert p["stack_pointers"]["control"] & 2  # CONTROL.SPSEL
    worker = next(t for t in r.report["threads"] if t["name"] == "worker")
    assert worker["current"] and worker["sp"] == p["registers"]["sp"]
    assert [b["function"] for b in worker["backtrace"]] == [
        "panic_",
        "operator new",
        "operator new[]",
        "allocate_buffers",
        "worker_main",
    ]
    assert "thread_exit" in worker["backtrace_stop"]
    # GDB's own backtrace of the panic, cut at the thread's start like the thread's
    assert [b["function"] for b in r.report["backtrace"]] == [
        b["function"] for b in worker["backtrace"]
    ]
