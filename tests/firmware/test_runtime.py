"""The simulated Photon's runtime: newlib-nano heap, threads on the PSP (FreeRTOS layout), the idle
thread's WFI, the 0.6.x fault path.  Real builds, real QEMU, real gdb-multiarch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from test_build_boot import PROBE_DIR, TIMEOUT, LinkPeer, bring_up, request

from photondbg import firmware
from photondbg.deadline import Deadline
from photondbg.gdb.session import GdbSession
from photondbg.ports import LOOPBACK
from photondbg.sim.link import Msg, pack
from photondbg.targets.sim import SimTarget

PLATFORM = Path(firmware.__file__).resolve().parents[1] / "firmware" / "platform"
# FreeRTOS's kernel-awareness layout (7.5.2 names, what WICED's FreeRTOS on the Photon has):
# the TCB's members as a debugger reads them, and the kernel's lists
TCB_FIELDS = ["pxTopOfStack", "xGenericListItem", "xEventListItem", "uxPriority", "pxStack"]
TCB_FIELDS += ["pcTaskName"]
LISTS = [f"pxReadyTasksLists[{p}]" for p in range(10)]
LISTS += ["xDelayedTaskList1", "xDelayedTaskList2", "xPendingReadyList"]
LISTS += ["xTasksWaitingTermination", "xSuspendedTaskList"]
BLOCKED = ("xDelayedTaskList1", "xDelayedTaskList2", "xSuspendedTaskList")
STACK_SIZE = {"app_thread": 6144, "IDLE": 512}  # system.cpp, concurrent_hal.c


@pytest.fixture(scope="module")
def server_elf() -> Path:
    return firmware.build("multi-server", "all")


@pytest.fixture(scope="module")
def probe_elf() -> Path:
    return firmware.build("panic-probe", "none", appdir=PROBE_DIR)


def symbols(elf: Path) -> dict[str, int]:
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return {s.name: s["st_value"] for s in symtab.iter_symbols()}


def struct_members(elf: Path, name: str) -> list[str]:
    with open(elf, "rb") as f:
        dwarf = ELFFile(f).get_dwarf_info()
        for cu in dwarf.iter_CUs():
            for die in cu.iter_DIEs():
                if (
                    die.tag == "DW_TAG_structure_type"
                    and "DW_AT_name" in die.attributes
                    and die.attributes["DW_AT_name"].value.decode() == name
                ):
                    return [
                        c.attributes["DW_AT_name"].value.decode()
                        for c in die.iter_children()
                        if c.tag == "DW_TAG_member"
                    ]
    return []


def test_the_allocator_is_newlib_nano_and_the_thread_record_keeps_the_contract(server_elf):
    syms = symbols(server_elf)
    # newlib-nano's free list and sbrk start (nano-mallocr.c); our _sbrk bounded by photon.ld
    for name in (
        "__malloc_free_list",
        "__malloc_sbrk_start",
        "_sbrk",
        "__heap_start__",
        "__heap_end__",
        "pxCurrentTCB",
        "pxReadyTasksLists",
        "xDelayedTaskList1",
        "xDelayedTaskList2",
        "xSuspendedTaskList",
        "xTasksWaitingTermination",
        "xPendingReadyList",
        "uxCurrentNumberOfTasks",
        "PendSV_Handler",
    ):
        assert name in syms, name
    assert "heap_alloc" not in syms and not (PLATFORM / "heap.c").exists()
    assert "os_thread_list" not in syms and "os_current" not in syms  # contract A is gone
    members = struct_members(server_elf, "tskTaskControlBlock")
    assert members[: len(TCB_FIELDS)] == TCB_FIELDS
    assert struct_members(server_elf, "xLIST_ITEM") == [
        "xItemValue",
        "pxNext",
        "pxPrevious",
        "pvOwner",
        "pvContainer",
    ]
    heap = syms["__heap_end__"] - syms["__heap_start__"]
    assert heap > 64 * 1024, heap


class Probe:
    """A GDB session on a running sim: evaluate expressions while the target is halted."""

    def __init__(self, gdb: GdbSession):
        self.gdb = gdb

    def ev(self, expr: str) -> str:
        return self.gdb.command(f'-data-evaluate-expression "{expr}"').payload["value"]

    def num(self, expr: str) -> int:
        return int(self.ev(f"(unsigned long)({expr})"), 0)

    def string(self, expr: str) -> str:
        return re.search(r'"(.*)"', self.ev(f"(char *)({expr})")).group(1)

    def threads(self) -> list[dict]:
        """Every task, by walking the kernel's lists from their end markers (plain GDB)."""
        out = []
        for lst in LISTS:
            end = self.num(f"&{lst}.xListEnd")
            item = self.num(f"{lst}.xListEnd.pxNext")
            while item != end and len(out) < 16:
                tcb = self.num(f"((xListItem *)0x{item:x})->pvOwner")
                t = f"((tskTCB *)0x{tcb:x})"
                out.append(
                    {
                        "addr": tcb,
                        "list": lst,
                        "name": self.string(f"{t}->pcTaskName"),
                        "saved_sp": self.num(f"{t}->pxTopOfStack"),
                        "stack_lo": self.num(f"{t}->pxStack"),
                        "priority": self.num(f"{t}->uxPriority"),
                    }
                )
                item = self.num(f"((xListItem *)0x{item:x})->pxNext")
        return sorted(out, key=lambda t: -t["priority"])

    def pc_function(self) -> str:
        return self.gdb.cli("info symbol $pc").split()[0]


def start_with_gdb(
    elf: Path, owner, tmp_path, breaks: tuple[str, ...] = ()
) -> tuple[SimTarget, LinkPeer, Probe]:
    target = SimTarget(elf, owner, logdir=tmp_path, gdb=True).start()
    gdb = GdbSession(elf, owner, logdir=tmp_path).start()
    gdb.connect(LOOPBACK, target.gdb_port)
    for where in breaks:
        gdb.cli(f"break {where}")
    gdb.cont()
    return target, LinkPeer(target.link), Probe(gdb)


def test_threads_run_on_the_psp_with_heap_stacks_and_the_idle_thread_sleeps(
    server_elf, owner, tmp_path
):
    target, peer, probe = start_with_gdb(server_elf, owner, tmp_path)
    listener = bring_up(target, peer)
    assert request(peer, listener, 16).startswith(b"HTTP/1.1 200 OK")
    probe.gdb.interrupt()
    syms = symbols(server_elf)
    heap = range(syms["__heap_start__"], syms["__heap_end__"])
    threads = probe.threads()
    # Device OS 0.6.x with SYSTEM_THREAD(DISABLED): the application thread, and FreeRTOS's idle
    assert [t["name"] for t in threads] == ["app_thread", "IDLE"]
    app, idle = threads
    assert app["priority"] == 2 and idle["priority"] == 0
    assert probe.num("uxCurrentNumberOfTasks") == 2
    current = probe.num("pxCurrentTCB")
    assert current in (app["addr"], idle["addr"])
    for t in threads:
        t["stack_size"] = STACK_SIZE[t["name"]]
        # control block and stack from the heap, as xTaskCreate takes them
        assert t["addr"] in heap and t["stack_lo"] in heap
        assert t["stack_lo"] + t["stack_size"] - 1 in heap
        # stack filled with 0xA5 at creation; what was never used still is (high-water mark)
        bottom = probe.gdb.read_memory(t["stack_lo"], 32).data
        assert bottom == b"\xa5" * 32, (t["name"], bottom.hex())
        top = probe.gdb.read_memory(t["stack_lo"] + t["stack_size"] - 64, 64).data
        assert top != b"\xa5" * 64
        if t["addr"] != current:
            # a switched-out thread: r4-r11 then the hardware frame on its own stack
            sp = t["saved_sp"]
            assert t["stack_lo"] <= sp <= t["stack_lo"] + t["stack_size"] - 64
            frame = probe.gdb.read_words(sp + 32, 8)
            assert frame[7] & (1 << 24), f"xPSR without the Thumb bit: {frame[7]:#x}"
            assert 0x08000000 <= frame[6] < 0x08100000, f"stacked pc {frame[6]:#x}"
    # the running task stays in its priority's ready list (FreeRTOS)
    assert next(t for t in threads if t["addr"] == current)["list"].startswith("pxReadyTasks")

    # WiFi gone: the application thread blocks in the re-join, the idle thread sleeps in WFI
    probe.gdb.cont()
    peer.send(pack(Msg.LINK, wifi=0, cloud=0))
    assert target.console.wait_for(r"@close_all|sockets kept", TIMEOUT)  # all: PR #1500
    seen = []
    for _ in range(10):
        probe.gdb.interrupt()
        where = probe.pc_function()
        now = probe.threads()
        running = probe.string("pxCurrentTCB->pcTaskName")
        seen.append((where, running, now[0]["list"] in BLOCKED))
        if where == "idle_main":
            break
        probe.gdb.cont()
    assert ("idle_main", "IDLE", True) in seen, seen
    insn = probe.gdb.cli("x/i $pc")
    prev = probe.gdb.cli("x/i $pc - 2")
    assert "wfi" in insn or "wfi" in prev, (insn, prev)
    target.stop()


RECORD = re.compile(r"@record code=(\d+) name=(\w+) .* sp=0x([0-9a-f]{8}) exc=0x([0-9a-f]{8})")
PANIC = re.compile(r"@panic code=(\d+) name=\w+ .* sp=0x([0-9a-f]{8}) exc=0x([0-9a-f]{8})")


def test_a_fault_in_the_application_is_taken_from_its_psp_frame(probe_elf, owner):
    target = SimTarget(probe_elf, owner).start()
    peer = LinkPeer(target.link)
    peer.wait(Msg.HELLO)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    panic = target.console.wait_for(PANIC.pattern, TIMEOUT)
    assert panic, target.console.text()
    record = target.console.wait_for(RECORD.pattern, TIMEOUT)
    assert record, target.console.text()
    sp, exc = int(record.group(3), 16), int(record.group(4), 16)
    # thread mode, process stack, no FP frame: the firmware's own reading of EXC_RETURN
    assert exc == 0xFFFFFFFD
    assert (int(panic.group(2), 16), int(panic.group(3), 16)) == (sp, exc)
    syms = symbols(probe_elf)
    # the frame lies on the application thread's stack, which came from the heap
    assert syms["__heap_start__"] <= sp < syms["__heap_end__"]
    target.stop()


def test_the_panic_blinks_through_led_callbacks_held_in_ram(probe_elf, owner, tmp_path):
    """panic_() reaches the LED through pointers in RAM (rgbled.c): GDB sees the red LED
    switched on and off while SOS is signalled."""
    target, peer, probe = start_with_gdb(probe_elf, owner, tmp_path, ("led_set_color",))
    syms = symbols(probe_elf)
    assert 0x20000000 <= syms["led_callbacks"] < 0x20020000
    assert 0x20000000 <= syms["log_callbacks"] < 0x20020000
    peer.wait(Msg.HELLO)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    stop = probe.gdb.wait_stopped(Deadline(TIMEOUT))
    assert stop and stop.get("frame", {}).get("func") == "led_set_color", stop
    assert probe.num("rgb") == 0xFF0000
    bt = probe.gdb.cli("bt")
    assert "panic_" in bt and "sos_round" in bt
    assert "@panic code=1" in target.console.text()
    target.stop()


def test_the_heap_ends_where_the_linker_script_says_and_new_panics_out_of_heap(owner):
    elf = firmware.build("heap-probe", "none", appdir=Path(__file__).parent / "heap_probe")
    target = SimTarget(elf, owner).start()
    peer = LinkPeer(target.link)
    peer.wait(Msg.HELLO)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    m = target.console.wait_for(
        r"heap: (\d+) blocks of 1 KiB, top 0x([0-9a-f]+), "
        r"heap 0x([0-9a-f]+)-0x([0-9a-f]+), free (\d+)",
        TIMEOUT,
    )
    assert m, target.console.text()
    blocks, top, lo, hi, free = (
        int(x, 16) if i in (1, 2, 3) else int(x) for i, x in enumerate(m.groups())
    )
    syms = symbols(elf)
    assert (lo, hi) == (syms["__heap_start__"], syms["__heap_end__"])
    assert top <= hi and hi - top < 2048  # _sbrk stopped at the bound, not before
    assert blocks * 1024 > (hi - lo) - 16 * 1024  # the app thread's stack and the rest
    # System.freeMemory(): nothing left for another block, neither in what _sbrk has left nor
    # in a free-list fragment (each under one 1 KiB chunk; where they fall depends on the TCB size)
    assert free < 2 * (1024 + 16)
    again = target.console.wait_for(r"heap: again (\d+)", TIMEOUT)
    assert again and int(again.group(1)) == blocks  # freed blocks are reused (free list)
    assert target.console.wait_for(r"@panic code=8 name=OutOfHeap", TIMEOUT)
    assert "not reached" not in target.console.text()
    assert target.console.wait_for(r"@boot reason=130 data=8", TIMEOUT)
    target.stop()


def test_a_corrupt_psp_makes_the_unchecked_handler_lock_up(owner):
    """The lock-up is not added anywhere: it emerges from the 0.6.x handler's unchecked load."""
    elf = firmware.build("bad-psp-probe", "none", appdir=Path(__file__).parent / "bad_psp_probe")
    target = SimTarget(elf, owner).start()
    peer = LinkPeer(target.link)
    peer.wait(Msg.HELLO)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    assert target.console.wait_for(r"probe: stack pointer goes bad", TIMEOUT)
    assert target.wait_exit(TIMEOUT) is not None, "QEMU did not stop"
    dump = target.lockup()
    assert dump is not None, target.stderr_text()
    syms = symbols(elf)
    handler = syms["HardFault_Handler"] & ~1
    # stopped on the handler's load from the corrupt PSP (r0), before it got to C code
    assert handler <= dump.pc < handler + 16
    assert 0x60000000 <= dump.registers["r0"] < 0x60000200
    assert dump.registers["lr"] == 0xFFFFFFFD
    assert "@panic" not in target.console.text()
    target.stop()


def test_an_unmapped_load_is_captured_with_the_sim_label(tmp_path):
    """capture-fault on a thread that loads through a garbage pointer: the fault is the sim's
    MPU-made MemManage (where silicon has a BusFault), and the report says so."""
    from photondbg.capture.engine import CaptureRequest, run
    from photondbg.capture.report import summary

    elf = firmware.build("unmapped-probe", "none", appdir=Path(__file__).parent / "unmapped_probe")
    r = run(
        CaptureRequest(
            elf=elf,
            scenario="none",
            variant=None,
            timeout=60,
            follow=1.0,
            out=tmp_path / "captures",
        )
    )
    f = r.report["fault"]
    assert r.outcome == "fault" and f["stack"] == "psp", r.report.get("error")
    kinds = {x.split(":")[0] for x in f["reasons"]}
    assert {"DACCVIOL", "MMARVALID", "FORCED"} <= kinds, f["reasons"]
    assert f["fault_address"] == 0xC9DBDE0C and f["faulting_symbol"] == "follow_session"
    assert [a["id"] for a in r.report["sim_artefacts"]][0] == "unmapped-access-mpu"
    assert "sim: unmapped access modelled as MemManage via MPU" in summary(r.report, r.capdir)
    assert (
        "sim: unmapped access modelled as MemManage via MPU" in (r.capdir / "report.md").read_text()
    )
