"""The simulated Photon's firmware: real arm-none-eabi builds booted in real QEMU.

The link side is driven here frame by frame (docs/link-protocol.md), without the bridge, so the
device's half of the protocol and its socket layer are tested on their own.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from photondbg import firmware
from photondbg.errors import ToolFailure, ToolMissing, UsageError
from photondbg.sim.link import Decoder, Frame, Msg, encode, pack
from photondbg.targets.sim import SimTarget

PROBE_DIR = Path(__file__).parent / "panic_probe"
TIMEOUT = 20.0
# "nothing happens": a bounded wait for the event, not one look. Variant all re-listens 0.04 s
# after the link returns (measured 2026-11-30), a panic follows close_all within ~1 s: 3 s is a
# wide margin that still keeps these tests short.
ABSENCE_WINDOW = 3.0


@pytest.fixture(scope="session")
def elves() -> dict[tuple[str, str], Path]:
    """Every app x variant, plus the panic probe (release and debug), built once per session."""
    built = {
        (app, variant): firmware.build(app, variant)
        for app in firmware.APPS
        for variant in firmware.VARIANTS
    }
    built[("panic-probe", "none")] = firmware.build("panic-probe", "none", appdir=PROBE_DIR)
    built[("panic-probe", "debug")] = firmware.build(
        "panic-probe", "none", appdir=PROBE_DIR, debug=True
    )
    return built


class LinkPeer:
    """The bridge's end of USART2, reduced to what a test needs: send frames, wait for frames."""

    def __init__(self, sock):
        self.sock = sock
        self.decoder = Decoder()
        self.frames: list[Frame] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            while data := self.sock.recv(4096):
                frames = self.decoder.feed(data)
                with self._cond:
                    self.frames += frames
                    self._cond.notify_all()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def mark(self) -> int:
        with self._cond:
            return len(self.frames)

    def wait(
        self, msg: Msg, conn: int | None = None, start: int = 0, timeout: float = TIMEOUT
    ) -> Frame:
        def find():
            return next(
                (
                    f
                    for f in self.frames[start:]
                    if f.type == msg and (conn is None or f.conn == conn)
                ),
                None,
            )

        with self._cond:
            self._cond.wait_for(find, timeout)
            found = find()
        got = [str(f) for f in self.frames[start:]]
        assert found is not None, f"no {msg.name} from the device; got {got}"
        return found

    def absent(self, msg: Msg, start: int = 0, window: float = ABSENCE_WINDOW) -> bool:
        """True when no ``msg`` frame arrives (after ``start``) within ``window`` seconds."""
        with self._cond:
            return not self._cond.wait_for(
                lambda: any(f.type == msg for f in self.frames[start:]), window
            )

    def data(self, conn: int, start: int = 0) -> bytes:
        with self._cond:
            return b"".join(
                f.payload for f in self.frames[start:] if f.type == Msg.DATA and f.conn == conn
            )


def boot(elf: Path, owner) -> tuple[SimTarget, LinkPeer]:
    target = SimTarget(elf, owner).start()
    return target, LinkPeer(target.link)


def bring_up(target: SimTarget, peer: LinkPeer, host_port: int = 40000) -> int:
    """HELLO -> LINK up -> LISTEN -> LISTEN_OK; returns the listener id."""
    peer.wait(Msg.HELLO)
    mark = peer.mark()
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    listen = peer.wait(Msg.LISTEN, start=mark)
    peer.send(pack(Msg.LISTEN_OK, listen.conn, status=0, host_port=host_port))
    assert target.console.wait_for(r"@listen port=\d+", TIMEOUT)
    return listen.conn


REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:41234\r\nUser-Agent: python-requests/2.28.1\r\n"
    b"Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
)


def requests(
    peer: LinkPeer, listener: int, conns: list[int], path: str = "/", until: Msg | None = None
) -> list[bytes] | None:
    """HTTP exchanges over the link, all at once: ACCEPT each, send each request, ACK what comes
    back (as the bridge does once the TCP peer has it), until each connection's CLOSE.
    Returns None if the device sends an ``until`` frame first (e.g. NET_RESET)."""
    mark = peer.mark()
    for conn in conns:
        peer.send(
            pack(Msg.ACCEPT, conn, listener=listener, ip=bytes([127, 0, 0, 1]), port=50000 + conn)
        )
    for conn in conns:
        peer.send(pack(Msg.DATA, conn, data=REQUEST.replace(b"/", path.encode(), 1)))
    acked = dict.fromkeys(conns, 0)
    while True:
        with peer._cond:
            if until is not None and any(f.type == until for f in peer.frames[mark:]):
                return None
            done = {f.conn for f in peer.frames[mark:] if f.type == Msg.CLOSE}
            for conn in conns:
                got = len(peer.data(conn, mark))
                if got > acked[conn]:
                    peer.send(pack(Msg.ACK, conn, consumed=got - acked[conn]))
                    acked[conn] = got
            if done >= set(conns):
                return [peer.data(conn, mark) for conn in conns]
            assert peer._cond.wait(TIMEOUT), f"device stopped answering {conns}"


def _closed(peer: LinkPeer, conn: int, start: int) -> bool:
    return any(f.type == Msg.CLOSE and f.conn == conn for f in peer.frames[start:])


def request(
    peer: LinkPeer, listener: int, conn: int, path: str = "/", until: Msg | None = None
) -> bytes | None:
    answers = requests(peer, listener, [conn], path, until)
    return answers[0] if answers else None


# -- build --------------------------------------------------------------------------------


def test_every_app_and_variant_builds_with_debug_info(elves):
    from elftools.elf.elffile import ELFFile

    for (app, variant), elf in elves.items():
        assert elf.name.endswith(".elf") and elf.with_suffix(".bin").is_file()
        with open(elf, "rb") as f:
            ef = ELFFile(f)
            assert ef.has_dwarf_info(), elf
            symbols = {s.name for s in ef.get_section_by_name(".symtab").iter_symbols()}
            for name in (
                "panic_",
                "HardFault_Handler",
                "MemManage_Handler",
                "BusFault_Handler",
                "UsageFault_Handler",
                "NMI_Handler",
                "USART2_IRQHandler",
                "crash_record",
            ):
                assert name in symbols, (elf, name)
            if app in firmware.APPS:
                assert "socket_accept" in symbols, elf
                # PR #1500 (variant all): nothing calls socket_close_all on WiFi loss any more
                assert ("socket_close_all" in symbols) == (variant != "all"), (elf, variant)
            # the retained record lies in no PT_LOAD segment: QEMU's loader would rewrite it
            retained = ef.get_section_by_name(".retained")
            for seg in ef.iter_segments():
                if seg["p_type"] == "PT_LOAD":
                    assert not seg.section_in_segment(retained), elf


def test_build_is_incremental_and_per_variant(elves):
    elf = elves[("multi-server", "none")]
    before = elf.stat().st_mtime_ns
    assert firmware.build("multi-server", "none") == elf
    assert elf.stat().st_mtime_ns == before
    assert len({p.parent for p in elves.values()}) == len(elves)


def test_build_rejects_bad_input_in_one_line(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="unknown variant 'bogus'"):
        firmware.build("multi-server", "bogus")
    with pytest.raises(UsageError, match="unknown app"):
        firmware.build("web-server", "none")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "app.cpp").write_text(
        '#include "Particle.h"\nvoid setup() { undeclared(); }\nvoid loop() {}\n'
    )
    with pytest.raises(ToolFailure) as err:
        firmware.build("broken", "none", appdir=broken, build_dir=tmp_path / "out")
    assert "error" in str(err.value) and "undeclared" in str(err.value)
    assert "\n" not in str(err.value)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(ToolMissing, match="arm-none-eabi-gcc"):
        firmware.build("multi-server", "none")


# -- boot and serve ------------------------------------------------------------------------


@pytest.mark.parametrize("app", list(firmware.APPS))
def test_boots_says_hello_and_serves_http(elves, owner, app):
    target, peer = boot(elves[(app, "none")], owner)
    hello = peer.wait(Msg.HELLO)
    assert hello.fields() == {"version": 1, "app": app, "conn": 0}
    assert target.console.wait_for(rf"@boot reason=0 data=0 app={app} variant=none", TIMEOUT)
    listener = bring_up(target, peer)
    listen_frame = next(f for f in peer.frames if f.type == Msg.LISTEN)
    assert listen_frame.fields()["port"] == firmware.APPS[app]
    # PING is answered from the main loop
    mark = peer.mark()
    peer.send(pack(Msg.PING, seq=0xC0FFEE))
    assert peer.wait(Msg.PONG, start=mark).fields()["seq"] == 0xC0FFEE
    for conn in (16, 17, 18):
        answer = request(peer, listener, conn)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:80]
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        assert len(body) == length and b"</html>" in body
        if app == "multi-server":
            for header in (b"Date: ", b"Last-Modified: ", b"Content-Type: text/html"):
                assert header in head
    target.stop()


def test_corrupt_frames_are_dropped_and_the_link_resyncs(elves, owner):
    target, peer = boot(elves[("multi-server", "all")], owner)
    bring_up(target, peer)
    good = pack(Msg.PING, seq=7)
    bad_crc = good[:-1] + bytes([good[-1] ^ 0xFF])
    too_long = b"\xa5\x5a" + bytes([Msg.PING, 0]) + (600).to_bytes(2, "little")
    mark = peer.mark()
    # garbage, a frame with a wrong CRC, an impossible length, a sync word inside noise, then a
    # good PING: only the good one is answered
    good = encode(Msg.PING, 0, (8).to_bytes(4, "little"))
    peer.send(b"\x00\xa5\x13" + bad_crc + too_long + b"\xa5" + good)
    pong = peer.wait(Msg.PONG, start=mark)
    assert pong.fields()["seq"] == 8
    assert [f.fields()["seq"] for f in peer.frames[mark:] if f.type == Msg.PONG] == [8]


def test_window_full_write_returns_minus_16_and_resumes_on_ack(elves, owner):
    """/sensors is bigger than the 2048-byte window: without ACKs the device stops at 2048
    (its write() gets -16 and the app retries later); ACKs let the rest through, complete."""
    target, peer = boot(elves[("multi-server", "all")], owner)
    listener = bring_up(target, peer)
    mark = peer.mark()
    peer.send(pack(Msg.ACCEPT, 20, listener=listener, ip=bytes([127, 0, 0, 1]), port=1))
    peer.send(pack(Msg.DATA, 20, data=REQUEST.replace(b"/", b"/sensors", 1)))
    peer.wait(Msg.DATA, 20, start=mark)
    for seq in range(3):  # let the main loop run several times with the window shut
        peer.send(pack(Msg.PING, seq=seq))
        peer.wait(Msg.PONG, start=peer.mark())
    held = len(peer.data(20, mark))
    assert held == 2048 and not _closed(peer, 20, mark)
    acked = 0
    with peer._cond:
        while True:
            got = len(peer.data(20, mark))
            if got > acked:
                peer.send(pack(Msg.ACK, 20, consumed=got - acked))
                acked = got
            if _closed(peer, 20, mark):
                break
            assert peer._cond.wait(TIMEOUT), "the device stopped sending"
    answer = peer.data(20, mark)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert len(body) == int(re.search(rb"Content-Length: (\d+)", head).group(1)) > 2048
    assert body.endswith(b"</html>\n")


# -- the bug, frame by frame ------------------------------------------------------------------

# Overlapping requests (two testers, a browser): "1,2" = one request alone, then two at once.
PATTERNS = ("1,2,1,2", "3,3", "5")


def serve_then_cut(elf, owner, pattern: str = PATTERNS[0]):
    """Serve requests in the given overlap pattern, then cut the WiFi (LINK wifi=0)."""
    target, peer = boot(elf, owner)
    listener = bring_up(target, peer)
    conn = 16
    for batch in pattern.split(","):
        conns = list(range(conn, conn + int(batch)))
        conn += len(conns)
        for answer in requests(peer, listener, conns):
            assert answer.startswith(b"HTTP/1.1 200 OK")
    mark_console = target.console.mark()
    mark = peer.mark()
    peer.send(pack(Msg.LINK, wifi=0, cloud=0))
    return target, peer, listener, mark_console, mark


def test_variant_clients_survives_but_does_not_listen_again(elves, owner):
    target, peer, _, con_mark, mark = serve_then_cut(elves[("multi-server", "clients")], owner)
    assert target.console.wait_for(r"@close_all sockets=\d+", TIMEOUT, start=con_mark)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    peer.send(pack(Msg.PING, seq=99))  # the loop runs again ...
    peer.wait(Msg.PONG, start=mark)
    peer.send(pack(Msg.PING, seq=100))
    peer.wait(Msg.PONG, start=peer.mark())
    # ... but the TCPServer holds the disposed socket's handle: no new LISTEN (NO_RECOVERY)
    assert peer.absent(Msg.LISTEN, start=mark)
    assert target.console.wait_for(r"@panic", ABSENCE_WINDOW, start=con_mark) is None
    target.stop()


def test_variant_all_listens_again_after_the_link_returns(elves, owner):
    """PR #1500: WiFi loss no longer closes every socket; the server's listen pcb outlives the
    WiFi, so it is announced again (LISTEN) when the link returns, and serves."""
    target, peer, _, con_mark, mark = serve_then_cut(elves[("multi-server", "all")], owner)
    assert target.console.wait_for(r"WiFi lost: sockets kept", TIMEOUT, start=con_mark)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    listen = peer.wait(Msg.LISTEN, start=mark)
    peer.send(pack(Msg.LISTEN_OK, listen.conn, status=0, host_port=40000))
    assert request(peer, listen.conn, 40).startswith(b"HTTP/1.1 200 OK")
    assert target.console.wait_for(r"@panic", ABSENCE_WINDOW, start=con_mark) is None
    target.stop()


def test_cloud_loss_makes_the_device_reset_its_wifi(elves, owner):
    target, peer = boot(elves[("simple-server", "all")], owner)
    bring_up(target, peer)
    mark = peer.mark()
    peer.send(pack(Msg.LINK, wifi=1, cloud=0))
    peer.wait(Msg.NET_RESET, start=mark)
    assert target.console.wait_for(r"WiFi reset: sockets kept", TIMEOUT)
    peer.send(pack(Msg.LINK, wifi=0, cloud=0))
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    peer.wait(Msg.LISTEN, start=mark)
    target.stop()


# -- panic -----------------------------------------------------------------------------------


def test_panic_record_survives_the_reset(elves, owner):
    target, peer = boot(elves[("panic-probe", "none")], owner)
    peer.wait(Msg.HELLO)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    panic = target.console.wait_for(
        r"@panic code=1 name=HardFault pc=0x([0-9a-f]{8}) lr=0x([0-9a-f]{8}) "
        r"cfsr=0x([0-9a-f]{8}) hfsr=0x([0-9a-f]{8})",
        TIMEOUT,
    )
    assert panic, target.console.text()
    pc, lr, cfsr, hfsr = (int(x, 16) for x in panic.groups())
    assert pc == 0 and cfsr & (1 << 17) and hfsr & (1 << 30)  # INVSTATE, FORCED
    mark = target.console.mark()
    link_mark = peer.mark()
    boot_line = target.console.wait_for(
        r"@boot reason=130 data=1 app=panic-probe", TIMEOUT, start=mark
    )
    assert boot_line and len(re.findall(r"@sos code=1", target.console.text())) == 2
    record = target.console.wait_for(
        r"@record code=1 name=HardFault pc=0x([0-9a-f]{8}) "
        r"lr=0x([0-9a-f]{8}).* cfsr=0x([0-9a-f]{8}) "
        r"hfsr=0x([0-9a-f]{8})"
        r".* count=(\d+)",
        TIMEOUT,
        start=mark,
    )
    assert record, target.console.text()
    assert [int(x, 16) for x in record.groups()[:4]] == [pc, lr, cfsr, hfsr]
    assert int(record.group(5)) == 1
    # the rebooted device says HELLO again; once the link is up, setup() sees the reason too
    peer.wait(Msg.HELLO, start=link_mark)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    assert target.console.wait_for(r"probe: reset reason 130 data 1", TIMEOUT, start=mark)
    target.stop()


def test_debug_build_blinks_forever(elves, owner):
    target, peer = boot(elves[("panic-probe", "debug")], owner)
    peer.wait(Msg.HELLO)
    peer.send(pack(Msg.LINK, wifi=1, cloud=1))
    assert target.console.wait_for(r"@panic code=1", TIMEOUT)
    mark = target.console.mark()
    for _ in range(3):
        assert target.console.wait_for(r"@sos code=1", TIMEOUT, start=mark)
        mark = target.console.mark()
    assert "reason=130" not in target.console.text()
    target.stop()
