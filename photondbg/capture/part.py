"""A part of one capture's work (the wait loop, evidence collection): it works on the
:class:`~photondbg.capture.engine.Capture` it belongs to, through typed accessors to what the
capture set up before waiting started."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from photondbg.capture.arming import Armed
    from photondbg.capture.elfinfo import ElfInfo
    from photondbg.capture.engine import Capture
    from photondbg.gdb.session import GdbSession
    from photondbg.targets.base import Target


class CapturePart:
    def __init__(self, cap: Capture):
        self.cap = cap

    @property
    def gdb(self) -> GdbSession:
        assert self.cap.gdb is not None
        return self.cap.gdb

    @property
    def elf(self) -> ElfInfo:
        assert self.cap.elf is not None
        return self.cap.elf

    @property
    def target(self) -> Target:
        assert self.cap.target is not None
        return self.cap.target

    @property
    def armed(self) -> Armed:
        assert self.cap.armed is not None
        return self.cap.armed
