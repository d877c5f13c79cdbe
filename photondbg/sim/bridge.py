"""The bridge: the simulated Photon's WiFi access point, LAN and cloud, in one thread.

It speaks the link protocol (docs/link-protocol.md) with the device on USART2 and owns real
TCP sockets on 127.0.0.1. A device ``LISTEN`` on port P binds a free host port (the same one
for P for the whole run, across re-listens and device resets); TCP clients that connect there
are announced with ``ACCEPT`` and their bytes travel as ``DATA`` with a 2048-byte window per
direction. The WiFi model (:mod:`photondbg.sim.wifi`) decides what flows: :meth:`Bridge.cut`
and :meth:`Bridge.restore` may be called from any thread.

Every socket is non-blocking, so a device halted by GDB only stalls its own link: the thread
keeps serving peers, timers and callers, and :meth:`close` always returns.

Parts: :mod:`photondbg.sim.eventloop` (selector, calls from other threads, timers), this module
(the device link: framing, PINGs, dispatch of the device's messages), :mod:`photondbg.sim.nat`
(host ports and TCP peers relayed as link connections) and :mod:`photondbg.sim.access_point`
(the AP/WiFi model: cut, restore, what the device is told).
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from photondbg.errors import PhotondbgError
from photondbg.ports import listen
from photondbg.sim.access_point import AccessPoint
from photondbg.sim.eventloop import EventLoop
from photondbg.sim.link import CONN_IDS, Decoder, Frame, LinkError, Msg, pack, unpack
from photondbg.sim.nat import RECV_CHUNK, Conn, HostListener, Nat, send_rst
from photondbg.sim.wifi import Cut, Delays, parse_cut

PING_INTERVAL = 0.25  # s between PINGs
LINK_BACKLOG_LIMIT = 16 * 1024  # bytes queued to a device that does not read (halted): no PINGs


class Bridge(Nat, AccessPoint):
    """Link-protocol peer of the simulated device; see the module doc."""

    def __init__(
        self,
        link_sock: socket.socket | None,
        *,
        logdir: Path | str | None = None,
        seed: int | None = 0,
        delays: Delays | None = None,
        ping_interval: float = PING_INTERVAL,
        name: str = "bridge",
        host_ports: dict[int, int] | None = None,
    ):
        self.name = name
        self.delays = delays or Delays(seed)
        self.ping_interval = ping_interval
        self.logdir = Path(logdir) if logdir else None
        self._log = None
        if self.logdir:
            self.logdir.mkdir(parents=True, exist_ok=True)
            self._log = open(self.logdir / "bridge.log", "a", buffering=1)
        self._t0 = time.monotonic()
        self.events: list[tuple[float, str]] = []  # (monotonic, text) of control events
        self.stats: dict[str, int] = {
            "frames_in": 0,
            "frames_out": 0,
            "accepts": 0,
            "refused_accepts": 0,
            "peer_bytes_in": 0,
            "peer_bytes_out": 0,
            "resets_to_peers": 0,
            "unknown_conn": 0,
            "bad_payloads": 0,
            "dropped_while_down": 0,
            "hellos": 0,
            "net_resets": 0,
            "pings": 0,
            "pongs": 0,
            "link_eofs": 0,
        }
        # WiFi model: what the AP does, and what the device has been told
        self.ap_power = True
        self.uplink = True
        self.dev_wifi = 0
        self.dev_cloud = 0
        self.app: str | None = None
        self.last_pong: float | None = None  # monotonic time of the newest PONG
        self.last_hello: float | None = None
        # sockets and state owned by the thread
        self.loop = EventLoop()
        self._power_wanted = True  # restore() asked for AP power (it comes after ap_boot)
        self._link: socket.socket | None = None
        self._link_out = bytearray()
        self._decoder = Decoder()
        self._hosts: dict[int, HostListener] = {}  # device port -> host listener
        self._by_lid: dict[int, int] = {}  # device listener id -> device port
        self._conns: dict[int, Conn] = {}  # cid -> Conn (zombies included)
        self._zombies: list[Conn] = []
        self._next_cid = CONN_IDS.start
        self._ping_seq = 0
        self._next_ping = 0.0
        self._cond = threading.Condition()
        self._stop = False
        self._closed = False
        try:
            for device_port, host_port in (host_ports or {}).items():
                # bound now, so a port in use is bad input before anything starts
                sock = listen(host_port)
                sock.setblocking(False)
                self._hosts[device_port] = HostListener(device_port, host_port, sock)
        except BaseException:
            self._teardown()
            raise
        if link_sock is not None:
            self._attach(link_sock)
        self._thread = threading.Thread(target=self._run, name=f"{name}-loop", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public, any thread

    def host_port(self, device_port: int) -> int | None:
        """127.0.0.1 port standing for ``device_port`` (None until the device first listens)."""
        h = self._hosts.get(device_port)
        return h.host_port if h else None

    def wait_host_port(self, device_port: int, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        with self._cond:
            while self.host_port(device_port) is None and not self._stop:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        return self.host_port(device_port)

    def listening(self, device_port: int) -> bool:
        """The device listens on ``device_port`` right now."""
        h = self._hosts.get(device_port)
        return bool(h and h.listener_id is not None)

    def pong_age(self) -> float | None:
        return None if self.last_pong is None else time.monotonic() - self.last_pong

    def cut(self, kind: str | Cut) -> None:
        """Cut the network: ``down`` (AP power) or ``uplink`` (Ethernet cable of the AP)."""
        kind = parse_cut(kind) if isinstance(kind, str) else kind
        self._call(lambda: self._cut(kind))

    def restore(self) -> None:
        """Give the AP its power and cable back."""
        self._call(self._restore)

    def attach(self, link_sock: socket.socket) -> None:
        """Use a new device link (QEMU restarted). Host port mapping is kept."""
        self._call(lambda: self._attach(link_sock))

    def detach(self) -> None:
        """Stop using the device link (before the target closes it): the device is gone."""

        def drop() -> None:
            if self._link is not None:
                self._drop_link("detached")

        self._call(drop)

    def connections(self) -> int:
        return sum(1 for c in list(self._conns.values()) if not c.zombie)

    def close(self) -> None:
        """Stop the thread, close every socket. Safe to call twice, from any thread."""
        if self._closed:
            return
        self._stop = True
        self.loop.wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        self._teardown()

    def __enter__(self) -> "Bridge":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ calls into the thread

    def _call(self, fn: Callable[[], object], timeout: float = 5.0):
        if self._stop or not self._thread.is_alive():
            raise PhotondbgError(f"{self.name} is closed")
        return self.loop.call(fn, timeout)

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        try:
            while not self._stop:
                now = time.monotonic()
                timeout = max(0.0, self._next_ping - now)
                due = self.loop.next_timer()
                if due is not None:
                    timeout = min(timeout, max(0.0, due - now))
                for kind, obj, events in self.loop.select(timeout):
                    try:
                        self._dispatch(kind, obj, events)
                    except Exception as e:  # never let one socket kill the AP
                        self._event(f"internal error on {kind}: {e!r}")
                self.loop.run_calls()
                self.loop.run_timers(lambda e: self._event(f"internal error in timer: {e!r}"))
                self._ping()
        finally:
            with self._cond:
                self._cond.notify_all()

    def _dispatch(self, kind: str, obj, events: int) -> None:
        if kind == "link":
            if events & selectors.EVENT_READ:
                self._link_readable()
            if events & selectors.EVENT_WRITE and self._link is not None:
                self._flush_link()
        elif kind == "host":
            self._accept(obj)
        elif kind == "conn":
            if events & selectors.EVENT_WRITE:
                self._flush_peer(obj)
            live = self._conns.get(obj.cid) is obj or obj in self._zombies
            if events & selectors.EVENT_READ and live:
                self._peer_readable(obj)

    def _ping(self) -> None:
        now = time.monotonic()
        if now < self._next_ping:
            return
        self._next_ping = now + self.ping_interval
        if self._link is None or len(self._link_out) > LINK_BACKLOG_LIMIT:
            return  # device gone or not reading (halted at a breakpoint)
        self._ping_seq = (self._ping_seq + 1) & 0xFFFFFFFF
        self.stats["pings"] += 1
        self._send(pack(Msg.PING, seq=self._ping_seq), log=False)

    # ------------------------------------------------------------------ device link

    def _attach(self, sock: socket.socket) -> None:
        if self._link is not None:
            self._drop_link("replaced")
        sock.setblocking(False)
        self._link = sock
        self._link_out = bytearray()
        self._decoder = Decoder()
        self.dev_wifi = self.dev_cloud = 0
        self.loop.want(sock, selectors.EVENT_READ, ("link", None))
        self._event(f"link attached (fd {sock.fileno()})")

    def _drop_link(self, why: str) -> None:
        self.stats["link_eofs"] += 1
        self._event(f"link closed: {why}")
        self._forget_device(rst=True, reason="device link lost")
        self.loop.forget(self._link)
        # the socket belongs to the target; we only stop using it
        self._link = None
        self._link_out = bytearray()

    def _link_readable(self) -> None:
        if self._link is None:
            return
        try:
            data = self._link.recv(RECV_CHUNK)
        except BlockingIOError:
            return
        except OSError as e:
            self._drop_link(str(e))
            return
        if not data:
            self._drop_link("EOF (the simulator exited)")
            return
        for frame in self._decoder.feed(data):
            self.stats["frames_in"] += 1
            self._on_frame(frame)

    def _send(self, data: bytes, *, log: bool = True, what: str = "") -> None:
        if self._link is None:
            return
        self.stats["frames_out"] += 1
        if log and what:
            self._logline(f"-> {what}")
        self._link_out += data
        self._flush_link()

    def _flush_link(self) -> None:
        if self._link is None:
            return
        while self._link_out:
            try:
                n = self._link.send(self._link_out)
            except BlockingIOError:
                break
            except OSError as e:
                self._drop_link(str(e))
                return
            del self._link_out[:n]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._link_out else 0)
        self.loop.want(self._link, events, ("link", None))

    def _tell_link(self, wifi: int, cloud: int) -> None:
        self.dev_wifi, self.dev_cloud = wifi, cloud
        self._event(f"LINK wifi={wifi} cloud={cloud}")
        self._send(pack(Msg.LINK, wifi=wifi, cloud=cloud), log=False)
        for h in self._hosts.values():
            self._update_host(h)

    # ------------------------------------------------------------------ frames from the device

    def _on_frame(self, frame: Frame) -> None:
        msg = frame.msg
        handler = self._HANDLERS.get(msg) if msg is not None else None
        if handler is None:
            self.stats["bad_payloads"] += 1
            self._logline(f"<- unexpected {frame}")
            return
        try:
            fields = unpack(frame)
        except LinkError as e:
            self.stats["bad_payloads"] += 1
            self._logline(f"<- bad payload: {e}")
            return
        if msg is not None and msg not in (Msg.DATA, Msg.ACK, Msg.PONG):
            self._logline(f"<- {msg.name} {fields}")
        getattr(self, handler)(**fields)

    def _on_hello(self, version: int, app: str, conn: int) -> None:
        self.stats["hellos"] += 1
        self.app = app
        self.last_hello = time.monotonic()
        self._event(f"HELLO v{version} app={app} (device reset)")
        self._forget_device(rst=True, reason="device reset")
        wifi = 1 if self.ap_power else 0
        cloud = 1 if (self.ap_power and self.uplink) else 0
        self._tell_link(wifi, cloud)

    def _on_pong(self, seq: int, conn: int) -> None:
        self.stats["pongs"] += 1
        self.last_pong = time.monotonic()

    _HANDLERS = {  # message -> the method that handles it (here, Nat, AccessPoint)
        Msg.HELLO: "_on_hello",
        Msg.PONG: "_on_pong",
        Msg.NET_RESET: "_on_net_reset",
        Msg.LISTEN: "_on_listen",
        Msg.UNLISTEN: "_on_unlisten",
        Msg.DATA: "_on_data",
        Msg.ACK: "_on_ack",
        Msg.CLOSE: "_on_close",
    }

    # ------------------------------------------------------------------ log and teardown

    def _event(self, text: str) -> None:
        now = time.monotonic()
        self.events.append((now, text))
        self._logline(text, now)

    def _logline(self, text: str, now: float | None = None) -> None:
        if self._log is not None:
            t = (now or time.monotonic()) - self._t0
            try:
                self._log.write(f"{t:10.3f} {text}\n")
            except ValueError:
                pass

    def _teardown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for c in list(self._conns.values()):
            send_rst(c.sock)
        self._conns.clear()
        for z in self._zombies:
            send_rst(z.sock)
        self._zombies.clear()
        for h in self._hosts.values():
            if h.sock is not None:
                h.sock.close()
                h.sock = None
        self.loop.close()
        self._link = None  # owned by the target, which closes it
        self._logline("bridge closed " + " ".join(f"{k}={v}" for k, v in self.stats.items()))
        if self._log is not None:
            self._log.close()
            self._log = None

    def summary(self) -> dict:
        out = dict(self.stats)
        out.update({f"link_{k}": v for k, v in self._decoder.stats.as_dict().items()})
        return out
