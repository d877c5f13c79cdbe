"""The WiFi-loss campaign on a real Photon on the LAN (DESIGN §6 with §3.2's tools).

The cycle and its bookkeeping are :class:`photondbg.campaign.cycle.CycleRunner`'s; only the
board differs. Here the board serves HTTP at ``host:port`` on the user's LAN, its
WiFi is cut by a :mod:`photondbg.photon.netcut` object (the user's relay commands or a person
at a prompt), its console is a pyserial port (``/dev/ttyACM0`` or any pyserial URL such as
``socket://127.0.0.1:N``), and an optional debug probe runs OpenOCD for lock-up evidence and
for resets. Evidence, per outcome:

- ``CRASH``        the serial port dropped and came back (USB re-enumeration after a reset), or
                   a ``@panic`` / ``@boot`` line was seen
- ``LOCKUP``       OpenOCD's ``clearing lockup after double fault`` line
- ``HANG``         no HTTP answer and no serial output for the window
- ``NO_RECOVERY``  serial output still comes, the server never answers after the restore
- ``OK``           the server answered again

A release build resets itself after a panic: we wait for it to serve again. After a HANG,
LOCKUP or NO_RECOVERY the board is reset through OpenOCD (``reset run``), else by the user's
``--reset-cmd``, else by a person at the prompt; with none of those the campaign stops there.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from photondbg.campaign.cycle import CycleRunner
from photondbg.campaign.records import CampaignConfig, CycleResult, Outcome, Phase
from photondbg.campaign.steps import stage
from photondbg.errors import ToolFailure, UsageError
from photondbg.photon.netcut import CommandNetCut, PromptNetCut, parse_command
from photondbg.targets.console import Console
from photondbg.targets.photon import PhotonTarget, SerialStream

if TYPE_CHECKING:
    from photondbg.farm import DriverStream, PhotonPlace

# seconds a cut is held on a real AP when --hold is not given: long enough for Device OS to
# notice the cloud is gone (its keep-alive is about 15-25 s on a Photon)
BOARD_HOLD = (20.0, 40.0)
BOARD_RECOVERY = 30.0  # s after the restore for the server to answer again
BOARD_BOOT = 30.0  # s from a reset until the server answers
CONSOLE_QUIET = 0.5  # s of console silence that ends a run's serial log
CONSOLE_DRAIN = 2.0  # s at most spent reading that tail


class UrlSerialStream(SerialStream):
    """:class:`SerialStream` for any pyserial URL (a device path is a URL too), remembering
    when the port dropped: on a real Photon that is the USB re-enumeration of a reset."""

    def __init__(self, port: str, baudrate: int = 9600, *, retry: float = 0.5):
        self.drops: list[float] = []  # monotonic times the open port failed
        super().__init__(port, baudrate, retry=retry)

    def _open(self):
        return self._serial_mod.serial_for_url(self.port, self.baudrate, timeout=0.2)

    def _drop(self) -> None:
        if self._ser is not None and not self._closed.is_set():
            self.drops.append(time.monotonic())
        super()._drop()


@dataclass
class Board:
    """Where the board is and what the bench offers around it."""

    host: str
    port: int
    netcut: CommandNetCut | PromptNetCut
    serial: str | None = None  # pyserial port or URL of the console
    baudrate: int = 9600
    probe: str | None = None  # cmsis-dap | stlink: OpenOCD for lock-ups and resets
    reset_cmd: str | None = None  # e.g. "particle usb reset", "ssh pi ./power-cycle.sh"
    ask: Callable[[str], str] | None = None  # a person to ask for a reset (None: nobody)
    openocd_bin: str | list[str] | None = None
    resets: list[dict] = field(default_factory=list)
    # a labgrid place (photondbg.farm.PhotonPlace): the console through its SerialDriver and
    # resets through its power driver, instead of `serial` and `reset_cmd`
    place: PhotonPlace | None = None

    def __post_init__(self):
        if not self.host or any(c.isspace() for c in self.host):
            raise UsageError(f"--host {self.host!r} is not a host name or address")
        if not 0 < self.port < 65536:
            raise UsageError(f"--port {self.port} is not a TCP port")
        if self.reset_cmd is not None:
            parse_command(self.reset_cmd, "--reset-cmd")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


class BoardCampaign(CycleRunner):
    """``config.cycles`` WiFi-loss cycles against the real board ``board``."""

    alive_name = "serial output"

    def __init__(self, config: CampaignConfig, board: Board, owner, *, logdir: Path, **kw):
        self.board = board
        super().__init__(config, owner, logdir=logdir, **kw)
        self.result.target = "photon"
        self.stream: UrlSerialStream | DriverStream | None = None
        self.console: Console | None = None
        self.probe: PhotonTarget | None = None  # when --probe was given
        # the board outlives one campaign (verify-fix runs two): keep only this one's records
        self._netcut_from = len(board.netcut.events)
        self._resets_from = len(board.resets)

    def check_config(self) -> None:
        cfg = self.cfg
        cfg.http_host = self.board.host
        if cfg.hold is None:
            cfg.hold = BOARD_HOLD
        # "alive" means serial output since the restore: the app logs the WiFi coming back
        cfg.hang_after = max(cfg.hang_after, cfg.recovery + 1.0)
        self.device_port = self.board.port

    # ------------------------------------------------------------------ the device
    @stage()
    def setup(self) -> float:
        self.transition(Phase.BOOT)
        b = self.board
        if b.place is not None and (place_stream := b.place.stream()) is not None:
            self.stream = place_stream  # the place's console driver
            self.console = Console(self.stream, self.logdir / "serial.log", name="board-serial")
            self.watch.attach(self.console)
        elif b.serial:
            self.stream = UrlSerialStream(b.serial, b.baudrate)
            self.console = Console(self.stream, self.logdir / "serial.log", name="board-serial")
            self.watch.attach(self.console)
        if b.probe:
            target = PhotonTarget(
                None,
                self.owner,
                logdir=self.logdir,
                interface=b.probe,
                openocd_bin=b.openocd_bin,
                reset_on_attach=False,
            )
            # no vector catch: the board must fault, panic and reset as in the field; OpenOCD
            # is there to see a lock-up and to reset a hung board
            target.session.vector_catch = False
            target.start()
            self.probe = target
        self._boot_started = time.monotonic()
        return self._boot_started

    def http_port(self) -> int:
        return self.board.port

    def cut_wifi(self, kind: str) -> None:
        self.board.netcut.cut()

    def restore_wifi(self) -> None:
        self.board.netcut.restore()

    def alive_age(self) -> float | None:
        last = self.watch.last_line
        return None if last is None else time.monotonic() - last

    def device_gone(self) -> bool:
        return self.probe is not None and not self.probe.running

    def serving_note(self, took: float) -> str:
        n = len(self.result.boot_to_serving)
        return (
            f"boot {n}: {self.board.url} answered {took:.2f}s after "
            f"{'the start' if n == 1 else 'its reset'}"
        )

    def crashed(self, since: float):
        if self.probe is not None:
            event, _ = self.probe.session.lockup_events()
            if event is not None and event.time >= since:
                dump = self.probe.lockup()
                pc = dump.pc if dump is not None else None
                return (
                    Outcome.LOCKUP.value,
                    event.time,
                    event.line.strip() + (f" pc=0x{pc:08x}" if pc is not None else ""),
                )
        if self.stream is not None:
            drops = [t for t in self.stream.drops if t >= since]
            if drops:
                return (
                    Outcome.CRASH.value,
                    drops[0],
                    f"serial port {self.board.serial} dropped (the board reset)",
                )
        events = self.watch.since(since, "panic", "boot")
        if events:
            return (Outcome.CRASH.value, events[0].t, events[0].text)
        return None

    # ------------------------------------------------------------------ bringing it back
    def reset_evidence(self, since: float) -> float | None:
        """When the board reset after the panic seen since ``since``: its @boot line or the
        serial port dropping, whichever came first (None: neither seen)."""
        panics = self.watch.since(since, "panic")
        after = panics[0].t if panics else since
        times = [e.t for e in self.watch.since(after, "boot")]
        if self.stream is not None:
            times += [t for t in self.stream.drops if t >= after]
        return min(times) if times else None

    def reset_means(self) -> str | None:
        b = self.board
        if self.probe is not None and self.probe.running:
            return "openocd"
        if b.reset_cmd:
            return "command"
        if b.place is not None and b.place.power is not None:
            return "labgrid"
        if b.ask is not None:
            return "prompt"
        return None

    @stage()
    def reboot(self) -> None:
        self.transition(Phase.REBOOT)
        how = self.reset_means()
        t0, wall = time.monotonic(), time.time()
        if how == "openocd":
            self.probe.session.command("reset run", timeout=10.0)
        elif how == "command":
            from photondbg.photon.run import run

            assert self.board.reset_cmd  # reset_means() checked it
            res = run(parse_command(self.board.reset_cmd, "--reset-cmd"), timeout=60.0)
            if not res.ok:
                raise ToolFailure(f"--reset-cmd failed (exit {res.exit_code}): {res.last_line()}")
        elif how == "labgrid":
            self.board.place.reset()
        elif how == "prompt":
            assert self.board.ask is not None  # reset_means() checked it
            try:
                self.board.ask("Reset the Photon now (RESET button), then press Enter: ")
            except EOFError:
                raise UsageError("no terminal to ask on: pass --probe or --reset-cmd") from None
        else:
            raise ToolFailure("the board needs a reset and there is no way to do it")
        self.boots += 1
        self.board.resets.append(
            {"how": how, "started": wall, "seconds": round(time.monotonic() - t0, 3)}
        )
        self._boot_started = time.monotonic()

    def serve_again(self, since: float) -> None:
        if self.wait_serving(since, self.cfg.boot_timeout):
            return
        if self.reset_means() is None:
            raise ToolFailure(
                f"the board at {self.board.url} did not answer HTTP within "
                f"{self.cfg.boot_timeout:g} s (and there is no --probe or "
                f"--reset-cmd to reset it)"
            )
        self.reboot()
        if not self.wait_serving(self._boot_started, self.cfg.boot_timeout):
            raise ToolFailure(
                f"the board at {self.board.url} did not answer HTTP within "
                f"{self.cfg.boot_timeout:g} s of a reset"
            )

    @stage("outcome")
    def bring_back(self, r: CycleResult) -> None:
        if r.outcome == Outcome.OK.value:
            return
        if r.outcome == Outcome.CRASH.value:
            # a release build panics, resets itself and boots again: wait for it to serve. The
            # reset's own evidence (@boot, the port re-enumerating) may be lost with the port,
            # so the HTTP answer decides and the evidence only times the boot
            now = time.monotonic()
            if self.wait_serving(now, self.cfg.boot_timeout):
                reset_at = self.reset_evidence(now - r.duration)
                last_ok = self.tester.last_ok
                if reset_at is not None and last_ok is not None:  # wait_serving() saw it set
                    took = last_ok - reset_at
                    self.result.boot_to_serving.append(took)
                    self.on_note(self.serving_note(took))
                return
        if self.reset_means() is None:
            self.result.stopped_early = (
                f"{r.outcome}: the board needs a reset (give --probe or --reset-cmd)"
            )
            return
        r.reboots += 1
        self.reboot()
        self.serve_again(self._boot_started)

    def drain_console(self, quiet: float = CONSOLE_QUIET, bound: float = CONSOLE_DRAIN) -> None:
        """Read on until the console has been quiet for ``quiet`` s (``bound`` s at most), so
        the lines the board printed as the last cycle ended (the request that showed it serving
        again) reach serial.log before the port is closed."""
        start = time.monotonic()
        while time.monotonic() - start < bound:
            last = max(self.watch.last_line or start, start)
            if time.monotonic() - last >= quiet:
                return
            time.sleep(0.05)

    def teardown(self) -> None:
        if self.console is not None:
            self.drain_console()
            self.console.close()
        elif self.stream is not None:
            self.stream.close()
        if self.probe is not None:
            self.probe.stop()
        b = self.board
        device: dict[str, object] = {
            "url": b.url,
            "netcut": [asdict(e) for e in b.netcut.events[self._netcut_from :]],
            "resets": b.resets[self._resets_from :],
        }
        if self.stream is not None:
            device["serial"] = {
                "port": b.serial,
                "drops": len(self.stream.drops),
                "reopens": self.stream.reopens,
            }
        if self.probe is not None:
            event, _ = self.probe.session.lockup_events()
            device["probe"] = {"interface": b.probe, "lockup": event.line if event else None}
        self.result.device = device


def verify_on_board(
    board: Board,
    baseline: CampaignConfig,
    candidate: CampaignConfig,
    outdir: Path,
    *,
    flash: Callable[[Path], object],
    alpha: float = 0.05,
    on_cycle=None,
    on_note: Callable[[str], None] | None = None,
):
    """verify-fix on the real board: flash the baseline ELF, run the campaign, flash the
    candidate, run the same schedule, decide (:func:`photondbg.campaign.verify.run_verify`).
    ``flash(elf)`` writes one image to the board and returns once it runs it."""
    from photondbg.campaign.verify import run_verify

    note = on_note or (lambda text: None)

    def before(role: str, cfg: CampaignConfig) -> None:
        note(f"{role}: flashing {cfg.elf}")
        t0 = time.monotonic()
        flash(Path(cfg.elf))
        note(f"{role}: flashed in {time.monotonic() - t0:.1f}s")

    def make(cfg, owner, **kw):
        return BoardCampaign(cfg, board, owner, **kw)

    return run_verify(
        baseline,
        candidate,
        outdir,
        alpha=alpha,
        on_cycle=on_cycle,
        on_note=on_note,
        make_campaign=make,
        before=before,
    )
