"""GDB remote serial protocol framing: ``$payload#cs`` packets, acknowledgements, escapes.

Only the framing lives here; what a packet means is :mod:`photondbg.replay.server`'s business.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

INTERRUPT = b"\x03"
ESCAPED = b"#$}*"  # bytes that binary data must escape (``}`` then byte ^ 0x20)
MAX_PACKET = 0x4000  # what we announce as PacketSize; longer packets are refused


class ConnectionClosed(Exception):
    """The client went away."""


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + f"{checksum(payload):02x}".encode()


def escape_binary(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


@dataclass
class Packet:
    payload: bytes
    ok: bool  # checksum matched


class PacketIO:
    """Reads packets from and writes packets to one client socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.ack = True  # until QStartNoAckMode
        self.interrupts = 0

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionClosed()
        self.buf += data

    def read(self) -> Packet:
        """The next packet. Acks and stray bytes between packets are consumed; a Ctrl-C byte is
        counted (a capture never runs, so there is nothing to interrupt)."""
        while True:
            while self.buf and self.buf[0] != ord("$"):
                if self.buf[:1] == INTERRUPT:
                    self.interrupts += 1
                del self.buf[0]
            end = self.buf.find(b"#")
            if self.buf and end >= 0 and len(self.buf) >= end + 3:
                payload = bytes(self.buf[1:end])
                cs = bytes(self.buf[end + 1 : end + 3])
                del self.buf[: end + 3]
                try:
                    ok = int(cs, 16) == checksum(payload)
                except ValueError:
                    ok = False
                if self.ack:
                    self.sock.sendall(b"+" if ok else b"-")
                if not ok:
                    continue
                return Packet(payload, ok)
            if self.buf and end < 0 and len(self.buf) > MAX_PACKET + 8:
                del self.buf[:]  # no terminator within any packet we accept: drop it
                if self.ack:
                    self.sock.sendall(b"-")
            self._fill()

    def write(self, payload: bytes) -> None:
        """Send a packet; in ack mode resend until the client acknowledges it."""
        data = frame(payload)
        for _ in range(16):
            self.sock.sendall(data)
            if not self.ack:
                return
            while True:
                while not self.buf:
                    self._fill()
                c = self.buf[0]
                del self.buf[0]
                if c == ord("+"):
                    return
                if c == ord("-"):
                    break
                if c == ord("$"):  # the client moved on without an ack: keep its packet
                    self.buf.insert(0, c)
                    return
        raise ConnectionClosed()
