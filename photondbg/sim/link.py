"""The USART2 link between the simulated Photon and the bridge (docs/link-protocol.md).

Frame: ``A5 5A | type u8 | conn u8 | len u16 LE | payload[len] | crc u16 LE``, the CRC being
CRC-16/CCITT-FALSE over ``type, conn, len, payload``. Message layouts are one data table
(:data:`LAYOUTS`); :func:`pack` / :func:`unpack` read it. :class:`Decoder` takes the byte stream
in arbitrary pieces, hunts for the sync word and counts what it had to throw away.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field
from enum import IntEnum

SYNC = b"\xa5\x5a"
HEADER = struct.Struct("<BBH")  # type, conn, len
CRC = struct.Struct("<H")
MAX_PAYLOAD = 512
OVERHEAD = len(SYNC) + HEADER.size + CRC.size
PROTOCOL_VERSION = 1

WINDOW = 2048  # bytes a sender may keep un-ACKed per connection
LISTENER_IDS = range(1, 16)
CONN_IDS = range(16, 256)
SEND_BUFFER_FULL = -16  # what a device send() returns when the window is full


class Msg(IntEnum):
    HELLO = 0x01
    LINK = 0x02
    NET_RESET = 0x03
    PING = 0x04
    PONG = 0x05
    LISTEN = 0x10
    LISTEN_OK = 0x11
    ACCEPT = 0x12
    UNLISTEN = 0x13
    DATA = 0x20
    ACK = 0x21
    CLOSE = 0x30


@dataclass(frozen=True)
class Layout:
    """A payload: fixed fields (struct format + names), then optionally a variable tail."""

    fmt: str = ""
    names: tuple[str, ...] = ()
    tail: str | None = None  # name of the trailing bytes field, if any
    text: bool = False  # the tail is ASCII text

    @property
    def fixed(self) -> struct.Struct:
        return struct.Struct("<" + self.fmt)


#            message         fixed fields              names                                   tail
LAYOUTS: dict[Msg, Layout] = {
    Msg.HELLO: Layout("B", ("version",), tail="app", text=True),
    Msg.LINK: Layout("BB", ("wifi", "cloud")),
    Msg.NET_RESET: Layout(),
    Msg.PING: Layout("I", ("seq",)),
    Msg.PONG: Layout("I", ("seq",)),
    Msg.LISTEN: Layout("H", ("port",)),
    Msg.LISTEN_OK: Layout("BH", ("status", "host_port")),
    Msg.ACCEPT: Layout("B4sH", ("listener", "ip", "port")),
    Msg.UNLISTEN: Layout(),
    Msg.DATA: Layout("", (), tail="data"),
    Msg.ACK: Layout("H", ("consumed",)),
    Msg.CLOSE: Layout(),
}


class LinkError(ValueError):
    """A payload that does not fit its message layout."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class Frame:
    type: int
    conn: int = 0
    payload: bytes = b""

    @property
    def msg(self) -> Msg | None:
        try:
            return Msg(self.type)
        except ValueError:
            return None

    def encode(self) -> bytes:
        return encode(self.type, self.conn, self.payload)

    def fields(self) -> dict:
        return unpack(self)

    def __str__(self) -> str:
        name = self.msg.name if self.msg else f"0x{self.type:02x}"
        return f"{name} conn={self.conn} len={len(self.payload)}"


def encode(type_: int, conn: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise LinkError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    if not (0 <= type_ <= 255 and 0 <= conn <= 255):
        raise LinkError(f"type {type_} / conn {conn} out of range")
    body = HEADER.pack(type_, conn, len(payload)) + payload
    return SYNC + body + CRC.pack(crc16(body))


def pack(msg: Msg, conn: int = 0, **values) -> bytes:
    """Encode a whole frame for ``msg`` from named fields, e.g.
    ``pack(Msg.LINK, wifi=1, cloud=0)``."""
    layout = LAYOUTS[msg]
    missing = [n for n in layout.names if n not in values]
    extra = set(values) - set(layout.names) - ({layout.tail} if layout.tail else set())
    if missing or extra:
        raise LinkError(f"{msg.name}: missing {missing} / unexpected {sorted(extra)}")
    try:
        payload = layout.fixed.pack(*(values[n] for n in layout.names))
    except struct.error as e:
        raise LinkError(f"{msg.name}: {e}") from None
    if layout.tail:
        tail = values.get(layout.tail, b"")
        payload += tail.encode("ascii") if isinstance(tail, str) else bytes(tail)
    return encode(msg, conn, payload)


def unpack(frame: Frame) -> dict:
    """Named fields of a frame's payload (plus ``conn``). Raises LinkError when it does not fit."""
    msg = frame.msg
    if msg is None:
        raise LinkError(f"unknown message type 0x{frame.type:02x}")
    layout = LAYOUTS[msg]
    fixed = layout.fixed
    if len(frame.payload) < fixed.size or (not layout.tail and len(frame.payload) != fixed.size):
        raise LinkError(
            f"{msg.name}: payload of {len(frame.payload)} bytes, layout needs "
            f"{fixed.size}{'+' if layout.tail else ''}"
        )
    out = dict(zip(layout.names, fixed.unpack_from(frame.payload)))
    if layout.tail:
        tail = frame.payload[fixed.size :]
        out[layout.tail] = tail.decode("ascii", "replace") if layout.text else tail
    out["conn"] = frame.conn
    return out


@dataclass
class DecoderStats:
    frames: int = 0
    crc_errors: int = 0
    length_errors: int = 0
    skipped_bytes: int = 0  # bytes thrown away while hunting for a sync word

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Decoder:
    """Incremental frame decoder: ``feed(bytes) -> [Frame, ...]``."""

    max_payload: int = MAX_PAYLOAD
    stats: DecoderStats = field(default_factory=DecoderStats)
    _buf: bytearray = field(default_factory=bytearray, repr=False)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        buf = self._buf
        while True:
            start = buf.find(SYNC)
            if start < 0:
                # keep a trailing A5: it may be the first half of a sync word
                keep = 1 if buf[-1:] == SYNC[:1] else 0
                self.stats.skipped_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if start:
                self.stats.skipped_bytes += start
                del buf[:start]
            if len(buf) < len(SYNC) + HEADER.size:
                break
            type_, conn, length = HEADER.unpack_from(buf, len(SYNC))
            if length > self.max_payload:
                self.stats.length_errors += 1
                self._resync()
                continue
            total = len(SYNC) + HEADER.size + length + CRC.size
            if len(buf) < total:
                break
            body = bytes(buf[len(SYNC) : total - CRC.size])
            (crc,) = CRC.unpack_from(buf, total - CRC.size)
            if crc != crc16(body):
                self.stats.crc_errors += 1
                self._resync()
                continue
            frames.append(Frame(type_, conn, body[HEADER.size :]))
            self.stats.frames += 1
            del buf[:total]
        return frames

    def _resync(self) -> None:
        """Drop the first sync byte; the hunt restarts at the byte after it."""
        self.stats.skipped_bytes += 1
        del self._buf[:1]

    @property
    def pending(self) -> int:
        return len(self._buf)
