"""A Photon in a labgrid board farm: the place's resources through labgrid's own drivers.

labgrid (PyPI ``labgrid``, the optional extra ``photondbg[labgrid]``) runs a coordinator, one
exporter per lab host and *places* that group the resources of one board. A Photon place has:

- ``console``  the Photon's USB serial (exported as a ``NetworkSerialPort``: labgrid's
               ``SerialDriver`` reads it)
- ``http``     a ``NetworkService`` whose address and ``port`` are the app's HTTP server
- ``uplink``   what cuts the access point's uplink, through a labgrid ``PowerProtocol`` driver:
               a ``NetworkPowerPort`` (a PDU outlet feeding the AP or its uplink switch:
               ``NetworkPowerDriver``), a digital output (``DigitalOutputPowerDriver``), or a
               command pair (``ExternalPowerDriver``, e.g. ``photondbg sim netcut``); off =
               cut, on = restore
- ``power``    optional: a ``PowerProtocol`` driver on the Photon's own supply; ``cycle()``
               resets a hung board

The drivers come from a labgrid environment file (``--labgrid-env`` / ``LG_ENV``, a target
``main`` with a ``RemotePlace`` and named drivers), or, without one, are made here from the
place's resources (``SerialDriver``; ``NetworkPowerDriver`` for a ``NetworkPowerPort`` named
``uplink`` or ``power``; ``ExternalPowerDriver`` from ``--netcut-cmd`` / ``--netrestore-cmd``).
The coordinator is ``LG_COORDINATOR`` (labgrid's default 127.0.0.1:20408). The place is
acquired with ``labgrid-client`` unless it already is (then it is left acquired), and released
at the end if photondbg acquired it. See docs/hardware.md §9.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from photondbg.errors import PhotondbgError, ToolFailure, ToolMissing, UsageError

if TYPE_CHECKING:
    from labgrid import Target  # untyped: Any to mypy, named for the reader

ENV_PLACE = "LG_PLACE"
ENV_COORDINATOR = "LG_COORDINATOR"
ENV_ENV = "LG_ENV"
DEFAULT_COORDINATOR = "127.0.0.1:20408"
INSTALL_HINT = "pip install 'photondbg[labgrid]'"


def client_argv(coordinator: str, place: str, *args: str) -> list[str]:
    """``labgrid-client`` for one place (pure: tested without a coordinator)."""
    return [_client_bin(), "-x", coordinator, "-p", place, *args]


def _client_bin() -> str:
    here = Path(sys.executable).with_name("labgrid-client")
    return str(here) if here.exists() else (shutil.which("labgrid-client") or "labgrid-client")


def place_from(place: str | None, env_file: str | None) -> tuple[str | None, str | None]:
    """The place and environment file from the options, else labgrid's own variables."""
    return place or os.environ.get(ENV_PLACE) or None, env_file or os.environ.get(ENV_ENV) or None


@dataclass
class NetCutEvent:  # the fields of photondbg.photon.netcut.NetCutEvent
    action: str
    how: str
    started: float
    seconds: float
    exit_code: int | None = None


class PowerDriver(Protocol):
    """labgrid's ``PowerProtocol``: what :class:`PowerNetCut` switches."""

    def on(self) -> object: ...

    def off(self) -> object: ...


@dataclass
class PowerNetCut:
    """The AP uplink as a labgrid ``PowerProtocol`` driver: off = cut, on = restore."""

    driver: PowerDriver
    events: list[NetCutEvent] = field(default_factory=list)

    def _do(self, action: str, fn) -> None:
        t0, wall = time.monotonic(), time.time()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - labgrid raises many kinds; one line for us
            self.events.append(
                NetCutEvent(
                    action, f"labgrid {self.driver}", wall, round(time.monotonic() - t0, 3), 1
                )
            )
            raise ToolFailure(f"labgrid {action} through {self.driver} failed: {e}") from None
        self.events.append(
            NetCutEvent(action, f"labgrid {self.driver}", wall, round(time.monotonic() - t0, 3), 0)
        )

    def cut(self) -> None:
        self._do("cut", self.driver.off)

    def restore(self) -> None:
        self._do("restore", self.driver.on)


class DriverStream:
    """The port that labgrid's ``SerialDriver`` opened (its URL, speed and proxy are
    labgrid's), behind the socket-like surface :class:`Console` reads (``recv``/``sendall``/
    ``shutdown``/``close``). The bytes are read from the driver's pyserial object directly:
    labgrid's ``read()`` records a step on a process-wide stack that is not safe to use from
    the console's reader thread while the main thread switches the uplink."""

    def __init__(self, driver):
        self.driver = driver
        self.port = driver.serial
        self.drops: list[float] = []  # a network port does not re-enumerate
        self.reopens = 0
        self._closed = threading.Event()

    def recv(self, n: int) -> bytes:
        self.port.timeout = 0.2
        while not self._closed.is_set():
            try:
                data = self.port.read(max(1, min(n, self.port.in_waiting)))
            except Exception:  # noqa: BLE001 - the port went away: end of stream
                return b""
            if data:
                return data
        return b""

    def sendall(self, data: bytes) -> None:
        self.port.write(data)

    def shutdown(self, how=None) -> None:
        self._closed.set()

    def close(self) -> None:
        self._closed.set()


class PhotonPlace:
    """Open with :meth:`open` (acquire, drivers), then ``host``/``port``, ``stream()``,
    ``netcut`` and ``reset``; :meth:`close` deactivates and releases. A context manager."""

    def __init__(
        self,
        place: str,
        *,
        env_file: str | None = None,
        coordinator: str | None = None,
        netcut_cmd: str | None = None,
        netrestore_cmd: str | None = None,
        needs: tuple[str, ...] = ("http", "uplink"),
    ):
        self.place = place
        self.needs = needs  # what the caller cannot do without (capture-fault: neither)
        self.env_file = env_file
        self.coordinator = coordinator or os.environ.get(ENV_COORDINATOR) or DEFAULT_COORDINATOR
        self.netcut_cmds = (netcut_cmd, netrestore_cmd)
        self.target: Target | None = None
        self.acquired_here = False
        self.host: str | None = None
        self.port: int | None = None
        self.console_driver = None
        self.netcut: PowerNetCut | None = None
        self.power = None

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ opening
    def open(self) -> PhotonPlace:
        try:
            import labgrid  # noqa: F401
        except ImportError:
            raise ToolMissing("labgrid", INSTALL_HINT) from None
        if self.env_file and not Path(self.env_file).is_file():
            raise UsageError(f"--labgrid-env {self.env_file}: file not found")
        os.environ[ENV_COORDINATOR] = self.coordinator  # what labgrid's RemotePlace reads
        self._acquire()
        try:
            self.target = self._make_target()
            self._drivers()
        except PhotondbgError:
            self.close()
            raise
        except Exception as e:  # noqa: BLE001 - labgrid errors (config, coordinator, bindings)
            self.close()
            what = f"--labgrid-env {self.env_file}" if self.env_file else f"place {self.place}"
            raise ToolFailure(f"labgrid {what}: {type(e).__name__}: {e}") from None
        except BaseException:
            self.close()
            raise
        return self

    def _client(self, *args: str, check: bool = True) -> str:
        # subprocess (fork + exec in C), not `sh`: labgrid's gRPC threads run in this process,
        # and Python code run between fork and exec could wait forever on a lock they held
        argv = client_argv(self.coordinator, self.place, *args)
        try:
            res = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=60.0,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise ToolMissing("labgrid-client", INSTALL_HINT) from None
        except subprocess.TimeoutExpired:
            raise ToolFailure(
                f"labgrid-client {' '.join(args)} on place {self.place} "
                f"({self.coordinator}) did not answer within 60 s"
            ) from None
        output = res.stdout + res.stderr
        if check and res.returncode != 0:
            last = [ln for ln in output.splitlines() if ln.strip()][-1:] or [
                f"exit status {res.returncode}"
            ]
            raise ToolFailure(
                f"labgrid-client {' '.join(args)} on place {self.place} "
                f"({self.coordinator}): {last[0].strip()}"
            )
        return output

    def _acquire(self) -> None:
        shown = self._client("show", check=False)
        if "matches nothing" in shown or "does not exist" in shown:
            raise UsageError(f"labgrid place {self.place!r} not found on {self.coordinator}")
        if "Place '" not in shown:
            raise ToolFailure(
                f"labgrid coordinator {self.coordinator}: "
                f"{shown.strip().splitlines()[-1:] or 'no answer'}"
            )
        if "acquired: None" in shown:
            self._client("acquire")
            self.acquired_here = True

    def _make_target(self):
        if self.env_file:
            from labgrid import Environment

            env = Environment(config_file=self.env_file)
            target = env.get_target("main")
            if target is None:
                raise UsageError(f"--labgrid-env {self.env_file}: no target 'main'")
            return target
        from labgrid import Target
        from labgrid.resource.remote import RemotePlace

        target = Target(f"photon-{self.place}")
        RemotePlace(target, name=self.place)
        return target

    def _drivers(self) -> None:
        t = self.target
        try:
            svc = t.get_resource("NetworkService", name="http")
            self.host, self.port = svc.address, int(svc.port)
        except Exception:  # noqa: BLE001 - labgrid's NoResourceFoundError and kin
            if "http" in self.needs:
                raise UsageError(
                    f"labgrid place {self.place}: no NetworkService 'http' (the "
                    f"Photon's HTTP address and port)"
                ) from None
        self.console_driver = self._driver("ConsoleProtocol", None, self._serial_driver)
        uplink = self._driver("PowerProtocol", "uplink", self._uplink_driver)
        if uplink is None and "uplink" in self.needs:
            raise UsageError(
                f"labgrid place {self.place}: nothing cuts the AP uplink (a "
                f"PowerProtocol driver 'uplink' in the environment, a "
                f"NetworkPowerPort 'uplink', or --netcut-cmd/--netrestore-cmd)"
            )
        self.netcut = PowerNetCut(uplink) if uplink is not None else None
        self.power = self._driver("PowerProtocol", "power", self._power_driver)

    def _driver(self, protocol: str, name: str | None, make):
        t = self.target
        try:
            drv = (
                t.get_driver(protocol, name=name, activate=False)
                if name
                else t.get_driver(protocol, activate=False)
            )
        except Exception:  # noqa: BLE001 - not in the environment: make it from resources
            drv = make()
        if drv is not None:
            t.activate(drv)
        return drv

    def _serial_driver(self):
        from labgrid.driver import SerialDriver

        for mapping in ({"port": "console"}, None):  # the port named console, else the only one
            try:
                if mapping:
                    self.target.set_binding_map(mapping)
                return SerialDriver(self.target, name="console")
            except Exception:  # noqa: BLE001, S112 - labgrid binding errors: try the next
                continue
        return None

    def _uplink_driver(self):
        cut, restore = self.netcut_cmds
        if cut and restore:
            from labgrid.driver import ExternalPowerDriver

            return ExternalPowerDriver(self.target, name="uplink", cmd_on=restore, cmd_off=cut)
        return self._network_power("uplink")

    def _power_driver(self):
        return self._network_power("power")

    def _network_power(self, name: str):
        from labgrid.driver import NetworkPowerDriver

        try:
            self.target.get_resource("NetworkPowerPort", name=name, wait_avail=False)
        except Exception:  # noqa: BLE001
            return None
        self.target.set_binding_map({"port": name})
        return NetworkPowerDriver(self.target, name=name)

    # ------------------------------------------------------------------ use
    def stream(self) -> DriverStream | None:
        return DriverStream(self.console_driver) if self.console_driver is not None else None

    def console_url(self) -> str | None:
        """The console as a pyserial URL (the one labgrid's SerialDriver built: host, port and
        proxy are labgrid's), the driver closed so that one reader can open it."""
        if self.console_driver is None:
            return None
        url = self.console_driver.serial.port
        self.target.deactivate(self.console_driver)
        return url

    def flash(self, elf: Path) -> None:
        """Write ``elf`` through the place's ``BootstrapProtocol`` driver (labgrid's
        OpenOCDDriver on a USBDebugger, or DFUDriver, from the environment file)."""
        try:
            drv = self.target.get_driver("BootstrapProtocol")
        except Exception:  # noqa: BLE001
            raise UsageError(
                f"labgrid place {self.place}: no BootstrapProtocol driver to "
                f"flash with (an OpenOCDDriver or DFUDriver in --labgrid-env), "
                f"or pass --flash-method"
            ) from None
        try:
            drv.load(str(elf))
        except Exception as e:  # noqa: BLE001
            raise ToolFailure(f"labgrid {drv} could not load {elf}: {e}") from None

    def reset(self) -> None:
        if self.power is None:
            raise ToolFailure(f"labgrid place {self.place}: no 'power' driver to reset with")
        self.power.cycle()

    def close(self) -> None:
        if self.target is not None:
            try:
                self.target.deactivate_all_drivers()
            except Exception:  # noqa: BLE001, S110 - closing: keep going
                pass
            self.target = None
        if self.acquired_here:
            self.acquired_here = False
            try:
                self._client("release")
            except PhotondbgError as e:  # the run's own outcome stands; say what is left
                print(
                    f"photondbg: warning: {e} (release it with labgrid-client -p "
                    f"{self.place} release)",
                    file=sys.stderr,
                )
