"""Fixtures for the capture tests: the fault firmwares, built once per session with the real
arm-none-eabi-gcc, and a helper that captures one of them through real QEMU + GDB."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import linker_script

FAULTS = Path(__file__).resolve().parents[1] / "firmware" / "faults"
# the sim's headers: the fixtures' kernels share its FreeRTOS list code (freertos_list.h)
PLATFORM_INCLUDE = FAULTS.parents[2] / "firmware" / "platform" / "include"
CFLAGS = [
    f"-iquote{PLATFORM_INCLUDE}",
    "-mthumb",
    "-g3",
    "-O1",
    "-ffreestanding",
    "-nostdlib",
    "-Wall",
    "-Werror",
]

# firmware name -> QEMU machine (code at 0x08000000 for netduino2, 0x0 for mps2-an385)
FIRMWARES = {
    "bad_pc": "netduino2",
    "bus_fault": "mps2-an385",  # netduino2 has no bus faults (DESIGN §3.1)
    "div_zero": "netduino2",
    "unaligned": "netduino2",
    "undef": "netduino2",
    "invstate": "netduino2",
    "deep_chain": "netduino2",
    "bad_sp": "netduino2",
    "lockup": "netduino2",
    "panic": "netduino2",
    "spin": "netduino2",
    "shared_handler": "netduino2",
    "psp_stack": "netduino2",
    "bad_vector": "netduino2",
    "threads": "netduino2",
    "lockup_after_panic": "netduino2",
    "threads_svc": "netduino2",  # threads.c, the fault inside the SVC handler
    "threads_hang": "netduino2",  # threads.c, the worker hangs: no fault
    "truth_probe": "netduino2",  # checks the ground-truth recorder (truth.h, truth.py)
    "stack_guard": "netduino2",  # recursion into an MPU guard below the main stack (MSTKERR)
    "thread_guard": "netduino2",  # the same on a thread stack (PSP)
    "unstack_fault": "netduino2",  # an exception return pops its frame from a guard (MUNSTKERR)
    "fpu_lazy": "netduinoplus2",  # extended frame, lazy stacking, alignment pad, MSP
    "fpu_immediate": "netduinoplus2",  # extended frame written at entry (LSPEN=0), pad, PSP
    "fpu_handler": "netduinoplus2",  # extended frame from Handler mode (SVCall): 0xFFFFFFE1
    "basic_m4": "mps2-an386",  # a basic frame on an FPU core (no FP used before the fault)
    "basic_lm3s": "lm3s6965evb",  # Zephyr's qemu_cortex_m3: a forced HardFault on a PSP
    "rtos_task": "netduino2",  # a small RTOS task: FreeRTOS-layout kernel (v10 names)
    "rtos_task_v8": "netduino2",  # the same, v7/v8 names, heap_4-layout heap stacks
    "rtos_task_eos": "netduino2",  # the same, pxEndOfStack in the TCB
    "rtos_task_m4f": "netduinoplus2",  # the same on a Cortex-M4F: the ARM_CM4F port's context
    "rtos_task_overflow": "netduino2",  # the same, the app task overflows into an MPU guard
    "rtos_task_irq_fpu": "netduinoplus2",  # the same, IRQ0 faults over an FPU task (pad)
    "rtos_task_stacks": "netduino2",  # the same, stacks are rows of one static array
    # backtraces (test_backtraces.py; start-up, threads, entry shims: unwind_rig.h)
    "psp_deep": "netduino2",  # a thread on the PSP faults four calls deep
    "irq_fault": "netduino2",  # a fault inside IRQ0's handler, which interrupted a PSP thread
    "irq_fault_msp": "netduino2",  # the same, IRQ0 interrupted main on the MSP
    "svc_escalate": "netduino2",  # an escalated fault (HardFault FORCED) inside SVCall
    "shared_default_hard": "netduino2",  # one Default_Handler for every vector: HardFault
    "shared_default_mem": "netduino2",  # ... MemManage (a call into XN: garbage PC)
    "shared_default_bus": "mps2-an385",  # ... BusFault (netduino2 has no bus faults)
    "shared_default_usage": "netduino2",  # ... UsageFault
    "null_call": "netduino2",  # a call through a NULL function pointer, on the MSP
    "null_call_psp": "netduino2",  # the same in a thread on the PSP
    "uaf_virtual": "netduino2",  # C++: a virtual call through a freed, reused object
    "irq_panic": "netduino2",  # a panic inside IRQ0's handler, which interrupted a PSP thread
}
# firmwares with their own vector table
OWN_STARTUP = {
    "shared_handler",
    "bad_vector",
    "threads",
    "threads_svc",
    "threads_hang",
    "rtos_task",
    "rtos_task_v8",
    "rtos_task_eos",
    "rtos_task_m4f",
    "rtos_task_overflow",
    "rtos_task_irq_fpu",
    "rtos_task_stacks",
    # unwind_rig.h's start-up
    "psp_deep",
    "irq_fault",
    "irq_fault_msp",
    "svc_escalate",
    "shared_default_hard",
    "shared_default_mem",
    "shared_default_bus",
    "shared_default_usage",
    "null_call",
    "null_call_psp",
    "uaf_virtual",
    "irq_panic",
}
CPU_FLAGS = {  # machine -> the core it emulates (M4 boards with the FPU on, hard-float ABI)
    "netduino2": ["-mcpu=cortex-m3"],
    "netduinoplus2": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "mps2-an385": ["-mcpu=cortex-m3"],
    "mps2-an386": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "lm3s6965evb": ["-mcpu=cortex-m3"],
}
CXXFLAGS = ["-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics", "-fno-use-cxa-atexit"]


def require_tool(name: str) -> str:
    """A missing tool fails (never skips): set-up installs everything."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/bootstrap.sh")
    return path


def _build_one(gcc: str, name: str, outdir: Path) -> Path:
    """tests/firmware/faults/NAME.c (or .cpp, with g++) for its machine's core."""
    machine = FIRMWARES[name]
    ld = outdir / f"{name}.ld"
    ld.write_text(linker_script(machine))
    elf = outdir / f"{name}.elf"
    sources = [] if name in OWN_STARTUP else [str(FAULTS / "startup.c")]
    main = FAULTS / f"{name}.c"
    flags = [*CPU_FLAGS[machine], *CFLAGS]
    if not main.exists():
        main = FAULTS / f"{name}.cpp"
        gcc = gcc.replace("gcc", "g++")
        flags += CXXFLAGS
    subprocess.run(
        [gcc, *flags, "-T", str(ld), "-o", str(elf), *sources, str(main)],
        check=True,
        capture_output=True,
        text=True,
        cwd=FAULTS.parents[2],
    )
    return elf


@pytest.fixture(scope="session")
def fault_elves(tmp_path_factory) -> dict[str, Path]:
    """Every fault firmware, compiled once for the whole session."""
    gcc = require_tool("arm-none-eabi-gcc")
    outdir = tmp_path_factory.mktemp("fault-firmwares")
    with ThreadPoolExecutor(4) as pool:
        elves = dict(zip(FIRMWARES, pool.map(lambda n: _build_one(gcc, n, outdir), FIRMWARES)))
    return elves


@pytest.fixture(scope="session")
def stripped_elf(fault_elves, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stripped") / "undef-stripped.elf"
    subprocess.run(
        [require_tool("arm-none-eabi-strip"), "-o", str(out), str(fault_elves["undef"])], check=True
    )
    return out


@pytest.fixture(scope="session")
def a_profile_elf(tmp_path_factory) -> Path:
    """Real ARM firmware, but for a Cortex-A9 (ARM state): the wrong architecture."""
    out = tmp_path_factory.mktemp("a-profile") / "undef-cortex-a9.elf"
    ld = out.with_suffix(".ld")
    ld.write_text(linker_script("netduino2"))
    subprocess.run(
        [
            require_tool("arm-none-eabi-gcc"),
            "-mcpu=cortex-a9",
            "-marm",
            "-g",
            "-O1",
            "-ffreestanding",
            "-nostdlib",
            "-T",
            str(ld),
            "-o",
            str(out),
            str(FAULTS / "startup.c"),
            str(FAULTS / "undef.c"),
        ],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def capture(tmp_path):
    """capture(elf, **request fields) -> CaptureResult, through real QEMU + GDB."""
    require_tool("qemu-system-arm")
    require_tool("gdb-multiarch")
    from photondbg.capture.engine import CaptureRequest, run

    def _capture(elf: Path, **kw):
        kw.setdefault("timeout", 20.0)
        kw.setdefault("follow", 0.5)
        req = CaptureRequest(
            elf=elf, scenario="none", variant=None, out=tmp_path / "captures", **kw
        )
        return run(req)

    return _capture
