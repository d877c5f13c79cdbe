"""The bridge: the simulated Photon's WiFi access point, LAN and cloud, in one thread.

It speaks the link protocol (docs/link-protocol.md) with the device on USART2 and owns real
TCP sockets on 127.0.0.1. A device ``LISTEN`` on port P binds a free host port (the same one
for P for the whole run, across re-listens and device resets); TCP clients that connect there
are announced with ``ACCEPT`` and their bytes travel as ``DATA`` with a 2048-byte window per
direction. The WiFi model (:mod:`photondbg.sim.wifi`) decides what flows: :meth:`Bridge.cut`
and :meth:`Bridge.restore` may be called from any thread.

Every socket is non-blocking, so a device halted by GDB only stalls its own link: the thread
keeps serving peers, timers and callers, and :meth:`close` always returns.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import selectors
import socket
import struct
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from photondbg.errors import PhotondbgError
from photondbg.ports import LOOPBACK, listen
from photondbg.sim.link import (CONN_IDS, MAX_PAYLOAD, WINDOW, Decoder, Frame, LinkError, Msg,
                                pack, unpack)
from photondbg.sim.wifi import Cut, Delays, parse_cut

PING_INTERVAL = 0.25  # s between PINGs
LINK_BACKLOG_LIMIT = 16 * 1024  # bytes queued to a device that does not read (halted): no PINGs
RECV_CHUNK = 4096


@dataclass
class HostListener:
    """A host port on 127.0.0.1 standing for one device port."""

    device_port: int
    host_port: int
    sock: socket.socket | None = None
    listener_id: int | None = None  # the device's listener id while it listens


@dataclass
class Conn:
    """One TCP peer, known to the device as connection ``cid``."""

    cid: int
    sock: socket.socket
    listener_id: int
    device_port: int
    peer: tuple[str, int]
    to_peer: bytearray = field(default_factory=bytearray)  # device bytes not yet sent to the peer
    unacked: int = 0  # bytes sent to the device and not ACKed yet
    device_closed: bool = False  # device sent CLOSE: close the peer once to_peer is flushed
    zombie: bool = False  # the device forgot it (WiFi lost); the peer hangs until it gives up
    bytes_in: int = 0
    bytes_out: int = 0


def _rst(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a host that lost the connection state does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Bridge:
    """Link-protocol peer of the simulated device; see the module doc."""

    def __init__(self, link_sock: socket.socket | None, *, logdir: Path | str | None = None,
                 seed: int | None = 0, delays: Delays | None = None,
                 ping_interval: float = PING_INTERVAL, name: str = "bridge",
                 host_ports: dict[int, int] | None = None):
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
            "frames_in": 0, "frames_out": 0, "accepts": 0, "refused_accepts": 0,
            "peer_bytes_in": 0, "peer_bytes_out": 0, "resets_to_peers": 0, "unknown_conn": 0,
            "bad_payloads": 0, "dropped_while_down": 0, "hellos": 0, "net_resets": 0,
            "pings": 0, "pongs": 0, "link_eofs": 0,
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
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
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

    @property
    def state(self) -> str:
        """``up``, ``down`` (AP without power) or ``uplink`` (cloud cable pulled)."""
        if not self.ap_power:
            return Cut.DOWN.value
        return "up" if self.uplink else Cut.UPLINK.value

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
        self._call(lambda: self._link is not None and self._drop_link("detached"))

    def connections(self) -> int:
        return sum(1 for c in list(self._conns.values()) if not c.zombie)

    def close(self) -> None:
        """Stop the thread, close every socket. Safe to call twice, from any thread."""
        if self._closed:
            return
        self._stop = True
        self._wake()
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
        fut: Future = Future()
        self._calls.put((fn, fut))
        self._wake()
        return fut.result(timeout=timeout)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _after(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the thread after ``delay`` s (each timer re-checks the state it needs)."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), fn))

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        try:
            while not self._stop:
                now = time.monotonic()
                timeout = max(0.0, self._next_ping - now)
                if self._timers:
                    timeout = min(timeout, max(0.0, self._timers[0][0] - now))
                for key, events in self._sel.select(timeout):
                    kind, obj = key.data
                    try:
                        self._dispatch(kind, obj, events)
                    except Exception as e:  # never let one socket kill the AP
                        self._event(f"internal error on {kind}: {e!r}")
                self._run_calls()
                self._run_timers()
                self._ping()
        finally:
            with self._cond:
                self._cond.notify_all()

    def _dispatch(self, kind: str, obj, events: int) -> None:
        if kind == "wake":
            try:
                self._wake_r.recv(4096)
            except OSError:
                pass
        elif kind == "link":
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

    def _run_calls(self) -> None:
        while True:
            try:
                fn, fut = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            try:
                fn()
            except Exception as e:
                self._event(f"internal error in timer: {e!r}")

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

    # ------------------------------------------------------------------ selector bookkeeping
    def _want(self, sock: socket.socket | None, events: int, data) -> None:
        """Register/modify/unregister ``sock`` for ``events`` (0 = not at all)."""
        if sock is None:
            return
        try:
            fd = sock.fileno()
        except OSError:
            return
        if fd < 0:
            return
        key = self._sel.get_map().get(fd)
        if key is not None and key.fileobj is not sock:
            # a closed socket whose fd number the kernel has handed out again
            try:
                self._sel.unregister(key.fileobj)
            except (KeyError, ValueError, OSError):
                pass
            key = None
        old = key.events if key is not None else 0
        try:
            if not events:
                if old:
                    self._sel.unregister(sock)
            elif not old:
                self._sel.register(sock, events, data)
            elif events != old or key.data != data:
                self._sel.modify(sock, events, data)
        except (KeyError, ValueError, OSError):
            pass

    def _forget_sock(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        self._want(sock, 0, None)

    # ------------------------------------------------------------------ device link
    def _attach(self, sock: socket.socket) -> None:
        if self._link is not None:
            self._drop_link("replaced")
        sock.setblocking(False)
        self._link = sock
        self._link_out = bytearray()
        self._decoder = Decoder()
        self.dev_wifi = self.dev_cloud = 0
        self._want(sock, selectors.EVENT_READ, ("link", None))
        self._event(f"link attached (fd {sock.fileno()})")

    def _drop_link(self, why: str) -> None:
        self.stats["link_eofs"] += 1
        self._event(f"link closed: {why}")
        self._forget_device(rst=True, reason="device link lost")
        self._forget_sock(self._link)
        # the socket belongs to the target; we only stop using it
        self._link = None
        self._link_out = bytearray()

    def _link_readable(self) -> None:
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
        self._want(self._link, events, ("link", None))

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
        if msg not in (Msg.DATA, Msg.ACK, Msg.PONG):
            self._logline(f"<- {msg.name} {fields}")
        handler(self, **fields)

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

    def _on_net_reset(self, conn: int) -> None:
        self.stats["net_resets"] += 1
        self._event("NET_RESET from the device: dropping its connections, re-associating")
        self._forget_device(rst=True, reason="WiFi reset")
        self._tell_link(0, 0)
        self._after(self.delays.draw("reassociate"), self._reassociated)

    def _reassociated(self) -> None:
        if self.ap_power and self.dev_wifi == 0 and self._link is not None:
            self._tell_link(1, 1 if self.uplink else 0)

    def _on_listen(self, port: int, conn: int) -> None:
        lid = conn
        old = self._by_lid.pop(lid, None)
        if old is not None and old != port:
            self._release_listener(old)
        host = self._hosts.get(port)
        if host is None or host.sock is None:
            want = host.host_port if host else 0
            try:
                sock = listen(want)
            except (PhotondbgError, OSError) as e:
                self._event(f"LISTEN port={port}: cannot bind 127.0.0.1:{want}: {e}")
                self._send(pack(Msg.LISTEN_OK, lid, status=1, host_port=0), what="LISTEN_OK fail")
                return
            sock.setblocking(False)
            if host is None:
                host = HostListener(port, sock.getsockname()[1])
                self._hosts[port] = host
            host.sock = sock
        if host.listener_id is not None and host.listener_id != lid:
            self._by_lid.pop(host.listener_id, None)
        host.listener_id = lid
        self._by_lid[lid] = port
        self._update_host(host)
        self._event(f"device port {port} -> {LOOPBACK}:{host.host_port} (listener {lid})")
        self._send(pack(Msg.LISTEN_OK, lid, status=0, host_port=host.host_port),
                   what=f"LISTEN_OK {lid} {host.host_port}")
        with self._cond:
            self._cond.notify_all()

    def _on_unlisten(self, conn: int) -> None:
        port = self._by_lid.pop(conn, None)
        if port is not None:
            self._release_listener(port)

    def _on_data(self, data: bytes, conn: int) -> None:
        c = self._conns.get(conn)
        if c is None or c.zombie:
            self.stats["unknown_conn"] += 1
            return
        if not self.ap_power:
            self.stats["dropped_while_down"] += len(data)
            return  # the air is empty: no ACK, the device's window fills up
        c.to_peer += data
        self._flush_peer(c)

    def _on_ack(self, consumed: int, conn: int) -> None:
        c = self._conns.get(conn)
        if c is None or c.zombie:
            return
        c.unacked = max(0, c.unacked - consumed)
        self._update_conn(c)

    def _on_close(self, conn: int) -> None:
        c = self._conns.get(conn)
        if c is None or c.zombie:
            return
        c.device_closed = True
        if not self.ap_power:
            self._make_zombie(c)  # the FIN never reaches the peer
            return
        if not c.to_peer:
            self._close_conn(c, graceful=True)
        else:
            self._update_conn(c)

    _HANDLERS = {
        Msg.HELLO: _on_hello, Msg.PONG: _on_pong, Msg.NET_RESET: _on_net_reset,
        Msg.LISTEN: _on_listen, Msg.UNLISTEN: _on_unlisten, Msg.DATA: _on_data,
        Msg.ACK: _on_ack, Msg.CLOSE: _on_close,
    }

    # ------------------------------------------------------------------ listeners
    def _update_host(self, host: HostListener) -> None:
        accepting = (host.sock is not None and host.listener_id is not None and self.ap_power
                     and self.dev_wifi == 1 and self._link is not None)
        self._want(host.sock, selectors.EVENT_READ if accepting else 0, ("host", host))

    def _release_listener(self, port: int) -> None:
        """The device stopped listening on ``port``. With the AP up, the host port refuses
        from now on; with the AP down it stays silent (connections time out) until restore."""
        host = self._hosts.get(port)
        if host is None:
            return
        host.listener_id = None
        self._update_host(host)
        if self.ap_power and host.sock is not None:
            self._forget_sock(host.sock)
            host.sock.close()  # pending, never-accepted connections get a RST
            host.sock = None
            self._event(f"device port {port} no longer listening ({LOOPBACK}:{host.host_port} refuses)")

    def _accept(self, host: HostListener) -> None:
        if not (self.ap_power and self.dev_wifi == 1 and host.listener_id is not None):
            self._update_host(host)  # stale readiness: leave it in the backlog
            return
        try:
            sock, peer = host.sock.accept()
        except (BlockingIOError, OSError):
            return
        cid = self._alloc_cid()
        if cid is None or host.listener_id is None:
            self.stats["refused_accepts"] += 1
            _rst(sock)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(cid, sock, host.listener_id, host.device_port, peer)
        self._conns[cid] = c
        self.stats["accepts"] += 1
        ip = socket.inet_aton(peer[0])
        self._send(pack(Msg.ACCEPT, cid, listener=host.listener_id, ip=ip, port=peer[1]),
                   what=f"ACCEPT {cid} listener={host.listener_id} from {peer[0]}:{peer[1]}")
        self._update_conn(c)

    def _alloc_cid(self) -> int | None:
        """Next free id in rotation, so a just-closed id is not reused at once."""
        n = len(CONN_IDS)
        for i in range(n):
            cid = CONN_IDS.start + (self._next_cid - CONN_IDS.start + i) % n
            if cid not in self._conns:
                self._next_cid = CONN_IDS.start + (cid - CONN_IDS.start + 1) % n
                return cid
        return None

    # ------------------------------------------------------------------ TCP peers
    def _update_conn(self, c: Conn) -> None:
        if c.zombie:
            events = selectors.EVENT_READ  # only to notice the peer giving up
        else:
            events = 0
            if self.ap_power and c.unacked < WINDOW and not c.device_closed:
                events |= selectors.EVENT_READ
            if self.ap_power and c.to_peer:
                events |= selectors.EVENT_WRITE
        self._want(c.sock, events, ("conn", c))

    def _peer_readable(self, c: Conn) -> None:
        if not c.zombie and not self.ap_power:
            self._update_conn(c)  # a stale readiness from before the cut: the air is empty
            return
        room = RECV_CHUNK if c.zombie else min(RECV_CHUNK, WINDOW - c.unacked)
        if room <= 0:
            self._update_conn(c)
            return
        try:
            data = c.sock.recv(room)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if c.zombie:
            if not data:
                self._drop_zombie(c)
            return
        if not data:  # the peer closed (or reset): tell the device
            self._close_conn(c, graceful=False)
            self._send(pack(Msg.CLOSE, c.cid), what=f"CLOSE {c.cid} (peer closed)")
            return
        c.bytes_in += len(data)
        self.stats["peer_bytes_in"] += len(data)
        for i in range(0, len(data), MAX_PAYLOAD):
            self._send(pack(Msg.DATA, c.cid, data=data[i:i + MAX_PAYLOAD]), log=False)
        c.unacked += len(data)
        self._update_conn(c)

    def _flush_peer(self, c: Conn) -> None:
        if c.cid not in self._conns or c.zombie or not self.ap_power:
            return
        sent = 0
        while c.to_peer:
            try:
                n = c.sock.send(c.to_peer)
            except BlockingIOError:
                break
            except OSError:
                # the peer is gone: the device learns it by a CLOSE
                self._close_conn(c, graceful=False)
                self._send(pack(Msg.CLOSE, c.cid), what=f"CLOSE {c.cid} (peer reset)")
                return
            del c.to_peer[:n]
            sent += n
        if sent:
            c.bytes_out += sent
            self.stats["peer_bytes_out"] += sent
            while sent:
                part = min(sent, 0xFFFF)
                self._send(pack(Msg.ACK, c.cid, consumed=part), log=False)
                sent -= part
        if c.device_closed and not c.to_peer:
            self._close_conn(c, graceful=True)
        else:
            self._update_conn(c)

    def _close_conn(self, c: Conn, *, graceful: bool) -> None:
        self._forget_sock(c.sock)
        self._conns.pop(c.cid, None)
        if graceful:
            try:
                c.sock.close()
            except OSError:
                pass
        else:
            _rst(c.sock)

    def _make_zombie(self, c: Conn) -> None:
        """The device forgot ``c`` while the AP is down: the peer is left hanging."""
        self._conns.pop(c.cid, None)
        c.zombie = True
        c.to_peer.clear()
        self._zombies.append(c)
        self._update_conn(c)

    def _drop_zombie(self, c: Conn, rst: bool = False) -> None:
        self._forget_sock(c.sock)
        if c in self._zombies:
            self._zombies.remove(c)
        if rst:
            self.stats["resets_to_peers"] += 1
            _rst(c.sock)
        else:
            try:
                c.sock.close()
            except OSError:
                pass

    def _forget_device(self, *, rst: bool, reason: str) -> None:
        """The device disposed every socket (reset, WiFi loss): its listeners and connections
        are gone. With ``rst`` the peers learn it at once; otherwise they hang (AP down)."""
        conns = list(self._conns.values())
        for c in conns:
            if rst:
                self.stats["resets_to_peers"] += 1
                self._close_conn(c, graceful=False)
            else:
                self._make_zombie(c)
        if conns:
            self._event(f"{len(conns)} connection(s) dropped ({reason}"
                        f"{', RST to peers' if rst else ', peers left to time out'})")
        for lid, port in list(self._by_lid.items()):
            del self._by_lid[lid]
            self._release_listener(port)

    # ------------------------------------------------------------------ the WiFi model
    def _cut(self, kind: Cut) -> None:
        self._event(f"cut {kind.value}")
        if kind is Cut.DOWN:
            self.ap_power = False
            self._power_wanted = False
            for c in self._conns.values():
                self._update_conn(c)
            for h in self._hosts.values():
                self._update_host(h)
            self._after(self.delays.draw("down_detect"), self._down_detected)
        else:
            self.uplink = False
            self._after(self.delays.draw("cloud_detect"), self._cloud_lost)

    def _down_detected(self) -> None:
        if self.ap_power or self.dev_wifi == 0:
            return
        self._forget_device(rst=False, reason="AP down")
        self._tell_link(0, 0)

    def _cloud_lost(self) -> None:
        if not self.uplink and self.ap_power and self.dev_wifi == 1 and self.dev_cloud == 1:
            self._tell_link(1, 0)

    def _restore(self) -> None:
        self._event("restore")
        self.uplink = True
        if not self.ap_power:
            self._power_wanted = True
            self._after(self.delays.draw("ap_boot"), self._ap_up)
        elif self.dev_wifi == 1 and self.dev_cloud == 0:
            self._after(self.delays.draw("cloud_return"), self._cloud_back)

    def _ap_up(self) -> None:
        if self.ap_power or not self._power_wanted:
            return
        self.ap_power = True
        self._event("AP up")
        for z in list(self._zombies):  # the device answers their retransmissions with RST
            self._drop_zombie(z, rst=True)
        for port, h in self._hosts.items():
            if h.listener_id is None and h.sock is not None:
                self._release_listener(port)
        if self._link is not None and self.dev_wifi == 0:
            self._tell_link(1, 1)
        elif self._link is not None and self.dev_cloud == 0:
            self._tell_link(1, 1)
        for c in self._conns.values():
            self._flush_peer(c)
            self._update_conn(c)
        for h in self._hosts.values():
            self._update_host(h)

    def _cloud_back(self) -> None:
        if self.uplink and self.ap_power and self.dev_wifi == 1 and self.dev_cloud == 0:
            self._tell_link(1, 1)

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
            _rst(c.sock)
        self._conns.clear()
        for z in self._zombies:
            _rst(z.sock)
        self._zombies.clear()
        for h in self._hosts.values():
            if h.sock is not None:
                h.sock.close()
                h.sock = None
        try:
            self._sel.close()
        except Exception:
            pass
        for s in (self._wake_r, self._wake_w):
            s.close()
        self._link = None  # owned by the target, which closes it
        self._logline("bridge closed " + " ".join(f"{k}={v}" for k, v in self.stats.items()))
        if self._log is not None:
            self._log.close()
            self._log = None

    def summary(self) -> dict:
        out = dict(self.stats)
        out.update({f"link_{k}": v for k, v in self._decoder.stats.as_dict().items()})
        return out
