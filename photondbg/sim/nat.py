"""The bridge's LAN side (NAT): host ports on 127.0.0.1 standing for the device's listeners,
TCP peers accepted there and relayed to the device as link connections, with the 2048-byte
window per direction, and what the peers see when the device forgets them (RST, or silence
while the AP is down).

:class:`Nat` is a part of :class:`photondbg.sim.bridge.Bridge` (it runs in the bridge's loop
thread and uses its link and WiFi state).
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from photondbg.errors import PhotondbgError
from photondbg.ports import LOOPBACK, listen
from photondbg.sim.eventloop import EventLoop
from photondbg.sim.link import CONN_IDS, MAX_PAYLOAD, WINDOW, Msg, pack

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


def send_rst(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a host that lost the connection state does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Nat:
    """Listeners and connections of the device, relayed to real sockets (a Bridge part)."""

    # the Bridge's state this part works on (set in Bridge.__init__)
    loop: EventLoop
    stats: dict[str, int]
    ap_power: bool
    dev_wifi: int
    _link: socket.socket | None
    _hosts: dict[int, HostListener]
    _by_lid: dict[int, int]
    _conns: dict[int, Conn]
    _zombies: list[Conn]
    _next_cid: int
    _cond: threading.Condition

    if TYPE_CHECKING:  # the Bridge's own methods

        def _send(self, data: bytes, *, log: bool = True, what: str = "") -> None: ...
        def _event(self, text: str) -> None: ...

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
        self._send(
            pack(Msg.LISTEN_OK, lid, status=0, host_port=host.host_port),
            what=f"LISTEN_OK {lid} {host.host_port}",
        )
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

    def _update_host(self, host: HostListener) -> None:
        accepting = (
            host.sock is not None
            and host.listener_id is not None
            and self.ap_power
            and self.dev_wifi == 1
            and self._link is not None
        )
        self.loop.want(host.sock, selectors.EVENT_READ if accepting else 0, ("host", host))

    def _release_listener(self, port: int) -> None:
        """The device stopped listening on ``port``. With the AP up, the host port refuses
        from now on; with the AP down it stays silent (connections time out) until restore."""
        host = self._hosts.get(port)
        if host is None:
            return
        host.listener_id = None
        self._update_host(host)
        if self.ap_power and host.sock is not None:
            self.loop.forget(host.sock)
            host.sock.close()  # pending, never-accepted connections get a RST
            host.sock = None
            self._event(
                f"device port {port} no longer listening ({LOOPBACK}:{host.host_port} refuses)"
            )

    def _accept(self, host: HostListener) -> None:
        if not (self.ap_power and self.dev_wifi == 1 and host.listener_id is not None):
            self._update_host(host)  # stale readiness: leave it in the backlog
            return
        if host.sock is None:
            return
        try:
            sock, peer = host.sock.accept()
        except (BlockingIOError, OSError):
            return
        cid = self._alloc_cid()
        if cid is None or host.listener_id is None:
            self.stats["refused_accepts"] += 1
            send_rst(sock)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(cid, sock, host.listener_id, host.device_port, peer)
        self._conns[cid] = c
        self.stats["accepts"] += 1
        ip = socket.inet_aton(peer[0])
        self._send(
            pack(Msg.ACCEPT, cid, listener=host.listener_id, ip=ip, port=peer[1]),
            what=f"ACCEPT {cid} listener={host.listener_id} from {peer[0]}:{peer[1]}",
        )
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

    def _update_conn(self, c: Conn) -> None:
        if c.zombie:
            events = selectors.EVENT_READ  # only to notice the peer giving up
        else:
            events = 0
            if self.ap_power and c.unacked < WINDOW and not c.device_closed:
                events |= selectors.EVENT_READ
            if self.ap_power and c.to_peer:
                events |= selectors.EVENT_WRITE
        self.loop.want(c.sock, events, ("conn", c))

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
            self._send(pack(Msg.DATA, c.cid, data=data[i : i + MAX_PAYLOAD]), log=False)
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
        self.loop.forget(c.sock)
        self._conns.pop(c.cid, None)
        if graceful:
            try:
                c.sock.close()
            except OSError:
                pass
        else:
            send_rst(c.sock)

    def _make_zombie(self, c: Conn) -> None:
        """The device forgot ``c`` while the AP is down: the peer is left hanging."""
        self._conns.pop(c.cid, None)
        c.zombie = True
        c.to_peer.clear()
        self._zombies.append(c)
        self._update_conn(c)

    def _drop_zombie(self, c: Conn, rst: bool = False) -> None:
        self.loop.forget(c.sock)
        if c in self._zombies:
            self._zombies.remove(c)
        if rst:
            self.stats["resets_to_peers"] += 1
            send_rst(c.sock)
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
            self._event(
                f"{len(conns)} connection(s) dropped ({reason}"
                f"{', RST to peers' if rst else ', peers left to time out'})"
            )
        for lid, port in list(self._by_lid.items()):
            del self._by_lid[lid]
            self._release_listener(port)
