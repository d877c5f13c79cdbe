"""The capture's wait loop: run the core until something worth capturing happens.

:meth:`WaitLoop.wait` returns ``("fault" | "panic", stop payload)``, ``("died", None)`` when the
target went away (a lock-up on QEMU, OpenOCD's evidence on a probe) or ``("timeout", None)``.
On the way it re-arms once ``main`` runs (a VTOR moved by the firmware), lets interrupts through
a handler they share with the faults, and resets a board that went deaf after a WiFi restore
(the scenario's :meth:`~photondbg.campaign.scenario.WifiLossScenario.deaf`).
"""

from __future__ import annotations

import time

from photondbg.capture.arming import rearm_from_target
from photondbg.capture.part import CapturePart
from photondbg.cortexm import faults
from photondbg.deadline import Deadline
from photondbg.gdb.mi import TargetDied
from photondbg.progress import scenario_counters

LOCKUP_GRACE = 1.0  # s: after a plain stop, how long lock-up evidence may take to arrive


def stop_pc(payload: dict) -> int | None:
    """The PC of a GDB ``*stopped`` record (Thumb bit cleared)."""
    try:
        return int(payload["frame"]["addr"], 16) & ~1
    except (KeyError, TypeError, ValueError):
        return None


class WaitLoop(CapturePart):
    """Waits on the capture's GDB session and target (``cap``: the :class:`Capture`)."""

    def reset_target(self) -> dict | None:
        """Reset the device under the debugger (breakpoints stay armed). Returns the stop
        payload if the device stopped at something else meanwhile."""
        gdb = self.gdb
        for _ in range(3):  # GDB can drop an interrupt that lands in a --track-heap stop
            gdb.command("-exec-interrupt", 5.0, check=False)
            payload = gdb.wait_stopped(Deadline(5.0))
            if payload is not None:
                break
        if payload is not None and self.armed.kind_at(stop_pc(payload) or 0):
            return payload
        self.target.reset(gdb)
        self.cap.report["scenario"]["resets"] = self.cap.report["scenario"].get("resets", 0) + 1
        gdb.cont()
        return None

    def wait(self, deadline: Deadline) -> tuple[str, dict | None]:
        gdb = self.gdb
        t0 = time.monotonic()
        while True:
            if self.cap.status is not None:
                self.cap.status(scenario_counters(time.monotonic() - t0, self.cap.scenario))
            try:
                payload = gdb.wait_stopped(Deadline(deadline.cap(0.5)))
                if (
                    payload is None
                    and self.cap.scenario is not None
                    and not deadline.expired
                    and self.cap.scenario.deaf()
                ):
                    payload = self.reset_target()
            except TargetDied:
                return "died", None
            if payload is None:
                if deadline.expired:
                    return "timeout", None
                continue
            self.cap.t_stop = time.monotonic()
            pc = stop_pc(payload)
            if self.cap.main_bkpt is not None and pc == self.cap.main_addr:
                self.cap.main_bkpt = None
                new = rearm_from_target(gdb, self.armed)
                if new:
                    self.cap.report["armed"] = self.armed.as_dict()
                gdb.cont()
                continue
            kind = self.armed.kind_at(pc) if pc is not None else None
            if kind == "fault" and pc is not None and not self.in_fault(pc):
                # a handler shared with interrupts (Default_Handler): this was an IRQ
                hits = self.cap.report.get("shared_handler_hits", 0)
                self.cap.report["shared_handler_hits"] = hits + 1
                gdb.cont()
                continue
            if kind:
                return kind, payload
            # a probe halts a locked-up core (OpenOCD): GDB sees a plain stop
            if self.lockup_seen(LOCKUP_GRACE):
                return "died", None
            # vector catch (OpenOCD) or another halt: a fault if the core is in a fault handler
            regs = gdb.registers()
            ipsr = faults.exception_number(regs.get("xpsr", 0))
            if ipsr in dict(faults.FAULT_VECTORS):
                return "fault", payload
            gdb.cont()

    def in_fault(self, pc: int) -> bool:
        """At a fault handler's address: is the core really handling a fault (IPSR 2..6), or
        thread code calling the handler (IPSR 0)? Not when IPSR is an interrupt."""
        ipsr = faults.exception_number(self.gdb.registers(only=["xpsr"]).get("xpsr", 0))
        return ipsr == 0 or ipsr in dict(faults.FAULT_VECTORS)

    def lockup_seen(self, grace: float = 0.0) -> bool:
        """Lock-up evidence from the target; after a plain stop, wait up to ``grace`` s for
        it (OpenOCD halts the locked-up core; its log line may reach us after GDB's stop)."""
        deadline = Deadline(grace)
        while True:
            try:
                if self.target.lockup() is not None:
                    return True
            except Exception:
                pass
            if deadline.expired:
                return False
            time.sleep(min(0.05, deadline.remaining))
