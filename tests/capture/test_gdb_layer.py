"""The GDB/MI session and the standalone ``fault`` command, in real gdb-multiarch sessions
against real QEMU."""

from __future__ import annotations

import subprocess

import pytest

from photondbg.deadline import Deadline
from photondbg.gdb.mi import TargetDied
from photondbg.gdb.session import GdbSession
from photondbg.paths import GDB_SCRIPTS
from photondbg.ports import LOOPBACK
from photondbg.targets.sim import SimTarget


@pytest.fixture
def at_fault(fault_elves, owner, tmp_path):
    """QEMU + a GdbSession stopped at the UsageFault handler of div_zero."""
    elf = fault_elves["div_zero"]
    target = SimTarget(elf, owner, logdir=tmp_path, gdb=True).start()
    gdb = GdbSession(elf, owner, logdir=tmp_path).start()
    gdb.connect(LOOPBACK, target.gdb_port)
    gdb.cli("break UsageFault_Handler")
    gdb.cont()
    assert gdb.wait_stopped(Deadline(10))["frame"]["func"] == "UsageFault_Handler"
    return target, gdb


def test_read_memory_keeps_readable_chunks_and_records_gaps(at_fault):
    _, gdb = at_fault
    start = 0x2001F000  # last 4 KiB of netduino2 SRAM, then 4 KiB beyond its end
    mem = gdb.read_memory(start, 0x2000, chunk=0x800)
    assert mem.gaps == [(0x20020000, 0x1000)]
    assert mem.readable == 0x1000
    frame = gdb.read_words(gdb.registers()["sp"], 8)
    sp = gdb.registers()["sp"]
    off = sp - start
    assert int.from_bytes(mem.data[off : off + 4], "little") == frame[0]
    assert mem.data[0x1000:] == bytes(0x1000)  # the gap is zero-filled


def test_dump_memory_matches_read_and_records_gaps(at_fault, tmp_path):
    _, gdb = at_fault
    start = 0x2001F000
    dumped = gdb.dump_memory(tmp_path / "d.bin", start, 0x2000, chunk=0x1000)
    assert dumped.gaps == [(0x20020000, 0x1000)]
    assert (tmp_path / "d.bin").read_bytes() == dumped.data
    assert dumped.data == gdb.read_memory(start, 0x2000).data


def test_transcript_has_tokens_and_answers(at_fault, tmp_path):
    _, gdb = at_fault
    gdb.registers()
    text = (tmp_path / "gdb-mi.log").read_text()
    assert "-data-list-register-values" in text
    assert '*stopped,reason="breakpoint-hit"' in text


def test_target_death_is_detected(at_fault):
    target, gdb = at_fault
    gdb.command("-break-delete")  # the handler spins on its breakpoint otherwise
    gdb.cont()
    target.child.proc.kill()
    with pytest.raises(TargetDied):
        gdb.wait_stopped(Deadline(10))


def test_fault_command_in_plain_gdb(fault_elves, owner, tmp_path):
    """`source gdb_scripts/fault.py` + `fault` in a batch gdb-multiarch: same table, decoded."""
    elf = fault_elves["unaligned"]
    target = SimTarget(elf, owner, logdir=tmp_path, gdb=True).start()
    gdb = owner.spawn(
        "gdb-batch",
        [
            "gdb-multiarch",
            "-nx",
            "-q",
            "-batch",
            "-ex",
            f"target remote {LOOPBACK}:{target.gdb_port}",
            "-ex",
            f"source {GDB_SCRIPTS / 'fault.py'}",
            "-ex",
            "break HardFault_Handler",
            "-ex",
            "continue",
            "-ex",
            "fault",
            str(elf),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = gdb.proc.communicate(timeout=30)
    text = out.decode()
    assert "Fault: HardFault (forced from UsageFault)" in text
    assert "UNALIGNED: unaligned memory access" in text
    assert "FORCED:" in text
    assert "EXC_RETURN 0xfffffff9: MSP, basic frame" in text
    assert "Faulting PC" in text and "read_unaligned" in text and "unaligned.c:5" in text


def test_a_gdb_that_never_answers_times_out_in_one_line(owner, tmp_path):
    """Per-command time-outs: a 'gdb' that reads and never answers -> TargetTimeout, and the
    owner still stops it (no orphan)."""
    from photondbg.errors import TargetTimeout

    mute = tmp_path / "gdb-multiarch"
    mute.write_text("#!/bin/sh\nexec cat > /dev/null\n")
    mute.chmod(0o755)
    gdb = GdbSession(None, owner, logdir=tmp_path, gdb_bin=str(mute))
    with pytest.raises(TargetTimeout, match=r"did not answer '-gdb-set' within 1 s"):
        gdb.start(timeout=1.0)
    assert gdb.alive
    gdb.close()
    assert not gdb.alive
