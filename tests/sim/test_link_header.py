"""The link protocol is written twice, once per side: firmware/platform/include/link.h (the
device) and photondbg/sim/link.py (the bridge). This test reads the header and pins every
shared constant to the Python one, so neither side can drift alone."""

from __future__ import annotations

import re

from photondbg import paths
from photondbg.sim import link

INCLUDE = paths.FIRMWARE / "platform" / "include"


def c_enum(text: str, name: str) -> dict[str, int]:
    body = re.search(rf"enum\s+{name}\s*\{{(.*?)\}}", text, re.S)
    assert body, f"enum {name} not found"
    return {k: int(v, 0) for k, v in re.findall(r"(\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)", body.group(1))}


def c_defines(text: str) -> dict[str, int]:
    return {
        k: int(v, 0)
        for k, v in re.findall(r"^#define\s+(\w+)\s+\(?(-?(?:0x[0-9A-Fa-f]+|\d+))\)?", text, re.M)
    }


def test_message_types_match():
    enum = c_enum((INCLUDE / "link.h").read_text(), "link_msg")
    assert {k.removeprefix("MSG_"): v for k, v in enum.items()} == {
        m.name: m.value for m in link.Msg
    }


def test_framing_constants_match():
    d = c_defines((INCLUDE / "link.h").read_text())
    assert d["LINK_PROTOCOL_VERSION"] == link.PROTOCOL_VERSION
    assert d["LINK_MAX_PAYLOAD"] == link.MAX_PAYLOAD
    assert d["LINK_WINDOW"] == link.WINDOW
    assert bytes([d["LINK_SYNC0"], d["LINK_SYNC1"]]) == link.SYNC


def test_send_buffer_full_matches_the_socket_layer():
    d = c_defines((INCLUDE / "socket_hal.h").read_text())
    assert d["SOCKET_BUFFER_FULL"] == link.SEND_BUFFER_FULL
