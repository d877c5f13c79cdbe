"""Which QEMU machine runs an ELF (photondbg/targets/machine_fit.py), inferred from ELFs built
with the real arm-none-eabi-gcc: every fault firmware's own machine, the tie-breaks between the
two Cortex-M3 machines with code at 0x0, and one-line refusals for ELFs no machine runs (M7 with
its FPv5, M33, code or RAM where no machine has memory) or that do not fit --machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import FAULTS, FIRMWARES, require_tool
from test_cli_capture import one_line_error, run_cli

from photondbg.errors import UsageError
from photondbg.targets.machine_fit import choose, read_facts

MAIN_C = """
#include <stdint.h>
volatile uint32_t sink;
int main(void) { sink = *(volatile uint32_t *)PERIPHERAL; for (;;) {} }
"""


def build(tmp_path, name, flags, flash, ram, ram_size, peripheral="0x20000000"):
    """startup.c + a main that reads ``peripheral``, linked at ``flash``/``ram``."""
    ld = tmp_path / f"{name}.ld"
    ld.write_text(
        (FAULTS / "link.ld.in")
        .read_text()
        .replace("FLASH_BASE", flash)
        .replace("FLASH_SIZE", "256K")
        .replace("RAM_BASE", ram)
        .replace("RAM_SIZE", ram_size)
    )
    main = tmp_path / f"{name}.c"
    main.write_text(MAIN_C.replace("PERIPHERAL", peripheral))
    elf = tmp_path / f"{name}.elf"
    subprocess.run(
        [require_tool("arm-none-eabi-gcc"), "-mthumb", *flags, "-O1", "-g", "-nostdlib"]
        + ["-ffreestanding", "-T", str(ld), "-o", str(elf), str(FAULTS / "startup.c"), str(main)],
        check=True,
        capture_output=True,
    )
    return elf


M3 = ["-mcpu=cortex-m3"]
M4F = ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


@pytest.mark.parametrize("name", list(FIRMWARES))
def test_every_fault_firmware_infers_its_machine(fault_elves, name):
    machine, how = choose(fault_elves[name])
    assert machine == FIRMWARES[name]
    assert how.startswith("inferred from the ELF")


def test_attributes_read_from_the_elf(fault_elves):
    m3 = read_facts(fault_elves["basic_lm3s"])
    assert (m3.profile, m3.cpu_arch, m3.fp_arch) == ("M", 10, 0)
    assert m3.initial_sp == 0x20010000
    m4 = read_facts(fault_elves["fpu_lazy"])
    assert (m4.profile, m4.cpu_arch, m4.fp_arch, m4.hardfp_use) == ("M", 13, 6, 1)


@pytest.mark.parametrize(
    "flags, flash, ram, size, peripheral, machine, because",
    [
        # an M3 image at 0x0 in 32 KiB of RAM fits mps2-an385 and lm3s6965evb: the peripheral
        # it touches decides (Stellaris UART0 / the MPS2 SCC), then the table's order
        (M3, "0x0", "0x20000000", "32K", "0x4000C000", "lm3s6965evb", "peripheral"),
        # gcc loads SYSCTL's base and adds 0x60 in the load: the base is in the literal pool
        (M3, "0x0", "0x20000000", "32K", "0x400FE060", "lm3s6965evb", "peripheral"),
        (M3, "0x0", "0x20000000", "32K", "0x4002F000", "mps2-an385", "peripheral"),
        (M3, "0x0", "0x20000000", "32K", "0x20000000", "mps2-an385", "table"),
        # the stack at the top of 64 KiB: a linker script for the LM3S6965's SRAM
        (M3, "0x0", "0x20000000", "64K", "0x20000000", "lm3s6965evb", "top of its SRAM"),
        (M3, "0x0", "0x20000000", "128K", "0x20000000", "mps2-an385", "table"),  # > 64 KiB
        # v7E-M / FP code wants the M4F; v6-M code runs on the M3
        (["-mcpu=cortex-m4"], "0x0", "0x20000000", "32K", "0", "mps2-an386", "exact core"),
        (M4F, "0x08000000", "0x20000000", "192K", "0", "netduinoplus2", "exact core"),
        (["-mcpu=cortex-m0"], "0x08000000", "0x20000000", "128K", "0", "netduino2", "exact"),
        (M3, "0x08000000", "0x20000000", "128K", "0", "netduino2", "exact core"),
    ],
)
def test_inference_and_its_tie_breaks(
    tmp_path, flags, flash, ram, size, peripheral, machine, because
):
    elf = build(tmp_path, "fw", flags, flash, ram, size, peripheral)
    got, how = choose(elf)
    assert got == machine
    if because not in ("table", "exact"):
        assert because in how


@pytest.mark.parametrize(
    "flags, flash, ram, size, text",
    [
        (
            ["-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
            "0x0",
            "0x20000000",
            "64K",
            "FPv5",
        ),
        (["-mcpu=cortex-m33"], "0x0", "0x20000000", "64K", "ARMv8-M.mainline"),
        (M4F, "0x0", "0x20000000", "64K", None),  # fits mps2-an386: the control case
        (M3, "0x10000000", "0x20000000", "64K", "segment 0x10000000"),
        (M3, "0x08000000", "0x20000000", "8M", "initial SP 0x20800000"),
    ],
)
def test_no_machine_fits_is_one_usage_line(tmp_path, flags, flash, ram, size, text):
    elf = build(tmp_path, "fw", flags, flash, ram, size)
    if text is None:
        assert choose(elf)[0] == "mps2-an386"
        return
    with pytest.raises(UsageError) as e:
        choose(elf)
    msg = str(e.value)
    assert text in msg and "no QEMU machine fits" in msg and "\n" not in msg


def test_explicit_machine_the_elf_does_not_fit(fault_elves):
    with pytest.raises(UsageError) as e:
        choose(fault_elves["fpu_lazy"], "netduino2")
    assert "does not fit --machine netduino2" in str(e.value)
    assert "ARMv7E-M" in str(e.value) and "it fits netduinoplus2" in str(e.value)
    with pytest.raises(UsageError) as e:
        choose(fault_elves["bus_fault"], "lm3s6965evb")  # 4 MiB RAM image on a 64 KiB part
    assert "initial SP 0x20400000 is outside its SRAM" in str(e.value)
    assert choose(fault_elves["undef"], "netduino2") == ("netduino2", "--machine")


def test_cli_refuses_with_one_line_exit_2(tmp_path, fault_elves):
    m33 = build(tmp_path, "m33", ["-mcpu=cortex-m33"], "0x0", "0x20000000", "64K")
    p = run_cli("--elf", m33, "--out", tmp_path / "caps")
    assert p.returncode == 2
    assert "no QEMU machine fits" in one_line_error(p)
    p = run_cli("--elf", fault_elves["basic_m4"], "--machine", "lm3s6965evb", "--out", tmp_path)
    assert p.returncode == 2
    assert "does not fit --machine lm3s6965evb" in one_line_error(p)


def test_cli_lists_all_five_machines():
    p = subprocess.run(
        [sys.executable, "-m", "photondbg", "capture-fault", "--help"],
        capture_output=True,
        text=True,
    )
    for name in ("netduino2", "netduinoplus2", "mps2-an385", "mps2-an386", "lm3s6965evb"):
        assert name in p.stdout
