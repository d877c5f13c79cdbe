"""The WiFi access point the simulated Photon sees, as data: cut kinds and seeded delays.

Two ways to lose the network, after the story in DESIGN §1:

- ``down``   the AP loses power. Nothing is forwarded either way, no new connection is
             accepted, TCP peers time out. After a detection delay the device is told
             ``LINK wifi=0`` (it disposes every socket). When power returns the AP boots,
             then the device re-associates (``LINK wifi=1 cloud=1``).
- ``uplink`` the AP's Ethernet cable is pulled. The device stays associated (``wifi=1``), the
             cloud is gone (``cloud=0``), LAN traffic still flows. The device gives up on the
             cloud after its own time-out and sends ``NET_RESET``; the bridge then drops its
             connections, says ``wifi=0``, and re-associates after a delay.

Delays are seconds (the real ones are minutes), drawn from a seeded ``random.Random`` so a
campaign's schedule is reproducible.
"""

from __future__ import annotations

import random
from enum import Enum


class Cut(str, Enum):
    DOWN = "down"
    UPLINK = "uplink"


CUT_KINDS = tuple(c.value for c in Cut)

# name: (min s, max s, what it models)
DELAYS: dict[str, tuple[float, float, str]] = {
    "down_detect": (0.3, 1.0, "device notices the AP is gone (beacon loss) -> LINK wifi=0"),
    "ap_boot": (0.4, 1.2, "AP powers up and the device re-associates -> LINK wifi=1"),
    "cloud_detect": (0.05, 0.3, "cloud keep-alive fails after the cable is pulled -> cloud=0"),
    "cloud_return": (0.1, 0.5, "cloud handshake after the cable is back -> cloud=1"),
    "reassociate": (0.4, 1.2, "WiFi reset after NET_RESET until the device is associated again"),
}


class Delays:
    """Seeded delays; ``scale`` stretches every range (1.0 = the sim's seconds)."""

    def __init__(
        self,
        seed: int | None = 0,
        scale: float = 1.0,
        table: dict[str, tuple[float, float, str]] | None = None,
    ):
        self.rng = random.Random(seed)
        self.scale = scale
        self.table = dict(table or DELAYS)

    def draw(self, name: str) -> float:
        lo, hi, _ = self.table[name]
        return self.rng.uniform(lo, hi) * self.scale


def parse_cut(kind: str) -> Cut:
    try:
        return Cut(kind)
    except ValueError:
        from photondbg.errors import UsageError

        raise UsageError(
            f"unknown cut kind {kind!r} (choose from {', '.join(CUT_KINDS)})"
        ) from None
