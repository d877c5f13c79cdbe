"""Round trip: capture on the sim, stop QEMU, replay the capture, and check that GDB shows the
same backtrace, registers and memory as it did on the live, halted QEMU."""

from __future__ import annotations

import json

import pytest
from replay_support import FAULT_CMD, by_command, gdb_batch
from support import watched_children

from photondbg.capture.elfinfo import ElfInfo
from photondbg.replay import image
from photondbg.replay.server import ReplayServer
from photondbg.targets.sim import SimTarget

COMMANDS = [
    "bt",
    "info registers",
    "x/16x $sp",
    "x/8x $sp+32",
    "print depth_seen",
    "print/x *(unsigned int *)0xE000ED28",
    "info frame",
]


def frames(bt: str) -> list[str]:
    return [line for line in bt.splitlines() if line.startswith("#")]


def live_session(elf, owner, tmp_path, handler: str, commands: list[str]) -> dict[str, str]:
    """The same commands on the live board: QEMU halted at the fault handler's first
    instruction (where the capture engine stops too)."""
    target = SimTarget(elf, owner, logdir=tmp_path / "live", gdb=True).start()
    try:
        addr = ElfInfo(elf).symbol(handler).address
        text = gdb_batch(elf, target.gdb_port, commands, before=[f"break *0x{addr:x}", "continue"])
    finally:
        target.stop()
    return by_command(text)


def replay_session(capdir, commands, elf=None) -> dict[str, str]:
    img = image.load(capdir)
    with ReplayServer(img).start(once=True) as srv:
        return by_command(gdb_batch(elf or img.elf, srv.port, commands))


def test_replay_equals_the_live_session(fault_elves, capture, owner, tmp_path):
    elf = fault_elves["deep_chain"]
    live = live_session(elf, owner, tmp_path, "UsageFault_Handler", COMMANDS)
    assert "level_1" in live["bt"] and "<signal handler called>" in live["bt"]
    r = capture(elf)
    assert r.outcome == "fault"
    assert not [c for _, c in watched_children() if "qemu" in c]  # QEMU is gone
    replayed = replay_session(r.capdir, COMMANDS)
    for cmd in COMMANDS:
        if cmd == "bt":
            # the frames are the same; past main GDB may read the bytes after the end of the
            # image, which QEMU shows as 0 and the replay does not invent (flash not captured)
            assert frames(replayed[cmd]) == frames(live[cmd])
        elif cmd == "info registers":
            # QEMU shows r0-r12, sp, lr, pc, xpsr; the replay adds MSP/PSP when the capture
            # read them (fault.stack_pointers)
            core = replayed[cmd].splitlines()[:17]
            assert core == live[cmd].splitlines()
            sp = r.report["fault"].get("stack_pointers") or {}
            for name in ("msp", "psp"):
                if sp.get(name) is not None and len(replayed[cmd].splitlines()) > 17:
                    assert f"{name:<15}0x{sp[name]:x}" in replayed[cmd]
        else:
            assert replayed[cmd] == live[cmd], cmd
    # and what the capture recorded from its own live GDB session
    regs = r.report["fault"]["registers"]
    assert f"pc             0x{regs['pc']:x}" in replayed["info registers"]
    assert "$1 = 6" in replayed["print depth_seen"]


def test_replay_gives_the_fault_command_the_live_answer(fault_elves, capture):
    """gdb-fault.txt is the `fault` command's output in the capture's live session; in the
    replay the same command reads the same registers, SCB words and stacked frame."""
    r = capture(fault_elves["div_zero"])
    live = (r.capdir / "gdb-fault.txt").read_text().strip()
    assert live.startswith("Fault:")
    out = replay_session(r.capdir, [FAULT_CMD, "fault"])
    assert out["fault"] == live


def test_psp_fault_unwinds_through_the_process_stack(fault_elves, capture):
    """QEMU exposes no PSP, so the live GDB cannot unwind a PSP frame; the capture found the
    frame (stack_pointer) and the replay serves MSP and PSP, so `bt` reaches main."""
    r = capture(fault_elves["psp_stack"])
    f = r.report["fault"]
    assert f["stack"] == "psp" and f["stack_pointer"] is not None
    out = replay_session(r.capdir, ["bt", "p/x $psp", "p/x $msp", "p/x $sp"])
    assert "task_body" in out["bt"] and "main" in out["bt"]
    assert out["p/x $psp"].endswith(f"0x{f['stack_pointer']:x}")
    assert out["p/x $msp"].endswith(f"0x{f['registers']['sp']:x}")


def test_replay_after_the_build_is_gone(fault_elves, capture, tmp_path):
    """The capture keeps a copy of the ELF: replay works when the original file is deleted."""
    src = fault_elves["bad_pc"]
    elf = tmp_path / "bad_pc.elf"
    elf.write_bytes(src.read_bytes())
    r = capture(elf)
    rep = json.loads(r.report_path.read_text())
    assert rep["reproduce"]["elf_copy"] == "firmware.elf"
    assert "firmware.elf" in rep["artifacts"]
    assert "error" not in rep["reproduce"] and "error" not in rep["timeline"]
    fault = [e for e in rep["timeline"]["events"] if e["event"] == "fault"]
    assert len(fault) == 1 and fault[0]["t"] >= 0
    assert fault[0]["detail"].startswith(rep["fault"]["kind"])
    elf.unlink()
    out = replay_session(r.capdir, ["bt", "x/4x 0x30000000", "print garbage_target"])
    assert "jump_to_garbage" in out["bt"] and "main" in out["bt"]
    assert "Cannot access memory at address 0x30000000" in out["x/4x 0x30000000"]
    assert out["print garbage_target"].endswith("= 2684354561")


@pytest.mark.parametrize("cmd", ["step", "continue", "set var garbage_target = 1"])
def test_replay_refuses_to_change_the_capture(fault_elves, capture, cmd):
    r = capture(fault_elves["bad_pc"])
    out = replay_session(r.capdir, [cmd, "print garbage_target", "bt 1"])
    refused = out[cmd]
    assert "read-only" in refused or "Cannot access memory" in refused, refused
    assert out["print garbage_target"].endswith("= 2684354561")  # unchanged
