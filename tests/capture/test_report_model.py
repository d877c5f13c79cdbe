"""The typed report model (photondbg/capture/model.py): real captures read into dataclasses and
written back unchanged; report.md and the CLI summary render from it; unknown additions kept."""

from __future__ import annotations

import json

import pytest

from photondbg.capture.model import (
    SCHEMA,
    CaptureReport,
    Fault,
    Frame,
    Lockup,
    Panic,
    StackPointers,
)
from photondbg.capture.report import new_report, render_markdown, summary


@pytest.mark.parametrize("name", ["deep_chain", "panic", "lockup"])
def test_real_capture_round_trips_through_the_model(fault_elves, capture, name):
    r = capture(fault_elves[name])
    on_disk = json.loads(r.report_path.read_text())
    model = CaptureReport.load(r.capdir)
    assert model.to_dict() == on_disk  # same keys, same values, same order
    assert list(model.to_dict()) == list(on_disk)
    assert model.schema == SCHEMA and model.outcome == r.outcome
    assert (r.capdir / "report.md").read_text() == render_markdown(model)
    if name == "deep_chain":
        assert isinstance(model.fault, Fault) and model.fault.reasons
        assert isinstance(model.fault.stack_pointers, StackPointers)
        assert model.fault.stack_pointers.method == "mrs-stub"
        assert all(isinstance(f, Frame) for f in model.backtrace)
        assert model.backtrace[0].pc == on_disk["backtrace"][0]["pc"]
        assert summary(model, r.report_path).startswith(f"FAULT  {model.fault.kind}")
    elif name == "panic":
        assert isinstance(model.panic, Panic) and model.panic.code == on_disk["panic"]["code"]
    else:
        assert isinstance(model.lockup, Lockup) and model.lockup.source == "qemu"


def test_unknown_fields_are_kept_in_place_and_missing_sections_are_none():
    d = new_report("sim", "/x.elf", "ab" * 32, "none")
    d["from_the_future"] = {"x": 1}
    d["fault"] = {"vector": "HardFault", "registers": {"pc": 1}, "new_bit": [1, 2]}
    m = CaptureReport.from_dict(d)
    assert m.threads is None and m.root_cause is None and m.panic is None
    assert m.fault.vector == "HardFault" and m.fault.extra == {"new_bit": [1, 2]}
    assert m.get("from_the_future") == {"x": 1}
    assert m.to_dict() == d and list(m.to_dict()) == list(d)
    assert list(m.to_dict()["fault"]) == ["vector", "registers", "new_bit"]


def test_a_new_report_has_every_schema_field():
    d = new_report("photon", None, None, None)
    for key in (
        "schema",
        "status",
        "created",
        "target",
        "outcome",
        "fault",
        "lockup",
        "backtrace",
        "artifacts",
    ):
        assert key in d
    assert d["status"] == "partial" and d["outcome"] == "none" and d["fault"] is None
    assert d["target"] == {"kind": "photon", "elf": None, "elf_sha256": None, "variant": None}
