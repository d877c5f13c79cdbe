"""MSP and PSP read exactly (photondbg/capture/stackptr.py): on QEMU by stepping an MRS stub in
scratch RAM, checked against what the firmware itself recorded, with every register and all of
RAM identical afterwards; with $msp/$psp where the debugger has them (OpenOCD)."""

from __future__ import annotations

import pytest

from photondbg.capture.collect import Region
from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.stackptr import read_stack_pointers
from photondbg.deadline import Deadline
from photondbg.gdb.session import GdbSession
from photondbg.ports import LOOPBACK
from photondbg.targets.sim import SimTarget

RAM = Region(0x20000000, 128 * 1024)


def word_at(capdir, elf, name) -> int:
    addr = ElfInfo(elf).symbol(name).address
    data = (capdir / "ram.bin").read_bytes()
    return int.from_bytes(data[addr - RAM.base : addr - RAM.base + 4], "little")


def frame_below(sp: int) -> int:
    """Where the core stacks a basic frame for code whose SP is ``sp`` (STKALIGN: 8-aligned)."""
    return (sp - 32) & ~7


def test_psp_frame_read_exactly(fault_elves, capture):
    elf = fault_elves["psp_stack"]
    r = capture(elf)
    f = r.report["fault"]
    sps = f["stack_pointers"]
    assert sps["method"] == "mrs-stub" and sps["restored"] is True
    recorded = word_at(r.capdir, elf, "psp_before_fault")  # the firmware's own `mrs r1, psp`
    assert recorded != 0
    assert sps["psp"] == frame_below(recorded) == f["stack_pointer"]
    assert f["stack_pointer_source"] == "mrs-stub"
    assert sps["msp"] == f["registers"]["sp"]  # Handler mode runs on the MSP
    assert f["frame"]["pc"] == ElfInfo(elf).symbol("task_body").address + 8  # the udf


def test_msp_frame_fault_unchanged(fault_elves, capture):
    r = capture(fault_elves["deep_chain"])
    f = r.report["fault"]
    assert f["stack"] == "msp" and f["stack_pointer"] == f["registers"]["sp"]
    assert f["stack_pointers"]["msp"] == f["registers"]["sp"]
    assert f["stack_pointers"]["method"] == "mrs-stub"
    assert f["stack_pointers"]["psp"] == 0  # never set by this firmware


@pytest.fixture
def halted_in_handler(fault_elves, owner):
    """QEMU + GDB stopped at the first instruction of psp_stack's UsageFault handler."""
    elf = fault_elves["psp_stack"]
    target = SimTarget(elf, owner, gdb=True).start()
    gdb = GdbSession(elf, owner).start()
    gdb.connect(LOOPBACK, target.gdb_port)
    gdb.break_at(ElfInfo(elf).symbol("UsageFault_Handler").address)
    gdb.cont()
    assert gdb.wait_stopped(Deadline(15.0)) is not None
    yield elf, gdb
    owner.close()


def test_stub_restores_every_register_and_all_ram(halted_in_handler):
    elf, gdb = halted_in_handler
    regs = gdb.registers()
    ram = gdb.read_memory(RAM.base, RAM.size).data
    sps = read_stack_pointers(gdb, RAM)
    gdb.cli("maintenance flush register-cache")
    assert gdb.registers() == regs
    assert gdb.read_memory(RAM.base, RAM.size).data == ram
    assert sps.restored is True and sps.detail is None
    assert sps.scratch is not None and RAM.contains(sps.scratch)
    assert sps.msp == regs["sp"] and sps.control == 0  # Handler mode: SPSEL reads 0
    assert sps.psp == frame_below(word_at_gdb(gdb, elf, "psp_before_fault"))
    # and the core still runs the firmware afterwards: one step inside the handler loop
    gdb.command("-exec-step-instruction")
    assert gdb.wait_stopped(Deadline(5.0)) is not None
    assert gdb.registers(only=["pc"])["pc"] in range(regs["pc"], regs["pc"] + 4)


def word_at_gdb(gdb, elf, name) -> int:
    return gdb.read_u32(ElfInfo(elf).symbol(name).address)


class RegistersOnly:
    """What a debugger with $msp/$psp (OpenOCD's target description) answers; any memory
    access would be a bug, so there is none to make."""

    def __init__(self, regs):
        self.regs = regs

    def registers(self, *a, **k):
        return dict(self.regs)

    def __getattr__(self, name):
        raise AssertionError(f"read_stack_pointers touched {name} although $msp/$psp exist")


def test_registers_used_where_the_debugger_has_them():
    regs = {f"r{i}": i for i in range(13)} | {
        "sp": 0x2001FFE0,
        "lr": 0xFFFFFFFD,
        "pc": 0x80001F0,
        "xpsr": 0x21000003,
        "msp": 0x2001FFE0,
        "psp": 0x20000F80,
        "control": 2,
    }
    sps = read_stack_pointers(RegistersOnly(regs), RAM)
    assert (sps.msp, sps.psp, sps.method, sps.control) == (0x2001FFE0, 0x20000F80, "registers", 2)


def test_stub_refused_inside_an_it_block():
    """EPSR.IT set: the MRS instructions would run conditionally; the core is not touched."""
    regs = {f"r{i}": 0 for i in range(13)} | {
        "sp": 0x2001FFE0,
        "lr": 0x08000101,
        "pc": 0x08000200,
        "xpsr": 0x01000000 | 0x3 << 25,
    }
    sps = read_stack_pointers(RegistersOnly(regs), RAM, dict(regs))
    assert (sps.msp, sps.psp, sps.method) == (None, None, "none")
    assert "IT block" in sps.detail


def test_fault_command_reads_the_psp_in_plain_gdb(fault_elves, owner, tmp_path):
    """gdb_scripts/fault.py in a plain (synchronous) gdb on QEMU: the PSP frame is shown,
    read by the same MRS stub, and the core is back on the handler afterwards."""
    import subprocess

    from photondbg.paths import GDB_SCRIPTS

    elf = fault_elves["psp_stack"]
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
            "break UsageFault_Handler",
            "-ex",
            "continue",
            "-ex",
            "fault",
            "-ex",
            "print/x $pc",
            "-ex",
            "print/x psp_before_fault",
            str(elf),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = gdb.proc.communicate(timeout=30)
    text = out.decode()
    import re

    recorded = int(re.search(r"\$2 = 0x([0-9a-f]+)", text).group(1), 16)
    assert f"PSP 0x{frame_below(recorded):08x} (read by an MRS stub" in text
    assert "Faulting PC" in text and "task_body" in text
    handler = ElfInfo(elf).symbol("UsageFault_Handler").address
    assert f"$1 = 0x{handler:x}" in text


def test_registers_path_through_a_real_gdb_on_a_debugger_with_msp_psp(
    fault_elves, capture, owner, tmp_path
):
    """The `registers` path end to end: real GDB against a stub whose target description has
    $msp/$psp (photondbg replay, serving this very capture): read, not stepped."""
    from photondbg.replay import image
    from photondbg.replay.server import ReplayServer

    r = capture(fault_elves["threads"])
    first = r.report["fault"]["stack_pointers"]
    with ReplayServer(image.load(r.capdir)).start(once=True) as srv:
        gdb = GdbSession(fault_elves["threads"], owner, logdir=tmp_path).start()
        gdb.connect(LOOPBACK, srv.port)
        sps = read_stack_pointers(gdb, RAM)
        gdb.close()
    assert sps.method == "registers" and sps.scratch is None
    assert (sps.msp, sps.psp) == (first["msp"], first["psp"])
