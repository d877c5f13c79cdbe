"""The simulated board behind the campaign: QEMU netduino2 (:class:`SimTarget`) on the bridge.

A crashed release build reboots by itself (we wait for it); a locked-up, hung or deaf one is
rebooted (a new QEMU, same bridge and host port).
"""

from __future__ import annotations

import time

from photondbg.campaign.cycle import CycleRunner, cycle_seed
from photondbg.campaign.records import CycleResult, Outcome, Phase
from photondbg.campaign.steps import stage
from photondbg.errors import ToolFailure
from photondbg.firmware import app_port
from photondbg.sim.bridge import Bridge
from photondbg.sim.wifi import Delays, parse_cut


class SimCampaign(CycleRunner):
    """Boots the simulated device, runs ``config.cycles`` WiFi-loss cycles, always cleans up."""

    def __init__(self, config, owner, **kw):
        self.target = None  # the SimTarget of the current boot
        self.bridge: Bridge | None = None
        self._qemu_boot = True  # the current boot began with a new QEMU (not its own reset)
        super().__init__(config, owner, **kw)

    def check_config(self) -> None:
        self.device_port = app_port(self.cfg.app)
        for kind in self.cfg.cuts:
            parse_cut(kind)

    def setup(self) -> float:
        self.bridge = Bridge(
            None,
            logdir=self.logdir,
            seed=self.cfg.seed,
            delays=Delays(self.cfg.seed),
            host_ports={self.device_port: self.cfg.host_port} if self.cfg.host_port else None,
        )
        self.boot()
        return self._boot_started

    def http_port(self) -> int | None:
        return self.bridge.host_port(self.device_port)

    def cut_wifi(self, kind: str) -> None:
        # the WiFi's delays of cycle i are cycle i's own, whichever board runs it (--jobs)
        self.bridge.delays = Delays(cycle_seed(self.cfg.seed, self.index))
        self.bridge.cut(kind)

    def restore_wifi(self) -> None:
        self.bridge.restore()

    def alive_age(self) -> float | None:
        return self.bridge.pong_age()

    def device_gone(self) -> bool:
        return not self.target.running

    def serving_note(self, took: float) -> str:
        how = "QEMU start" if self._qemu_boot else "its own reset"
        return (
            f"boot {len(self.result.boot_to_serving)}: serving device port "
            f"{self.device_port} on http://127.0.0.1:"
            f"{self.bridge.host_port(self.device_port)}/ {took:.2f}s after {how}"
        )

    def crashed(self, since: float):
        if not self.target.running:
            t = time.monotonic()
            dump = self.target.lockup()
            if dump is not None:
                pc = dump.pc
                return (
                    Outcome.LOCKUP.value,
                    t,
                    f"lockup: {dump.message} pc=0x{pc:08x}" if pc is not None else dump.message,
                )
            return (Outcome.CRASH.value, t, f"qemu exited with {self.target.returncode}")
        events = self.watch.since(since, "panic", "boot")
        if events:
            e = events[0]
            return (Outcome.CRASH.value, e.t, e.text)
        return None

    # ------------------------------------------------------------------ device lifecycle
    @stage()
    def boot(self) -> None:
        from photondbg.targets.sim import SimTarget

        self.transition(Phase.BOOT)
        self.boots += 1
        self._boot_started = time.monotonic()
        self._qemu_boot = True
        target = SimTarget(
            self.cfg.elf,
            self.owner,
            logdir=self.logdir / f"boot-{self.boots:02d}",
            machine=self.cfg.machine,
        )
        target.start()
        self.target = target
        self.watch.attach(target.console)
        assert target.link is not None  # start() returned: QEMU connected its link
        self.bridge.attach(target.link)

    @stage()
    def reboot(self) -> None:
        self.transition(Phase.REBOOT)
        if self.target is not None:
            self.bridge.detach()
            self.target.stop()
        self.boot()

    def serve_again(self, since: float) -> None:
        """The server must answer before a cycle starts: wait, then reboot once, then give up."""
        if self.wait_serving(since, self.cfg.boot_timeout):
            return
        self.reboot()
        if not self.wait_serving(self._boot_started, self.cfg.boot_timeout):
            raise ToolFailure(
                f"the simulated board never served HTTP after boot "
                f"{self.boots}; see {self.logdir}/boot-{self.boots:02d}/serial.log"
            )

    @stage("outcome")
    def bring_back(self, r: CycleResult) -> None:
        """After a bad cycle, get the device serving again for the next one."""
        if r.outcome == Outcome.OK.value:
            return
        t = time.monotonic()
        if r.outcome == Outcome.CRASH.value and self.target.running:
            # a release build resets itself after two SOS rounds and boots again
            boot = self.watch_for_boot(t - r.duration, self.cfg.boot_timeout)
            if boot:
                self._boot_started = boot
                self._qemu_boot = False
                self.serve_again(boot)
                return
        r.reboots += 1
        self.reboot()
        self.serve_again(self._boot_started)

    def teardown(self) -> None:
        if self.bridge is not None:
            self.result.bridge = self.bridge.summary()
            self.bridge.close()
        if self.target is not None:
            self.target.stop()
