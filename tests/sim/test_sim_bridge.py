"""Bridge conformance: a scripted device speaks the link protocol over a socketpair, real TCP
clients connect to the host ports on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from photondbg.sim.bridge import Bridge
from photondbg.sim.link import WINDOW, Decoder, Frame, Msg, pack, unpack
from photondbg.sim.wifi import Delays


class ScriptedDevice:
    """The device end of the link, driven by the test."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.settimeout(0.05)
        self.dec = Decoder()
        self.inbox: list[Frame] = []
        self.pings = 0

    def send(self, msg: Msg, conn: int = 0, **values) -> None:
        self.sock.sendall(pack(msg, conn, **values))

    def _pump(self) -> None:
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        for f in self.dec.feed(data):
            if f.msg is Msg.PING:
                self.pings += 1
                continue
            self.inbox.append(f)

    def expect(self, msg: Msg, conn: int | None = None, timeout: float = 5.0) -> dict:
        end = time.monotonic() + timeout
        while True:
            for i, f in enumerate(self.inbox):
                if f.msg is msg and (conn is None or f.conn == conn):
                    del self.inbox[i]
                    return unpack(f)
            if time.monotonic() > end:
                raise AssertionError(f"no {msg.name} from the bridge; got {self.inbox}")
            self._pump()

    def collect(self, seconds: float) -> list[Frame]:
        """Everything (but PINGs) that arrives within ``seconds``: for 'nothing more comes'."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._pump()
        out, self.inbox = self.inbox, []
        return out

    def boot(self, bridge: Bridge, port: int = 80, lid: int = 1) -> int:
        self.send(Msg.HELLO, version=1, app="test-app")
        assert self.expect(Msg.LINK) == {"wifi": 1, "cloud": 1, "conn": 0}
        self.send(Msg.LISTEN, lid, port=port)
        ok = self.expect(Msg.LISTEN_OK, lid)
        assert ok["status"] == 0
        assert bridge.host_port(port) == ok["host_port"]
        return ok["host_port"]


FAST = {
    k: (0.01, 0.03, "")
    for k in ("down_detect", "ap_boot", "cloud_detect", "cloud_return", "reassociate")
}


@pytest.fixture
def rig(tmp_path):
    a, b = socket.socketpair()
    bridge = Bridge(a, logdir=tmp_path, delays=Delays(1, table=FAST), ping_interval=0.05)
    dev = ScriptedDevice(b)
    yield bridge, dev
    bridge.close()
    a.close()
    b.close()
    assert not any(t.name == "bridge-loop" for t in threading.enumerate())


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


def accept(dev: ScriptedDevice) -> int:
    acc = dev.expect(Msg.ACCEPT)
    assert acc["listener"] == 1 and acc["ip"] == b"\x7f\x00\x00\x01"
    return acc["conn"]


def test_http_exchange_both_ways(rig):
    bridge, dev = rig
    port = dev.boot(bridge)
    client = connect(port)
    cid = accept(dev)
    assert 16 <= cid <= 255
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")
    got = b""
    while len(got) < 18:
        got += dev.expect(Msg.DATA, cid)["data"]
    assert got == b"GET / HTTP/1.1\r\n\r\n"
    dev.send(Msg.ACK, cid, consumed=len(got))
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    dev.send(Msg.DATA, cid, data=body)
    assert dev.expect(Msg.ACK, cid)["consumed"] == len(body)
    dev.send(Msg.CLOSE, cid)
    received = b""
    while chunk := client.recv(4096):
        received += chunk
    assert received == body  # then EOF: the device's CLOSE became a FIN
    client.close()
    assert bridge.summary()["accepts"] == 1


def test_window_limits_unacked_bytes_to_the_device(rig):
    bridge, dev = rig
    port = dev.boot(bridge)
    client = connect(port)
    cid = accept(dev)
    client.sendall(b"x" * 10_000)

    def data_until(total: int) -> list[Frame]:
        """DATA frames until ``total`` bytes came (bounded), then a quiet spell: no more."""
        got: list[Frame] = []
        for _ in range(100):
            got += [f for f in dev.collect(0.05) if f.msg is Msg.DATA]
            if sum(len(f.payload) for f in got) >= total:
                break
        return got + [f for f in dev.collect(0.3) if f.msg is Msg.DATA]

    frames = data_until(WINDOW)
    assert all(len(f.payload) <= 512 for f in frames)
    assert sum(len(f.payload) for f in frames) == WINDOW
    dev.send(Msg.ACK, cid, consumed=1000)
    assert sum(len(f.payload) for f in data_until(1000)) == 1000
    client.close()


def test_peer_close_is_a_close_frame(rig):
    bridge, dev = rig
    port = dev.boot(bridge)
    client = connect(port)
    cid = accept(dev)
    client.close()
    dev.expect(Msg.CLOSE, cid)
    assert bridge.connections() == 0


def test_host_port_is_stable_across_relisten_and_refuses_in_between(rig):
    bridge, dev = rig
    port = dev.boot(bridge)
    dev.send(Msg.UNLISTEN, 1)
    deadline = time.monotonic() + 5
    while bridge.listening(80) and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    dev.send(Msg.LISTEN, 2, port=80)
    assert dev.expect(Msg.LISTEN_OK, 2)["host_port"] == port
    # a second device port gets its own host port
    dev.send(Msg.LISTEN, 3, port=7123)
    other = dev.expect(Msg.LISTEN_OK, 3)["host_port"]
    assert other not in (0, port) and bridge.host_port(7123) == other


def test_ap_down_stalls_peers_then_rsts_them_after_restore(rig):
    bridge, dev = rig
    port = dev.boot(bridge)
    client = connect(port)
    cid = accept(dev)
    bridge.cut("down")
    assert bridge.state == "down"
    assert dev.expect(Msg.LINK) == {"wifi": 0, "cloud": 0, "conn": 0}
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")
    dev.send(Msg.DATA, cid, data=b"late answer")  # the air is empty: nothing reaches the peer
    late = connect(port)  # the kernel completes the handshake; nobody ever answers
    assert not [f for f in dev.collect(0.3) if f.msg in (Msg.DATA, Msg.ACCEPT, Msg.ACK)]
    client.settimeout(0.3)
    with pytest.raises(socket.timeout):
        client.recv(100)
    bridge.restore()
    assert dev.expect(Msg.LINK) == {"wifi": 1, "cloud": 1, "conn": 0}
    client.settimeout(5)
    with pytest.raises(ConnectionResetError):
        client.recv(100)
    late.settimeout(5)
    with pytest.raises((ConnectionResetError, ConnectionRefusedError)):
        if late.recv(100) == b"":
            raise ConnectionResetError
    # the device has not listened again: the port refuses now
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    dev.send(Msg.LISTEN, 1, port=80)
    assert dev.expect(Msg.LISTEN_OK, 1)["host_port"] == port
    connect(port).close()
    accept(dev)


def test_uplink_cut_keeps_lan_until_net_reset(rig):
    bridge, dev = rig
    port = dev.boot(bridge)
    bridge.cut("uplink")
    assert dev.expect(Msg.LINK) == {"wifi": 1, "cloud": 0, "conn": 0}
    client = connect(port)  # LAN still works
    cid = accept(dev)
    client.sendall(b"ping")
    assert dev.expect(Msg.DATA, cid)["data"] == b"ping"
    dev.send(Msg.NET_RESET)
    with pytest.raises(ConnectionResetError):
        if client.recv(100) == b"":
            raise AssertionError("expected a reset, got a clean close")
    assert dev.expect(Msg.LINK) == {"wifi": 0, "cloud": 0, "conn": 0}
    assert dev.expect(Msg.LINK) == {"wifi": 1, "cloud": 0, "conn": 0}  # cable still out
    bridge.restore()
    assert dev.expect(Msg.LINK) == {"wifi": 1, "cloud": 1, "conn": 0}


def test_device_reset_forgets_everything(rig):
    bridge, dev = rig
    port = dev.boot(bridge)
    client = connect(port)
    accept(dev)
    dev.send(Msg.HELLO, version=1, app="again")
    with pytest.raises(ConnectionResetError):
        if client.recv(100) == b"":
            raise AssertionError("expected a reset")
    assert dev.expect(Msg.LINK)["wifi"] == 1
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    assert bridge.app == "again"


def test_pings_and_pongs(rig):
    bridge, dev = rig
    dev.boot(bridge)
    for _ in range(100):
        if dev.pings:
            break
        dev.collect(0.05)
    assert dev.pings >= 1
    assert bridge.last_pong is None
    dev.send(Msg.PONG, seq=1)
    deadline = time.monotonic() + 5
    while bridge.last_pong is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bridge.last_pong is not None


def test_corrupt_and_unknown_frames_are_counted_not_fatal(rig):
    bridge, dev = rig
    bad = bytearray(pack(Msg.LISTEN, 1, port=80))
    bad[-1] ^= 0xFF
    dev.sock.sendall(bytes(bad) + b"\xa5\x5a\x7e\x00\x00\x00\x00\x00" + pack(Msg.PING, seq=1))
    dev.boot(bridge)
    s = bridge.summary()
    assert s["link_crc_errors"] >= 1
    assert s["bad_payloads"] >= 1  # PING is bridge->device, so unexpected from the device


def test_link_eof_drops_device_and_close_is_idempotent(rig):
    bridge, dev = rig
    port = dev.boot(bridge)
    client = connect(port)
    accept(dev)
    dev.sock.close()
    with pytest.raises(ConnectionResetError):
        if client.recv(100) == b"":
            raise AssertionError("expected a reset")
    bridge.close()
    bridge.close()


def test_fixed_host_port_in_use_is_usage_error(tmp_path):
    from photondbg.errors import UsageError

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(UsageError, match=f"port {port} .* in use"):
            Bridge(None, logdir=tmp_path, host_ports={80: port})
    finally:
        taken.close()


def test_fixed_host_port_is_used(tmp_path):
    a, b = socket.socketpair()
    from photondbg.ports import free_port

    want = free_port()
    bridge = Bridge(a, logdir=tmp_path, delays=Delays(1, table=FAST), host_ports={80: want})
    try:
        assert ScriptedDevice(b).boot(bridge) == want
    finally:
        bridge.close()
        a.close()
        b.close()


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from photondbg.sim.link import MAX_PAYLOAD, encode  # noqa: E402

device_frames = st.one_of(
    st.builds(
        encode,
        st.sampled_from([int(m) for m in Msg] + [0x7E]),
        st.integers(0, 255),
        st.binary(max_size=40),
    ),
    st.binary(max_size=30),  # line noise
)


@given(st.lists(device_frames, max_size=25))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_device_babble_leaves_the_bridge_working(tmp_path, babble):
    """Whatever the device sends (wrong payloads, unknown ids, noise), the bridge stays up:
    afterwards a reset device can still boot, listen and serve a TCP client."""
    a, b = socket.socketpair()
    bridge = Bridge(a, logdir=tmp_path, delays=Delays(1, table=FAST), ping_interval=0.05)
    try:
        dev = ScriptedDevice(b)
        # zeros flush a header the noise left half-way, as later traffic would
        b.sendall(b"".join(babble) + bytes(MAX_PAYLOAD + 8))
        dev.collect(0.2)  # let the babble's own effects (a NET_RESET's re-association) pass
        port = dev.boot(bridge, lid=9)
        client = connect(port)
        cid = dev.expect(Msg.ACCEPT)["conn"]
        client.sendall(b"x")
        assert dev.expect(Msg.DATA, cid)["data"] == b"x"
        client.close()
    finally:
        bridge.close()
        a.close()
        b.close()
