"""The MPU decoder (cortexm/mpu.py), the stacking-fault facts (cortexm/faults.py) and the
``stack_check`` logic (capture/stackcheck.py) on register values and memory given by hand."""

from __future__ import annotations

from photondbg.capture import mpuread, stackcheck
from photondbg.capture.model import CaptureReport
from photondbg.cortexm import faults, mpu
from photondbg.render.markdown import stack_check_markdown
from photondbg.targets.base import Region

RAM = Region(0x20000000, 128 * 1024)


def rasr(size_log2: int, ap: int, srd: int = 0, xn: int = 0) -> int:
    return xn << 28 | ap << 24 | srd << 8 | (size_log2 - 1) << 1 | 1


def test_region_decode_and_priority():
    low = mpu.Region(0, 0x20000000, rasr(17, 0b011))  # all SRAM, full access
    guard = mpu.Region(3, 0x20000100 | 0x13, rasr(8, 0b000, xn=1))  # RBAR keeps VALID/REGION
    assert (guard.base, guard.end, guard.size) == (0x20000100, 0x20000200, 256)
    assert guard.no_access and guard.xn and guard.access() == ("no access", "no access")
    assert mpu.region_at([low, guard], 0x20000180) is guard  # the higher number wins
    assert mpu.region_at([low, guard], 0x20000200) is low
    assert mpu.region_at([low, guard], 0x30000000) is None
    holes = mpu.Region(1, 0x20000000, rasr(11, 0b000, srd=0b0000_0010))  # 2 KiB, 2nd eighth off
    assert holes.contains(0x20000000) and not holes.contains(0x20000100)


def test_stack_error_and_call_returns():
    assert faults.stack_error({"cfsr": 0x92})[:2] == ("MSTKERR", "stacking")
    assert faults.stack_error({"cfsr": 1 << 11})[:2] == ("UNSTKERR", "unstacking")
    assert faults.stack_error({"cfsr": 0x2}) is None
    assert faults.is_call_return(bytes.fromhex("fff7f9ff"))  # bl 0x8000110 (f7ff fff9)
    assert faults.is_call_return(bytes.fromhex("00009847"))  # blx r3
    assert not faults.is_call_return(bytes.fromhex("00000047"))  # bx r0: no return address
    assert not faults.is_call_return(bytes.fromhex("fff7f9bf"))  # b.w: second halfword 10x1


class Core:
    """MPU registers of a core: RNR selects one of ``regions`` unless writes are dropped."""

    def __init__(self, regions: dict[int, tuple[int, int]], ctrl: int, writable: bool):
        self.regions, self.ctrl, self.writable, self.rnr = regions, ctrl, writable, 0

    def read_u32(self, address: int) -> int | None:
        rbar, r = self.regions.get(self.rnr, (0, 0))
        return {
            mpu.MPU_TYPE: 8 << 8,
            mpu.MPU_CTRL: self.ctrl,
            mpu.MPU_RNR: self.rnr,
            mpu.MPU_RBAR: rbar | self.rnr,
            mpu.MPU_RASR: r,
        }.get(address)

    def write_u32(self, address: int, value: int) -> None:
        if self.writable and address == mpu.MPU_RNR:
            self.rnr = value


def test_read_mpu_every_region_and_put_back_rnr():
    core = Core({0: (0x20000000, rasr(17, 0b011)), 5: (0x20000100, rasr(8, 0))}, 5, True)
    core.rnr = 5
    state = mpuread.read_mpu(core)
    assert [r["number"] for r in state["regions"]] == [0, 5]
    assert state["enable"] and state["privdefena"] and not state["hfnmiena"]
    assert core.rnr == 5 and "note" not in state


def test_read_mpu_when_rnr_cannot_be_written():
    core = Core({2: (0x20000100, rasr(8, 0))}, 5, False)
    core.rnr = 2
    state = mpuread.read_mpu(core)
    assert [r["number"] for r in state["regions"]] == [2] and state["only_selected"]
    assert "only region 2" in state["note"]


def fault(sp: int, stack: str = "msp", cfsr: int = 0) -> dict:
    return {"stack": stack, "stack_pointer": sp, "stack_pointer_source": "x", "scb": {"cfsr": cfsr}}


def test_below_the_bottom_without_an_mpu():
    bounds = {"lo": 0x20001000, "hi": 0x20002000, "kind": "main", "source": "test"}
    sc = stackcheck.check(fault(0x20000FF0), bounds, RAM, {"present": False}, None)
    assert sc["position"] == "below" and sc["overflow"] == 0x10 and sc["frame"] == "written"
    assert sc["findings"] == [
        "stack overflow: MSP 0x20000ff0 is 16 bytes below the bottom of the main stack (0x20001000)"
    ]


def test_deep_but_not_overflowed_recursion_is_named_so():
    bounds = {"lo": 0x20000000, "hi": 0x20002000, "kind": "main", "source": "test"}
    returns = {"functions": [{"function": "walk", "count": 40}], "calls": 40}
    sc = stackcheck.check(fault(0x20001800), bounds, RAM, {"present": False}, returns)
    assert sc["position"] == "inside" and sc["used"] == 0x800
    assert sc["recursion"] == {"function": "walk", "count": 40, "unbounded": False}
    assert sc["findings"] == [
        "MSP 0x20001800 is inside the main stack (0x20000000-0x20002000): 2048 of 8192 bytes "
        "in use",
        "walk() appears 40 times: deep recursion",
    ]


def test_sp_in_no_region_with_the_default_map_off():
    core = Core({4: (0x20000000, rasr(12, 0b011))}, 1, True)  # 4 KiB of SRAM mapped, no PRIVDEF
    bounds = {"lo": 0x20000000, "hi": 0x20002000, "kind": "main", "source": "test"}
    sc = stackcheck.check(fault(0x20001800), bounds, RAM, mpuread.read_mpu(core), None)
    assert sc["region"] is None
    assert sc["findings"][-1] == (
        "MSP 0x20001800 is in no MPU region and the default map is off (PRIVDEFENA=0): every "
        "access there faults"
    )


def test_guard_found_in_the_regions_and_report_round_trip():
    core = Core({0: (0x20000100, rasr(8, 0, xn=1))}, 5, True)
    b = {"lo": 0x20000024, "hi": 0x20020000, "kind": "main", "source": "test"}
    sc = stackcheck.check(fault(0x200001E0, cfsr=0x92), b, RAM, mpuread.read_mpu(core), None)
    assert sc["position"] == "in-guard" and sc["guard"]["number"] == 0
    assert sc["frame"] == "not written"
    report = {"schema": "photondbg.capture/1", "stack_check": sc}
    assert CaptureReport.from_dict(report).to_dict()["stack_check"] == sc
    md = stack_check_markdown(sc)
    assert md[0] == "## Stack check" and any("guard at the bottom" in line for line in md)


def test_thread_bounds_come_from_the_current_thread_first():
    threads = [
        {"name": "net", "current": False, "stack_lo": 0x20001000, "stack_hi": 0x20001400},
        {"name": "app", "current": True, "stack_lo": 0x20002000, "stack_hi": 0x20002800},
    ]
    b = stackcheck.thread_stack_bounds(None, threads, 0x20001F00)  # type: ignore[arg-type]
    assert (b["lo"], b["hi"], b["thread"]) == (0x20002000, 0x20002800, "app")
    sc = stackcheck.check(fault(0x20001F00, "psp"), b, RAM, {"present": False}, None)
    assert sc["position"] == "below" and sc["overflow"] == 0x100
    assert sc["findings"][0].startswith("stack overflow: PSP 0x20001f00 is 256 bytes below")


def test_a_deny_all_background_region_is_no_guard():
    regions = {0: (0x00000000, rasr(32, 0b000)), 4: (0x20000000, rasr(17, 0b011))}
    core = Core(regions, 1, True)  # region 0: everything no access; region 4 grants the SRAM
    bounds = {"lo": 0x20000024, "hi": 0x20020000, "kind": "main", "source": "test"}
    sc = stackcheck.check(fault(0x20001800), bounds, RAM, mpuread.read_mpu(core), None)
    assert sc["guard"] is None and sc["region"]["number"] == 4 and sc["position"] == "inside"
