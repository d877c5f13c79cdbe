"""Link codec: round-trips, the byte-exact frame, and corrupt input counted and skipped."""

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photondbg.sim.link import (
    LAYOUTS,
    MAX_PAYLOAD,
    SYNC,
    Decoder,
    Frame,
    LinkError,
    Msg,
    crc16,
    encode,
    pack,
    unpack,
)

frames = st.builds(Frame, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=MAX_PAYLOAD))


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1  # the catalogue check value


def test_known_frame_bytes():
    raw = pack(Msg.LINK, wifi=1, cloud=0)
    body = bytes([0x02, 0x00, 0x02, 0x00, 0x01, 0x00])
    assert raw == SYNC + body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "little")


@given(st.lists(frames, max_size=8), st.integers(1, 64))
@settings(max_examples=150, deadline=None)
def test_round_trip_in_any_chunking(fs, chunk):
    stream = b"".join(f.encode() for f in fs)
    dec = Decoder()
    out = []
    for i in range(0, len(stream), chunk):
        out += dec.feed(stream[i : i + chunk])
    assert out == fs
    assert dec.stats.crc_errors == dec.stats.length_errors == 0


@given(frames, st.integers(0, 10_000), st.integers(1, 255))
@settings(max_examples=200, deadline=None)
def test_corrupt_frame_is_dropped_and_next_one_survives(f, pos, flip):
    raw = bytearray(f.encode())
    i = len(SYNC) + pos % (len(raw) - len(SYNC))  # corrupt anything after the sync word
    raw[i] ^= flip
    good = Frame(Msg.PONG, 0, b"\x01\x02\x03\x04")
    dec = Decoder()
    # a corrupted length may swallow what follows until enough bytes arrived: pad like traffic
    out = dec.feed(bytes(raw) + good.encode() + bytes(MAX_PAYLOAD + 8) + good.encode())
    assert out[-1] == good
    assert f not in out
    assert dec.stats.crc_errors + dec.stats.length_errors >= 1


def test_too_long_length_resyncs_after_first_sync_byte():
    # a bogus header claiming 0xFFFF bytes, whose payload hides a real frame
    good = pack(Msg.PING, seq=7)
    bogus = SYNC + bytes([0x20, 16, 0xFF, 0xFF])
    dec = Decoder()
    assert dec.feed(bogus + good) == [Frame(Msg.PING, 0, (7).to_bytes(4, "little"))]
    assert dec.stats.length_errors == 1


def test_garbage_between_frames_is_skipped():
    dec = Decoder()
    out = dec.feed(b"\x00\xa5\x11garbage\xa5" + pack(Msg.CLOSE, 17) + b"\xa5")
    assert out == [Frame(Msg.CLOSE, 17)]
    assert dec.stats.skipped_bytes >= 10
    assert dec.pending == 1  # a lone A5 may start the next sync word


@pytest.mark.parametrize("msg", list(Msg))
def test_every_layout_round_trips(msg):
    layout = LAYOUTS[msg]
    sample = {
        "version": 1,
        "wifi": 1,
        "cloud": 0,
        "seq": 0xDEADBEEF,
        "port": 7123,
        "status": 0,
        "host_port": 40000,
        "listener": 3,
        "ip": b"\x7f\x00\x00\x01",
        "consumed": 512,
    }
    values = {n: sample[n] for n in layout.names}
    if layout.tail:
        values[layout.tail] = "multi-server" if layout.text else b"GET / HTTP/1.1\r\n"
    (frame,) = Decoder().feed(pack(msg, 20, **values))
    got = unpack(frame)
    assert got.pop("conn") == 20
    assert got == values


def test_bad_inputs_raise():
    with pytest.raises(LinkError):
        encode(Msg.DATA, 16, b"x" * (MAX_PAYLOAD + 1))
    with pytest.raises(LinkError):
        pack(Msg.LINK, wifi=1)
    with pytest.raises(LinkError):
        pack(Msg.LISTEN, port=70000)
    with pytest.raises(LinkError):
        unpack(Frame(Msg.PING, 0, b"\x01"))
    with pytest.raises(LinkError):
        unpack(Frame(0x7E, 0, b""))
