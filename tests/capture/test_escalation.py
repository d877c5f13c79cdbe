"""After the first fault the core runs on (``follow``): a panic and then a lock-up are recorded
after it, the first fault is kept, and the lock-up sits beside it (DESIGN §5: "next to the
first fault if it was caught"). tests/firmware/faults/lockup_after_panic.c: thread code on the
PSP faults, HardFault panics, panic_ calls a log callback the bug overwrote -> lock-up."""

from __future__ import annotations

from photondbg.capture.elfinfo import ElfInfo

GARBAGE = 0xAE094710  # the address the callback was overwritten with (Thumb bit dropped)


def ram_word(capdir, elf, name) -> int:
    addr = ElfInfo(elf).symbol(name).address
    data = (capdir / "ram.bin").read_bytes()
    return int.from_bytes(data[addr - 0x20000000 : addr - 0x20000000 + 4], "little")


def test_lockup_recorded_beside_the_first_fault(fault_elves, capture):
    elf = fault_elves["lockup_after_panic"]
    r = capture(elf, follow=10.0)  # a bound, not a wait: the lock-up ends the run
    rep = r.report
    assert r.outcome == "lockup" and rep["status"] == "complete"
    f = rep["fault"]  # the first fault, as caught
    assert f["faulting_symbol"] == "corrupt_then_fault" and f["instruction"] == "udf #6"
    assert f["stack"] == "psp" and f["stack_pointers"]["method"] == "mrs-stub"
    recorded = ram_word(r.capdir, elf, "psp_before_fault")
    assert f["stack_pointers"]["psp"] == (recorded - 32) & ~7
    events = rep["after_fault_events"]
    assert [e["kind"] for e in events] == ["panic", "lockup"]
    assert events[0]["symbol"] == "panic_" and events[0]["code"] == 1
    lk = rep["lockup"]
    assert lk["source"] == "qemu" and "can't escalate" in lk["message"]
    assert lk["pc"] == GARBAGE and lk["symbol"] is None
    assert ElfInfo(elf).locate(lk["registers"]["lr"] & ~1).function == "panic_"
    assert rep["after_fault"]["kind"] == "lockup"


def test_follow_zero_stops_at_the_first_fault(fault_elves, capture):
    r = capture(fault_elves["lockup_after_panic"], follow=0)
    assert r.outcome == "fault" and r.report["lockup"] is None
    assert "after_fault_events" not in r.report
