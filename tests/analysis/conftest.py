"""Fixtures for the analysis tests: heap firmwares linked with the toolchain's newlib-nano
malloc (``--specs=nano.specs``, the allocator Device OS 0.6.x links) or the heap_4-layout test
allocator, built with the real arm-none-eabi-gcc and captured through real QEMU + GDB."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support import linker_script

ROOT = Path(__file__).resolve().parents[2]
HEAP = ROOT / "tests" / "firmware" / "heap"
FAULTS = ROOT / "tests" / "firmware" / "faults"
CFLAGS = [
    "-mcpu=cortex-m3",
    "-mthumb",
    "-g3",
    "-O1",
    "-Wall",
    "-Werror",
    "--specs=nano.specs",
    "-nostartfiles",
]
FIRMWARES = {  # name -> extra sources
    "uaf": [],
    "uaf_traced": [],  # uaf.c + the sim's heap trace ring (firmware/platform/heap_trace.c)
    "heap_ok": [],
    "heap_corrupt": [],
    "heap4_uaf": ["heap4.c"],
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/bootstrap.sh")
    return path


@pytest.fixture(scope="session")
def heap_elves(tmp_path_factory) -> dict[str, Path]:
    gcc = _tool("arm-none-eabi-gcc")
    out = tmp_path_factory.mktemp("heap-firmwares")
    ld = out / "netduino2.ld"
    ld.write_text(linker_script("netduino2"))
    elves = {}
    for name, extra in FIRMWARES.items():
        elf = out / f"{name}.elf"
        srcs = [
            FAULTS / "startup.c",
            HEAP / "sbrk.c",
            *(HEAP / e for e in extra),
            HEAP / f"{name}.c",
        ]
        flags = list(CFLAGS)
        if name.endswith("_traced"):
            srcs[-1] = HEAP / f"{name.removesuffix('_traced')}.c"
            srcs.append(ROOT / "firmware" / "platform" / "heap_trace.c")
            flags += [
                "-DHEAP_TRACE=1",
                "-Wl,--wrap=_malloc_r",
                "-Wl,--wrap=_free_r",
                "-Wl,--defsym=__preinit_array_start=_sidata",
            ]
        subprocess.run(
            [gcc, *flags, "-T", str(ld), "-o", str(elf), *map(str, srcs)],
            check=True,
            capture_output=True,
            text=True,
        )
        elves[name] = elf
    return elves


@pytest.fixture(scope="session")
def heap_captures(heap_elves, tmp_path_factory) -> dict:
    """name -> CaptureResult: each heap firmware run until it faults (real QEMU + GDB)."""
    _tool("qemu-system-arm")
    _tool("gdb-multiarch")
    from photondbg.capture.engine import CaptureRequest, run

    out = tmp_path_factory.mktemp("heap-captures")
    results = {}
    for name, elf in heap_elves.items():
        results[name] = run(
            CaptureRequest(
                elf=elf, scenario="none", variant=None, out=out / name, timeout=30.0, follow=0.0
            )
        )
    return results
