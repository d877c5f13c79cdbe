"""The ground-truth recorder (truth.h + truth.py) that the fault-firmware tests compare against:
its numbers must be what the firmware computed for itself."""

from __future__ import annotations

from truth import ground_truth


def test_ground_truth_records_the_psp_frame(fault_elves):
    t = ground_truth(fault_elves["truth_probe"], "netduino2", extra=["psp_expected"])
    assert t["count"] == 1
    assert t["ipsr"] == 6  # UsageFault
    assert t["exc_return"] == 0xFFFFFFFD  # thread mode, PSP, basic frame
    assert t["control"] & 2 == 0  # SPSEL reads as 0 in Handler mode (ARMv7-M B1.4.4)
    assert t["psp"] == t["psp_expected"]
