"""An ELF's ARM build attributes (``.ARM.attributes``, read with pyelftools): the CPU
architecture and profile, the CPU name and the floating-point architecture the code was built
for. Used to tell Cortex-M code from A/R-profile code, to pick a QEMU machine, and to know which
FreeRTOS port (ARM_CM3 or ARM_CM4F) saved a task's context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def build_attributes(elffile) -> Iterator[tuple[str, Any]]:
    """Every attribute as (tag, value), read lazily in file order (a later one overrides an
    earlier one); none when the ELF has no attributes section. Parse errors propagate to the
    caller as it iterates."""
    from elftools.elf.sections import ARMAttributesSection

    section = elffile.get_section_by_name(".ARM.attributes")
    if not isinstance(section, ARMAttributesSection):
        return
    for sub in section.iter_subsections():
        for subsub in sub.iter_subsubsections():
            for a in subsub.iter_attributes():
                yield a.tag, a.value
