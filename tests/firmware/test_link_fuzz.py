"""The firmware's link decoder (firmware/platform/link.c) fuzzed inside QEMU: random bytes,
corrupt CRCs, impossible lengths, truncated frames and well-formed frames the device does not
expect (unknown types, unknown connections, payloads of the wrong size). After each burst the
device must still answer PING (the decoder resynchronised, the main loop runs), and at the end
it must still serve an HTTP request over the link and never have panicked.

Seeded (FUZZ_SEED, printed on failure) so a failing burst can be replayed."""

from __future__ import annotations

import os
import random

import pytest
from test_build_boot import ABSENCE_WINDOW, TIMEOUT, LinkPeer, boot, bring_up, requests

from photondbg import firmware
from photondbg.sim.link import MAX_PAYLOAD, OVERHEAD, SYNC, Msg, encode, pack

FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
BURSTS = 40
# zeros hold no sync byte: whatever pseudo-frame a burst left half-read (a header that declares
# up to MAX_PAYLOAD bytes) is completed by them, fails its CRC and the hunt goes on
PAD = bytes(MAX_PAYLOAD + OVERHEAD)
KNOWN = {int(m) for m in Msg}


def corrupt_crc(rng: random.Random) -> bytes:
    frame = bytearray(pack(Msg.PING, seq=rng.randrange(1 << 32)))
    frame[-1 - rng.randrange(2)] ^= 1 << rng.randrange(8)
    return bytes(frame)


def too_long(rng: random.Random) -> bytes:
    n = rng.randrange(MAX_PAYLOAD + 1, 1 << 16)
    return SYNC + bytes([Msg.DATA, 20]) + n.to_bytes(2, "little") + rng.randbytes(16)


def truncated(rng: random.Random) -> bytes:
    frame = pack(Msg.DATA, 20, data=rng.randbytes(rng.randrange(1, 200)))
    return frame[: rng.randrange(1, len(frame) - 1)]


def random_bytes(rng: random.Random) -> bytes:
    data = bytearray(rng.randbytes(rng.randrange(1, 600)))
    for _ in range(rng.randrange(0, 6)):  # salted with sync pairs: many false starts
        i = rng.randrange(len(data))
        data[i : i + 2] = SYNC
    return bytes(data)


def unexpected(rng: random.Random) -> bytes:
    """Well-formed frames (right CRC) the device must shrug off."""
    choice = rng.randrange(5)
    if choice == 0:  # a type the protocol does not have
        t = rng.choice([t for t in range(256) if t not in KNOWN])
        return encode(t, rng.randrange(256), rng.randbytes(rng.randrange(0, 64)))
    if choice == 1:  # data, ACK or CLOSE for a connection never accepted
        conn = rng.randrange(200, 256)
        return rng.choice(
            [
                pack(Msg.DATA, conn, data=b"GET / HTTP/1.1\r\n\r\n"),
                pack(Msg.ACK, conn, consumed=rng.randrange(1 << 16)),
                pack(Msg.CLOSE, conn),
            ]
        )
    if choice == 2:  # a known message with a payload of the wrong size
        t = rng.choice([Msg.PING, Msg.ACK, Msg.ACCEPT, Msg.LISTEN_OK, Msg.LINK])
        return encode(t, rng.randrange(256), rng.randbytes(rng.choice([0, 1, 3, 17, 300])))
    if choice == 3:  # a device-to-bridge message sent the wrong way
        return encode(
            rng.choice([Msg.HELLO, Msg.PONG, Msg.NET_RESET, Msg.LISTEN]),
            0,
            rng.randbytes(rng.randrange(0, 8)),
        )
    return pack(Msg.LISTEN_OK, rng.randrange(16, 256), status=0, host_port=1)  # no such listener


def pong(peer: LinkPeer, seq: int, start: int) -> bool:
    """Our PING answered (a PING of the wrong size in a burst may be answered too)."""

    def found():
        return any(
            f.type == Msg.PONG
            and len(f.payload) == 4
            and int.from_bytes(f.payload, "little") == seq
            for f in peer.frames[start:]
        )

    with peer._cond:
        return peer._cond.wait_for(found, TIMEOUT)


KINDS = [random_bytes, corrupt_crc, too_long, truncated, unexpected]


@pytest.fixture(scope="module")
def multi_server_all():
    return firmware.build("multi-server", "all")


def test_link_decoder_survives_garbage_and_still_answers(multi_server_all, owner):
    rng = random.Random(FUZZ_SEED)
    target, peer = boot(multi_server_all, owner)
    listener = bring_up(target, peer)
    con_mark = target.console.mark()
    sent = []
    for seq in range(BURSTS):
        kind = KINDS[seq % len(KINDS)]
        burst = b"".join(kind(rng) for _ in range(rng.randrange(1, 6)))
        sent.append(kind.__name__)
        mark = peer.mark()
        peer.send(burst + PAD + pack(Msg.PING, seq=seq))
        assert pong(peer, seq, mark), (
            f"seed {FUZZ_SEED}: no PONG {seq} after burst {seq} ({kind.__name__})"
        )
    # still a working device: its listener serves HTTP, and it never panicked
    answers = requests(peer, listener, [20])
    assert answers[0].startswith(b"HTTP/1.1 200 OK"), f"seed {FUZZ_SEED}: {answers[0][:80]!r}"
    assert target.console.wait_for(r"@panic|@boot", ABSENCE_WINDOW, start=con_mark) is None, (
        f"seed {FUZZ_SEED}: the device panicked or rebooted; bursts {sent}"
    )
    target.stop()
