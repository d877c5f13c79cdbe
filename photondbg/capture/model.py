"""The capture report as typed data: schema ``photondbg.capture/1`` (DESIGN §5.1).

report.json, report.md, the CLI summary, the HTML page and replay all read a capture through
:class:`CaptureReport` (``CaptureReport.load(path)`` or ``CaptureReport.from_dict(d)``) and
``to_dict()`` is what report.json holds. Every section is a :class:`Section` dataclass: its
declared fields are the ones the schema (and photondbg) gives a meaning; keys it does not know
(added by a newer photondbg, allowed by the schema) are kept in ``extra`` and written back in
their place, so ``from_dict(d).to_dict() == d`` for every report.

Optional sections (``threads``, ``root_cause``, ``reproduce``, ``timeline``, ``after_fault``...)
are None when a capture did not produce them. A new section gets a dataclass here and a field in
:class:`CaptureReport`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from photondbg.capture.section import Section

__all__ = ["OUTCOMES", "SCHEMA", "CaptureReport", "Section"]  # and the section classes below

SCHEMA = "photondbg.capture/1"
OUTCOMES = ("fault", "lockup", "panic", "none")


# -- sections -----------------------------------------------------------------------------
@dataclass
class TargetInfo(Section):
    REQUIRED = ("kind", "elf", "elf_sha256", "variant")
    kind: str | None = None  # sim | photon
    elf: str | None = None
    elf_sha256: str | None = None
    variant: str | None = None
    machine: str | None = None
    machine_choice: str | None = None  # sim: "--machine" or why the ELF chose it


@dataclass
class Stage(Section):
    REQUIRED = ("name", "seconds", "error")
    name: str | None = None
    seconds: float | None = None
    error: str | None = None


@dataclass
class Frame(Section):
    """One backtrace entry."""

    REQUIRED = ("pc", "function", "file", "line")
    pc: int | None = None
    function: str | None = None  # "<exception frame>" on a marker between two stretches
    file: str | None = None
    line: int | None = None
    # a marker entry (photondbg.capture.backtrace): the exception whose entry stacked the frame
    exception: str | None = None
    exc_return: int | None = None
    frame_address: int | None = None
    stack: str | None = None  # msp | psp: where that frame is

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else ""

    @property
    def marker(self) -> str | None:
        """'IRQ0 entry: EXC_RETURN 0x..., frame on the MSP at 0x...' for a marker entry."""
        if self.exc_return is None:
            return None
        at = f" at 0x{self.frame_address:08x}" if self.frame_address is not None else ""
        return (
            f"{self.exception or '?'} entry: EXC_RETURN 0x{self.exc_return:08x}, "
            f"frame on the {(self.stack or '?').upper()}{at}"
        )


@dataclass
class Caller(Section):
    lr: int | None = None
    symbol: str | None = None
    location: str | None = None


@dataclass
class StackPointers(Section):
    """``fault.stack_pointers`` / ``panic.stack_pointers``: MSP and PSP, and how they were read
    (registers | mrs-stub | ram-scan | none)."""

    REQUIRED = ("msp", "psp", "method")
    msp: int | None = None
    psp: int | None = None
    method: str | None = None
    control: int | None = None  # CONTROL as the core reported it (stub / registers)
    scratch: int | None = None  # mrs-stub: where the stub ran
    restored: bool | None = None  # mrs-stub: registers and scratch memory read back identical
    detail: str | None = None  # why a value is missing or doubtful


@dataclass
class Fpu(Section):
    """``fault.fpu`` (Cortex-M4F targets): the FP state of the fault (photondbg.capture.fpu)."""

    REQUIRED = ("frame", "lazy", "fpccr", "fpcar", "stacked", "stacked_source", "registers")
    frame: str | None = None  # basic | extended (EXC_RETURN bit 4)
    lazy: bool | None = None  # FPCCR.LSPACT at the halt
    fpccr: int | None = None
    fpccr_bits: list[str] | None = None  # names of the FPCCR bits set
    fpcar: int | None = None
    stacked: dict[str, int] | None = None  # the interrupted code's S0-S15, FPSCR (bit patterns)
    stacked_source: str | None = None  # frame (read from the stack) | registers (lazy frame)
    note: str | None = None
    registers: dict[str, int] | None = None  # S0-S31, FPSCR at the halt (GDB)


@dataclass
class Fault(Section):
    NESTED = {"caller": Caller, "stack_pointers": StackPointers, "fpu": Fpu}
    REQUIRED = (
        "vector",
        "registers",
        "exc_return",
        "stack",
        "frame",
        "scb",
        "reasons",
        "fault_address",
        "faulting_pc",
        "faulting_symbol",
        "faulting_location",
        "instruction",
    )
    vector: str | None = None
    vector_number: int | None = None
    kind: str | None = None
    registers: dict[str, int] | None = None
    exc_return: int | None = None
    exc_return_decoded: dict | None = None
    stack: str | None = None  # msp | psp
    frame: dict[str, int] | None = None  # the stacked r0-r3, r12, lr, pc, xpsr
    frame_error: str | None = None
    stack_pointer: int | None = None
    stack_pointer_source: str | None = None
    stack_pointers: StackPointers | None = None
    scb: dict[str, int] | None = None
    reasons: list[str] | None = None
    fault_address: int | None = None
    faulting_pc: int | None = None
    faulting_symbol: str | None = None
    faulting_location: str | None = None
    instruction: str | None = None
    pc_in_code: bool | None = None
    caller: Caller | None = None
    handler: dict | None = None
    frame_padded: bool | None = None  # stacked xPSR bit 9: a pad word above the frame
    caller_sp: int | None = None  # SP of the interrupted code: frame + 32/104 (+4 padded)
    fpu: Fpu | None = None  # Cortex-M4F targets only


@dataclass
class Lockup(Section):
    REQUIRED = ("pc", "registers", "source")
    pc: int | None = None
    registers: dict[str, int] | None = None
    source: str | None = None  # qemu | openocd
    message: str | None = None
    symbol: str | None = None
    location: str | None = None


@dataclass
class Panic(Section):
    NESTED = {"stack_pointers": StackPointers}
    code: int | None = None
    name: str | None = None
    entry: str | None = None
    pc: int | None = None
    registers: dict[str, int] | None = None
    caller: int | None = None
    caller_symbol: str | None = None
    caller_location: str | None = None
    stack_pointers: StackPointers | None = None


@dataclass
class AfterFault(Section):
    """What the core did after the first fault: lockup | panic | spin | fault | stop | reset."""

    kind: str | None = None
    pc: int | None = None
    symbol: str | None = None
    detail: str | None = None
    code: int | None = None  # panic: its code
    vector: str | None = None  # fault: the second fault's vector


@dataclass
class Thread(Section):
    """One task of the firmware's RTOS (photondbg.rtos.freertos: FreeRTOS kernel awareness)."""

    NESTED = {"backtrace": Frame}
    name: str | None = None
    state: str | None = None  # running | ready | blocked | suspended | deleted | unknown
    state_list: str | None = None  # the kernel list holding its state (or event) list item
    priority: int | None = None
    tcb: int | None = None  # address of its task control block
    stack_lo: int | None = None  # pxStack
    stack_hi: int | None = None
    stack_bounds_source: str | None = None  # pxEndOfStack | static buffer X | heap block (..)
    saved_sp: int | None = None  # as its control block holds it
    sp: int | None = None  # saved SP, or the live PSP for the running thread
    task_sp: int | None = None  # the SP its code had: above its saved context / exception frame
    high_water: int | None = None  # most stack bytes ever used
    unused: int | None = None  # bytes still holding the 0xA5 fill
    stack_overflow: bool | None = None  # fill used up, or an SP outside the stack
    current: bool | None = None  # pxCurrentTCB
    context: str | None = None  # where its registers came from
    backtrace: list[Frame] | None = None
    backtrace_stop: str | None = None  # why the unwind ended


@dataclass
class Rtos(Section):
    """The RTOS kernel found by its symbols and DWARF types (photondbg.rtos)."""

    kernel: str | None = None  # FreeRTOS
    port: str | None = None  # ARM_CM3 | ARM_CM4F: the saved-context layout read
    current_task: str | None = None
    tasks: int | None = None  # tasks listed
    counted: int | None = None  # uxCurrentNumberOfTasks, as the kernel counts them
    state_item: str | None = None  # xStateListItem (v9+) | xGenericListItem (v7/v8)
    end_of_stack: bool | None = None  # the TCB has pxEndOfStack
    priorities: int | None = None  # configMAX_PRIORITIES


@dataclass
class SimArtefact(Section):
    """Where the simulated board differs from the real one (photondbg/sim/facts.py)."""

    id: str | None = None
    text: str | None = None  # one line, "sim: ..."
    detail: str | None = None


@dataclass
class StoppedAt(Section):
    NESTED = {"stack_pointers": StackPointers}
    pc: int | None = None
    symbol: str | None = None
    location: str | None = None
    stack_pointers: StackPointers | None = None


@dataclass
class Reproduce(Section):
    """How to run the capture again (photondbg.replay.reproduce): the command as run, a
    capture-fault command with the firmware copy and the seed, tool versions."""

    argv: list[str] | None = None
    command_line: str | None = None
    cwd: str | None = None
    rerun: str | None = None  # capture-fault with the firmware copy, same seed
    rebuild: str | None = None  # the same from the app sources (when it was built)
    seed: int | None = None
    elf_copy: str | None = None  # the firmware inside the capture (firmware.elf)
    elf_sha256: str | None = None
    tools: dict[str, str | None] | None = None  # program -> first line of --version
    photondbg: dict | None = None  # version, commit, python
    note: str | None = None
    error: str | None = None  # when the section could not be made


@dataclass
class TimelineEvent(Section):
    t: float | None = None  # seconds since the device started running; None: after
    wall: float | None = None  # time.time()
    event: str | None = None  # start, served, cut, restore, stop, fault, panic, ...
    detail: str | None = None


@dataclass
class Timeline(Section):
    NESTED = {"events": TimelineEvent}
    t0_wall: float | None = None
    clock: str | None = None
    events: list[TimelineEvent] = field(default_factory=list)
    serial_tail: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class HeapBlock(Section):
    """A heap block as the analysis found it (photondbg.analysis.heap)."""

    addr: int | None = None  # the address malloc handed out
    size: int | None = None  # usable bytes from there
    state: str | None = None  # used | free
    chunk: int | None = None  # the allocator's own block start (header)
    chunk_size: int | None = None
    contents_hint: str | None = None  # what the memory the pointer aims at holds now


@dataclass
class HeapEvent(Section):
    """One malloc/free call (trace ring or GDB log), symbolized: who freed / reused / allocated."""

    NESTED = {"backtrace": Frame}
    op: str | None = None  # malloc | free
    n: int | None = None  # sequence number of the call
    ptr: int | None = None
    size: int | None = None  # malloc: bytes asked for
    pc: int | None = None  # the caller (the allocator's return address)
    function: str | None = None
    file: str | None = None
    line: int | None = None
    source: str | None = None  # where a free came from when not the ring
    backtrace: list[Frame] | None = None


@dataclass
class DanglingPointer(Section):
    NESTED = {
        "block": HeapBlock,
        "allocated_by": HeapEvent,
        "freed_by": HeapEvent,
        "reused_by": HeapEvent,
    }
    path: str | None = None  # e.g. listeners[0]->clients[3]
    value: int | None = None
    slot: int | None = None  # address of the pointer itself
    type: str | None = None  # declared pointee type
    type_size: int | None = None
    reason: str | None = None
    certain: bool | None = None  # False: reached through a union member
    owner: dict | None = None  # {path, type, address, fields}
    block: HeapBlock | None = None
    allocated_by: HeapEvent | None = None
    freed_by: HeapEvent | None = None
    reused_by: HeapEvent | None = None
    reuses: int | None = None


@dataclass
class ProvenanceStep(Section):
    register: str | None = None
    value: int | None = None
    loaded_by: dict | None = None  # {pc, instruction}
    address: int | None = None  # where the value was loaded from
    base: str | None = None
    base_value: int | None = None
    offset: int | None = None
    confirmed: bool | None = None  # the dump still holds the value there
    note: str | None = None
    function: str | None = None


@dataclass
class Provenance(Section):
    NESTED = {"chain": ProvenanceStep}
    kind: str | None = None  # data-access | bad-branch | return | unknown
    site: dict | None = None  # {pc, instruction, function, file, line}
    register: str | None = None
    value: int | None = None
    chain: list[ProvenanceStep] | None = None
    text: str | None = None


@dataclass
class HeapSummary(Section):
    allocator: str | None = None  # newlib-nano | heap_4 | ...
    arena: list[int] | None = None
    end_source: str | None = None
    blocks: int | None = None
    used: int | None = None
    free: int | None = None
    used_bytes: int | None = None
    free_bytes: int | None = None
    free_list: int | None = None
    corrupt: bool | None = None
    problems: list[str] | None = None
    notes: list[str] | None = None


@dataclass
class RootCause(Section):
    """``root_cause`` (photondbg.analysis.rootcause, DESIGN §5.1)."""

    NESTED = {
        "dangling": DanglingPointer,
        "provenance": Provenance,
        "heaps": HeapSummary,
        "freed_by": HeapEvent,
        "reused_by": HeapEvent,
    }
    kind: str | None = None  # use-after-free | dangling-pointer | heap-corrupt | none-found
    summary: str | None = None
    dangling: list[DanglingPointer] | None = None
    provenance: Provenance | None = None
    culprit: dict | None = None  # {path, candidates, how, confirmed, step}
    heaps: list[HeapSummary] | None = None
    freed_by: HeapEvent | None = None
    reused_by: HeapEvent | None = None
    checked: list[str] | None = None
    seconds: float | None = None


@dataclass
class StackCheck(Section):
    """``stack_check`` (photondbg.capture.stackcheck): the faulting SP against its stack's
    bounds, the MPU regions and a guard, whether a frame was written, the return addresses."""

    stack: str | None = None  # msp | psp
    sp: int | None = None
    sp_source: str | None = None
    frame: str | None = None  # written | not written | not read back
    stack_error: dict | None = None  # {field, failed (stacking|unstacking), what}
    bounds: dict | None = None  # {lo, hi, kind (main|thread), source, thread}
    position: str | None = None  # inside|below|above|in-guard|in-no-access-region|outside-ram
    overflow: int | None = None  # bytes below the bottom (into the guard)
    used: int | None = None  # bytes from the SP to the top
    ram: dict | None = None
    mpu: dict | None = None  # {present, region_count, ctrl, enable, ..., regions [...]}
    region: dict | None = None  # the MPU region the SP is in (+ at, guard)
    guard: dict | None = None  # the no-access region at the bottom of the stack (+ of)
    return_addresses: dict | None = None  # {scanned_from, scanned_to, words, calls, functions}
    recursion: dict | None = None  # {function, count, unbounded}
    findings: list[str] | None = None


@dataclass
class CaptureReport(Section):
    NESTED = {
        "target": TargetInfo,
        "fault": Fault,
        "lockup": Lockup,
        "backtrace": Frame,
        "stages": Stage,
        "panic": Panic,
        "after_fault": AfterFault,
        "threads": Thread,
        "rtos": Rtos,
        "after_fault_events": AfterFault,
        "stopped_at": StoppedAt,
        "reproduce": Reproduce,
        "timeline": Timeline,
        "sim_artefacts": SimArtefact,
        "root_cause": RootCause,
        "stack_check": StackCheck,
    }
    REQUIRED = (
        "schema",
        "status",
        "created",
        "target",
        "outcome",
        "fault",
        "lockup",
        "backtrace",
        "artifacts",
        "stage",
        "stages",
        "error",
    )
    schema: str = SCHEMA
    status: str = "partial"  # complete | partial
    created: str | None = None
    target: TargetInfo = field(default_factory=TargetInfo)
    outcome: str = "none"  # fault | lockup | panic | none
    fault: Fault | None = None
    lockup: Lockup | None = None
    backtrace: list[Frame] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    stage: str | None = None  # the stage reached (a partial report stops here)
    stages: list[Stage] = field(default_factory=list)
    error: str | None = None
    panic: Panic | None = None
    after_fault: AfterFault | None = None
    stopped_at: StoppedAt | None = None
    threads: list[Thread] | None = None  # when a scheduler was found (capture)
    rtos: Rtos | None = None  # the kernel those threads come from
    backtrace_method: str | None = None  # cfi | gdb | stacked-pc-lr | none (capture.backtrace)
    backtrace_source: str | None = None  # from which registers and stack, in words
    backtrace_stop: str | None = None  # why the unwind ended (cfi)
    sim_artefacts: list[SimArtefact] | None = None  # sim target: what is the simulator's
    threads_note: str | None = None  # why no thread (or not every thread) is listed
    after_fault_events: list[AfterFault] | None = None  # every stop after the first fault
    root_cause: RootCause | None = None  # analysis (photondbg.analysis.rootcause)
    stack_check: StackCheck | None = None  # photondbg.capture.stackcheck
    reproduce: Reproduce | None = None  # replay (photondbg.replay.reproduce)
    timeline: Timeline | None = None  # replay

    @classmethod
    def load(cls, path: Path | str) -> "CaptureReport":
        """report.json (or a capture directory holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / "report.json"
        return cls.from_dict(json.loads(path.read_text()))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"
